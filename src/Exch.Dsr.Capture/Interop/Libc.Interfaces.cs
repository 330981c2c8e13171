using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

internal static partial class Libc
{
    public const int IFNAMSIZ = 16;
    public const ulong SIOCGIFFLAGS = 0x8913;
    public const ulong SIOCGIFMTU = 0x8921;
    public const ulong SIOCGIFHWADDR = 0x8927;
    public const short IFF_UP = 0x1;
    public const short IFF_RUNNING = 0x40;

    /// <summary>
    /// struct ifreq (net/if.h): 40 bytes, the name in the first 16, a 24-byte union after it (ifr_flags and ifr_mtu
    /// at 16, ifr_hwaddr a struct sockaddr at 16 whose sa_data starts at 18).
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public unsafe struct IfReq
    {
        public fixed byte ifr_name[IFNAMSIZ];
        public fixed byte ifr_ifru[24];
    }

    /// <summary>https://man7.org/linux/man-pages/man3/if_nametoindex.3.html — 0 when there is no such interface.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial uint IfNameToIndex(string name);

    /// <summary>https://man7.org/linux/man-pages/man7/netdevice.7.html (SIOCGIF* on any socket of the namespace)</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int Ioctl(int fd, ulong request, IfReq* ifr);
}
