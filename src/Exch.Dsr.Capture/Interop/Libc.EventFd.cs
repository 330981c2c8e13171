using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>https://man7.org/linux/man-pages/man2/eventfd.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);
}
