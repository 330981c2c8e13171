using System.Runtime.CompilerServices;

// The struct layout and libc tests check internal interop types against the kernel's headers.
[assembly: InternalsVisibleTo("Exch.Dsr.Capture.Tests")]
