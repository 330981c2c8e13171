using System.Runtime.CompilerServices;

// Tests check the byte layouts of the table entries, which stay internal.
[assembly: InternalsVisibleTo("Exch.Dsr.Engine.Tests")]
