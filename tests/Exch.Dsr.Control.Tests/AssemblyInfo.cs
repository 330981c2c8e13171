using System.Runtime.Versioning;

// The control socket is a Unix socket with Unix modes and groups; these tests check them.
[assembly: SupportedOSPlatform("linux")]
