using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

/// <summary>
/// AF_PACKET socket options and ring structures from linux/if_packet.h, packet(7), and
/// Documentation/networking/packet_mmap.rst. Sizes and offsets were verified with gcc against this machine's
/// /usr/include/linux/if_packet.h (kernel 6.18, x86-64); PacketStructLayoutTests pins them.
/// </summary>
internal static partial class Libc
{
    public const int SOL_PACKET = 263;
    public const ushort ETH_P_ALL = 0x0003;
    public const ushort ETH_P_8021Q = 0x8100;

    public const int PACKET_ADD_MEMBERSHIP = 1;
    public const ushort PACKET_MR_PROMISC = 1;
    public const int PACKET_RX_RING = 5;
    public const int PACKET_STATISTICS = 6;
    public const int PACKET_VERSION = 10;
    public const int PACKET_RESERVE = 12;
    public const int PACKET_FANOUT = 18;
    public const int PACKET_QDISC_BYPASS = 20;
    public const int PACKET_FANOUT_DATA = 22;
    public const int PACKET_IGNORE_OUTGOING = 23;

    public const int PACKET_FANOUT_HASH = 0;
    public const int PACKET_FANOUT_CBPF = 6;

    /// <summary>
    /// Newer than Debian 12's headers (linux/if_packet.h of kernel 6.x): a fanout group has its own packet hook, so the
    /// member sockets' PACKET_IGNORE_OUTGOING no longer applies; the group must be told with this flag.
    /// </summary>
    public const int PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000;
    public const int PACKET_FANOUT_FLAG_DEFRAG = 0x8000;

    public const int TPACKET_V2 = 1;
    public const int TPACKET_V3 = 2;

    public const uint TP_STATUS_KERNEL = 0;
    public const uint TP_STATUS_USER = 1 << 0;
    public const uint TP_STATUS_LOSING = 1 << 2;
    public const uint TP_STATUS_VLAN_VALID = 1 << 4;
    public const uint TP_STATUS_BLK_TMO = 1 << 5;
    public const uint TP_STATUS_VLAN_TPID_VALID = 1 << 6;

    /// <summary>TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll): where the frame area may start.</summary>
    public const int TPACKET3_HDRLEN = 48 + 20;

    /// <summary>TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + sizeof(struct sockaddr_ll).</summary>
    public const int TPACKET2_HDRLEN = 32 + 20;

    /// <summary>TPACKET_ALIGNMENT: frame sizes and the kernel's header offsets are multiples of it.</summary>
    public const int TPACKET_ALIGNMENT = 16;

    /// <summary>struct sockaddr_ll: 20 bytes. sll_protocol is big-endian.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct SockAddrLl
    {
        public ushort sll_family;
        public ushort sll_protocol;
        public int sll_ifindex;
        public ushort sll_hatype;
        public byte sll_pkttype;
        public byte sll_halen;
        public fixed byte sll_addr[8];
    }

    /// <summary>struct tpacket_req3: 28 bytes, the PACKET_RX_RING argument for TPACKET_V3.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketReq3
    {
        public uint tp_block_size;
        public uint tp_block_nr;
        public uint tp_frame_size;
        public uint tp_frame_nr;
        public uint tp_retire_blk_tov;
        public uint tp_sizeof_priv;
        public uint tp_feature_req_word;
    }

    /// <summary>struct tpacket_req: 16 bytes, the PACKET_RX_RING argument for TPACKET_V2.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketReq
    {
        public uint tp_block_size;
        public uint tp_block_nr;
        public uint tp_frame_size;
        public uint tp_frame_nr;
    }

    /// <summary>struct tpacket2_hdr: 32 bytes, at the start of every frame slot of a TPACKET_V2 ring; tp_mac is relative to it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct TPacket2Hdr
    {
        public uint tp_status;
        public uint tp_len;
        public uint tp_snaplen;
        public ushort tp_mac;
        public ushort tp_net;
        public uint tp_sec;
        public uint tp_nsec;
        public ushort tp_vlan_tci;
        public ushort tp_vlan_tpid;
        public fixed byte tp_padding[4];
    }

    /// <summary>struct sock_filter (linux/filter.h): 8 bytes, one classic BPF instruction.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockFilter
    {
        public ushort code;
        public byte jt;
        public byte jf;
        public uint k;
    }

    /// <summary>struct sock_fprog: 16 bytes on x86-64 (len, padding, pointer), the PACKET_FANOUT_DATA argument for PACKET_FANOUT_CBPF.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct SockFprog
    {
        public ushort len;
        public SockFilter* filter;
    }

    /// <summary>struct tpacket_bd_ts: 8 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketBdTs
    {
        public uint ts_sec;
        public uint ts_nsec;
    }

    /// <summary>struct tpacket_hdr_v1: 40 bytes; seq_num is an __aligned_u64 at 16.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketHdrV1
    {
        public uint block_status;
        public uint num_pkts;
        public uint offset_to_first_pkt;
        public uint blk_len;
        public ulong seq_num;
        public TPacketBdTs ts_first_pkt;
        public TPacketBdTs ts_last_pkt;
    }

    /// <summary>struct tpacket_block_desc: 48 bytes, at the start of every block of a TPACKET_V3 ring.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketBlockDesc
    {
        public uint version;
        public uint offset_to_priv;
        public TPacketHdrV1 hdr;
    }

    /// <summary>struct tpacket_hdr_variant1: 12 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketHdrVariant1
    {
        public uint tp_rxhash;
        public uint tp_vlan_tci;
        public ushort tp_vlan_tpid;
        public ushort tp_padding;
    }

    /// <summary>struct tpacket3_hdr: 48 bytes, before every frame in a block; tp_mac is relative to this header.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct TPacket3Hdr
    {
        public uint tp_next_offset;
        public uint tp_sec;
        public uint tp_nsec;
        public uint tp_snaplen;
        public uint tp_len;
        public uint tp_status;
        public ushort tp_mac;
        public ushort tp_net;
        public TPacketHdrVariant1 hv1;
        public fixed byte tp_padding[8];
    }

    /// <summary>struct tpacket_stats_v3: 12 bytes. Reading it with getsockopt resets the kernel's counters.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TPacketStatsV3
    {
        public uint tp_packets;
        public uint tp_drops;
        public uint tp_freeze_q_cnt;
    }

    /// <summary>struct packet_mreq: 16 bytes, the PACKET_ADD_MEMBERSHIP argument.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct PacketMreq
    {
        public int mr_ifindex;
        public ushort mr_type;
        public ushort mr_alen;
        public fixed byte mr_address[8];
    }
}
