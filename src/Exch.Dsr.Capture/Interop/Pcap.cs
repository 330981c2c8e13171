using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

/// <summary>
/// libpcap imports (pcap(3PCAP)), named Pcap so it does not collide with the Exch.Dsr.Capture.LibPcap namespace; resolved to libpcap.so.0.8 / .so.1 / .so by <see cref="Libraries"/>.
/// Every import takes the raw pcap_t*: callers hold a reference on <see cref="SafePcapHandle"/> while they use it.
/// </summary>
internal static unsafe partial class Pcap
{
    public const int PCAP_ERRBUF_SIZE = 256;
    public const uint PCAP_NETMASK_UNKNOWN = 0xffffffff;
    public const int DLT_EN10MB = 1;

    static Pcap() => Libraries.EnsureResolver();

    /// <summary>pcap_direction_t.</summary>
    public enum Direction
    {
        PCAP_D_INOUT = 0,
        PCAP_D_IN = 1,
        PCAP_D_OUT = 2,
    }

    /// <summary>struct pcap_pkthdr on Linux x86-64: 24 bytes (struct timeval, caplen at 16, len at 20).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PcapPktHdr
    {
        public long tv_sec;
        public long tv_usec;
        public uint caplen;
        public uint len;
    }

    /// <summary>struct pcap_stat on Linux: 12 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PcapStat
    {
        public uint ps_recv;
        public uint ps_drop;
        public uint ps_ifdrop;
    }

    /// <summary>struct bpf_program: 16 bytes (bf_len, then the instruction pointer at 8).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BpfProgram
    {
        public uint bf_len;
        public nint bf_insns;
    }

    /// <summary>https://www.tcpdump.org/manpages/pcap_create.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Create(string source, byte* errorBuffer);

    /// <summary>https://www.tcpdump.org/manpages/pcap_set_snaplen.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_set_snaplen")]
    public static partial int SetSnapLen(nint pcap, int snapLength);

    /// <summary>https://www.tcpdump.org/manpages/pcap_set_promisc.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_set_promisc")]
    public static partial int SetPromisc(nint pcap, int promisc);

    /// <summary>https://www.tcpdump.org/manpages/pcap_set_immediate_mode.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_set_immediate_mode")]
    public static partial int SetImmediateMode(nint pcap, int immediate);

    /// <summary>https://www.tcpdump.org/manpages/pcap_set_buffer_size.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_set_buffer_size")]
    public static partial int SetBufferSize(nint pcap, int bytes);

    /// <summary>https://www.tcpdump.org/manpages/pcap_set_timeout.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_set_timeout")]
    public static partial int SetTimeout(nint pcap, int milliseconds);

    /// <summary>https://www.tcpdump.org/manpages/pcap_activate.3pcap.html — 0, a warning (&gt; 0) or an error (&lt; 0).</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_activate")]
    public static partial int Activate(nint pcap);

    /// <summary>https://www.tcpdump.org/manpages/pcap_setdirection.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_setdirection")]
    public static partial int SetDirection(nint pcap, Direction direction);

    /// <summary>https://www.tcpdump.org/manpages/pcap_datalink.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_datalink")]
    public static partial int DataLink(nint pcap);

    /// <summary>https://www.tcpdump.org/manpages/pcap_compile.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_compile", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Compile(nint pcap, BpfProgram* program, string filter, int optimize, uint netmask);

    /// <summary>https://www.tcpdump.org/manpages/pcap_setfilter.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_setfilter")]
    public static partial int SetFilter(nint pcap, BpfProgram* program);

    /// <summary>https://www.tcpdump.org/manpages/pcap_freecode.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_freecode")]
    public static partial void FreeCode(BpfProgram* program);

    /// <summary>https://www.tcpdump.org/manpages/pcap_setnonblock.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_setnonblock")]
    public static partial int SetNonBlock(nint pcap, int nonBlock, byte* errorBuffer);

    /// <summary>https://www.tcpdump.org/manpages/pcap_get_selectable_fd.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_get_selectable_fd")]
    public static partial int GetSelectableFd(nint pcap);

    /// <summary>
    /// https://www.tcpdump.org/manpages/pcap_dispatch.3pcap.html — the callback is
    /// void (*)(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes).
    /// </summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_dispatch")]
    public static partial int Dispatch(nint pcap, int count, delegate* unmanaged<byte*, PcapPktHdr*, byte*, void> callback, byte* user);

    /// <summary>https://www.tcpdump.org/manpages/pcap_inject.3pcap.html — errno is that of the failed send(2).</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_inject", SetLastError = true)]
    public static partial int Inject(nint pcap, byte* frame, nuint length);

    /// <summary>https://www.tcpdump.org/manpages/pcap_stats.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_stats")]
    public static partial int Stats(nint pcap, PcapStat* stats);

    /// <summary>https://www.tcpdump.org/manpages/pcap_geterr.3pcap.html — valid until the next call on the handle.</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_geterr")]
    public static partial byte* GetErr(nint pcap);

    /// <summary>https://www.tcpdump.org/manpages/pcap_statustostr.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_statustostr")]
    public static partial byte* StatusToStr(int status);

    /// <summary>https://www.tcpdump.org/manpages/pcap_lib_version.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_lib_version")]
    public static partial byte* LibVersion();

    /// <summary>https://www.tcpdump.org/manpages/pcap_close.3pcap.html</summary>
    [LibraryImport(Libraries.LibPcap, EntryPoint = "pcap_close")]
    public static partial void Close(nint pcap);

    public static string ErrorText(nint pcap) => Marshal.PtrToStringUTF8((nint)GetErr(pcap)) ?? "(no message)";

    public static string StatusText(int status) => Marshal.PtrToStringUTF8((nint)StatusToStr(status)) ?? $"status {status}";
}

/// <summary>Values returned by pcap_activate and other calls (pcap/pcap.h).</summary>
internal enum PcapStatus
{
    PCAP_WARNING_TSTAMP_TYPE_NOTSUP = 3,
    PCAP_WARNING_PROMISC_NOTSUP = 2,
    PCAP_WARNING = 1,
    Success = 0,
    PCAP_ERROR = -1,
    PCAP_ERROR_BREAK = -2,
    PCAP_ERROR_NOT_ACTIVATED = -3,
    PCAP_ERROR_ACTIVATED = -4,
    PCAP_ERROR_NO_SUCH_DEVICE = -5,
    PCAP_ERROR_RFMON_NOTSUP = -6,
    PCAP_ERROR_NOT_RFMON = -7,
    PCAP_ERROR_PERM_DENIED = -8,
    PCAP_ERROR_IFACE_NOT_UP = -9,
    PCAP_ERROR_CANTSET_TSTAMP_TYPE = -10,
    PCAP_ERROR_PROMISC_PERM_DENIED = -11,
    PCAP_ERROR_TSTAMP_PRECISION_NOTSUP = -12,
}

/// <summary>A pcap_t*, closed with pcap_close after its last user (a receive in progress) released it.</summary>
internal sealed class SafePcapHandle : SafeHandle
{
    public SafePcapHandle(nint pcap)
        : base(0, ownsHandle: true) => SetHandle(pcap);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Pcap.Close(handle);
        return true;
    }
}
