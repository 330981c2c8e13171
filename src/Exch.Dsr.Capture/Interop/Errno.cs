using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

/// <summary>Linux x86-64 errno values this assembly sorts on (asm-generic/errno-base.h, asm-generic/errno.h).</summary>
internal enum Errno
{
    SUCCESS = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    ENODEV = 19,
    EINVAL = 22,
    EMFILE = 24,
    ENOSPC = 28,
    EPIPE = 32,
    ENOTSOCK = 88,
    EMSGSIZE = 90,
    ENOPROTOOPT = 92,
    EPROTONOSUPPORT = 93,
    EOPNOTSUPP = 95,
    EAFNOSUPPORT = 97,
    ENETDOWN = 100,
    ENETUNREACH = 101,
    ENOBUFS = 105,
}

internal static class ErrnoExtensions
{
    /// <summary>errno of the last P/Invoke made with SetLastError = true on this thread.</summary>
    public static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    /// <summary>"ENOBUFS (No buffer space available)": the name when known, and the C library's text.</summary>
    public static string Describe(this Errno errno)
    {
        string text = Marshal.GetPInvokeErrorMessage((int)errno);
        return Enum.IsDefined(errno) ? $"{errno} ({text})" : $"errno {(int)errno} ({text})";
    }
}
