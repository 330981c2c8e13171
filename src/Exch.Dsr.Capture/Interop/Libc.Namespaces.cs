using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int CLONE_NEWNET = 0x40000000;

    /// <summary>
    /// https://man7.org/linux/man-pages/man2/setns.2.html — moves the calling thread (not the process) into the
    /// namespace; sockets created afterwards on that thread belong to it for their whole life.
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(int fd, int namespaceType);
}
