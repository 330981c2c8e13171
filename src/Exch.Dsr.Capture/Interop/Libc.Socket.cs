using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int AF_PACKET = 17;
    public const int AF_INET = 2;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SO_RCVBUF = 8;
    public const int SO_RCVBUFFORCE = 33;
    public const int MSG_DONTWAIT = 0x40;

    /// <summary>struct iovec (sys/uio.h): 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct IoVec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    /// <summary>struct msghdr (sys/socket.h): 56 bytes on x86-64.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct MsgHdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public IoVec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    /// <summary>struct mmsghdr (sys/socket.h): 64 bytes; msg_len (bytes sent) at 56.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr msg_hdr;
        public uint msg_len;
    }

    /// <summary>https://man7.org/linux/man-pages/man2/socket.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    /// <summary>https://man7.org/linux/man-pages/man2/bind.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
    public static unsafe partial int Bind(int fd, void* address, uint addressLength);

    /// <summary>https://man7.org/linux/man-pages/man2/setsockopt.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
    public static unsafe partial int SetSockOpt(int fd, int level, int name, void* value, uint valueLength);

    /// <summary>https://man7.org/linux/man-pages/man2/getsockopt.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
    public static unsafe partial int GetSockOpt(int fd, int level, int name, void* value, uint* valueLength);

    /// <summary>https://man7.org/linux/man-pages/man2/sendmmsg.2.html — returns how many messages were sent.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmmsg", SetLastError = true)]
    public static unsafe partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    /// <summary>https://man7.org/linux/man-pages/man2/send.2.html</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
    public static unsafe partial nint Send(int fd, void* buffer, nuint length, int flags);

    /// <summary>setsockopt with an int value; 0 or -1 as the call itself.</summary>
    public static unsafe int SetSockOptInt(int fd, int level, int name, int value) =>
        SetSockOpt(fd, level, name, &value, sizeof(int));
}
