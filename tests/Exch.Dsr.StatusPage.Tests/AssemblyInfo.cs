using System.Runtime.Versioning;

// The tests write password files with Unix modes, as an appliance keeps them.
[assembly: SupportedOSPlatform("linux")]
