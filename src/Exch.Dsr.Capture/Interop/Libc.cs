namespace Exch.Dsr.Capture.Interop;

/// <summary>glibc imports, one file per call family (Libc.Socket.cs, Libc.Mmap.cs, ...).</summary>
internal static partial class Libc
{
    // An explicit static constructor runs before the first import of this class is bound, so the resolver that
    // maps "libc" to libc.so.6 is always in place first.
    static Libc() => Libraries.EnsureResolver();
}
