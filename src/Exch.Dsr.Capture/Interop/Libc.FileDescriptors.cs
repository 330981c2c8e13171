using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;

    /// <summary>https://man7.org/linux/man-pages/man2/open.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    /// <summary>https://man7.org/linux/man-pages/man2/close.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>https://man7.org/linux/man-pages/man2/read.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, void* buffer, nuint count);

    /// <summary>https://man7.org/linux/man-pages/man2/write.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, void* buffer, nuint count);
}
