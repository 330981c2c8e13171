using System.Runtime.InteropServices;

namespace Exch.Dsr.Control.Interop;

/// <summary>The few libc calls the control side needs that .NET has no managed form of.</summary>
internal static partial class Libc
{
    private const string Library = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1;
    public const int S_IFMT = 0xF000;
    public const int S_IFSOCK = 0xC000;

    /// <summary>
    /// struct statx (linux/stat.h): 256 bytes on every architecture; only the mode (a u16 at offset 28) is read here.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(28)]
        public ushort Mode;
    }

    /// <summary>https://man7.org/linux/man-pages/man2/statx.2.html</summary>
    [LibraryImport(Library, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int StatxPath(int dirfd, string path, int flags, uint mask, out Statx result);

    public const int SIGHUP = 1;
    public const nint SIG_DFL = 0;

    /// <summary>https://man7.org/linux/man-pages/man2/signal.2.html — returns the previous disposition.</summary>
    [LibraryImport(Library, EntryPoint = "signal", SetLastError = true)]
    public static partial nint Signal(int signal, nint handler);

    /// <summary>https://man7.org/linux/man-pages/man2/chown.2.html — uid -1 leaves the owner as it is.</summary>
    [LibraryImport(Library, EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Chown(string path, int owner, int group);

    /// <summary>
    /// https://man7.org/linux/man-pages/man3/getgrnam.3.html — a pointer to a static struct group, null when there is
    /// no such group. Called once at start-up, so its static buffer is not shared with another thread.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint GetGroupByName(string name);

    /// <summary>struct group: gr_name, gr_passwd (pointers), then gr_gid, a 32-bit gid_t at offset 16 on 64-bit Linux.</summary>
    public const int GroupGidOffset = 16;

    /// <summary>True when <paramref name="path"/> itself (not a link's target) is a Unix socket.</summary>
    public static bool IsSocket(string path) =>
        StatxPath(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, out var status) == 0 && (status.Mode & S_IFMT) == S_IFSOCK;
}
