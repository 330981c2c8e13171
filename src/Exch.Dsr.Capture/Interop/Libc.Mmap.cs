using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_POPULATE = 0x8000;
    public const int MADV_HUGEPAGE = 14;

    /// <summary>What mmap returns on failure: (void*)-1, never null.</summary>
    public static readonly nint MAP_FAILED = -1;

    /// <summary>https://man7.org/linux/man-pages/man2/mmap.2.html — fails with <see cref="MAP_FAILED"/>, not null.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    /// <summary>https://man7.org/linux/man-pages/man2/munmap.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    /// <summary>https://man7.org/linux/man-pages/man2/madvise.2.html — address page-aligned; 0 or -1 with errno.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);
}
