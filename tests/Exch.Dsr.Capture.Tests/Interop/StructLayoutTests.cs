using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.Tests.Interop;

/// <summary>
/// The interop structs against the C compiler's view of the kernel and libc headers. The expected numbers were
/// printed with sizeof/offsetof by gcc 12 from /usr/include/linux/if_packet.h, sys/socket.h, sys/uio.h, poll.h and
/// net/if.h on this machine (Linux 6.18, x86-64), and for libpcap from the pcap/pcap.h and pcap/bpf.h definitions
/// (libpcap 1.10). A mismatch means the ring would be walked with wrong offsets: fail loudly here instead.
/// </summary>
public sealed class StructLayoutTests
{
    private static IEnumerable<TestCaseData> Sizes()
    {
        yield return Size<Libc.TPacketReq3>(28, "struct tpacket_req3");
        yield return Size<Libc.TPacketReq>(16, "struct tpacket_req");
        yield return Size<Libc.TPacket2Hdr>(32, "struct tpacket2_hdr");
        yield return Size<Libc.SockFilter>(8, "struct sock_filter");
        yield return Size<Libc.SockFprog>(16, "struct sock_fprog");
        yield return Size<Libc.TPacketBlockDesc>(48, "struct tpacket_block_desc");
        yield return Size<Libc.TPacketHdrV1>(40, "struct tpacket_hdr_v1");
        yield return Size<Libc.TPacket3Hdr>(48, "struct tpacket3_hdr");
        yield return Size<Libc.TPacketHdrVariant1>(12, "struct tpacket_hdr_variant1");
        yield return Size<Libc.SockAddrLl>(20, "struct sockaddr_ll");
        yield return Size<Libc.TPacketStatsV3>(12, "struct tpacket_stats_v3");
        yield return Size<Libc.PacketMreq>(16, "struct packet_mreq");
        yield return Size<Libc.IoVec>(16, "struct iovec");
        yield return Size<Libc.MsgHdr>(56, "struct msghdr");
        yield return Size<Libc.MMsgHdr>(64, "struct mmsghdr");
        yield return Size<Libc.PollFd>(8, "struct pollfd");
        yield return Size<Libc.IfReq>(40, "struct ifreq");
        yield return Size<Pcap.PcapPktHdr>(24, "struct pcap_pkthdr");
        yield return Size<Pcap.PcapStat>(12, "struct pcap_stat");
        yield return Size<Pcap.BpfProgram>(16, "struct bpf_program");
    }

    private static IEnumerable<TestCaseData> Offsets()
    {
        yield return Offset<Libc.TPacket2Hdr>("tp_status", 0);
        yield return Offset<Libc.TPacket2Hdr>("tp_len", 4);
        yield return Offset<Libc.TPacket2Hdr>("tp_snaplen", 8);
        yield return Offset<Libc.TPacket2Hdr>("tp_mac", 12);
        yield return Offset<Libc.TPacket2Hdr>("tp_net", 14);
        yield return Offset<Libc.TPacket2Hdr>("tp_sec", 16);
        yield return Offset<Libc.TPacket2Hdr>("tp_nsec", 20);
        yield return Offset<Libc.TPacket2Hdr>("tp_vlan_tci", 24);
        yield return Offset<Libc.TPacket2Hdr>("tp_vlan_tpid", 26);
        yield return Offset<Libc.SockFilter>("code", 0);
        yield return Offset<Libc.SockFilter>("jt", 2);
        yield return Offset<Libc.SockFilter>("jf", 3);
        yield return Offset<Libc.SockFilter>("k", 4);
        yield return Offset<Libc.SockFprog>("len", 0);
        yield return Offset<Libc.SockFprog>("filter", 8);
        yield return Offset<Libc.TPacketReq3>("tp_block_size", 0);
        yield return Offset<Libc.TPacketReq3>("tp_block_nr", 4);
        yield return Offset<Libc.TPacketReq3>("tp_frame_size", 8);
        yield return Offset<Libc.TPacketReq3>("tp_frame_nr", 12);
        yield return Offset<Libc.TPacketReq3>("tp_retire_blk_tov", 16);
        yield return Offset<Libc.TPacketReq3>("tp_sizeof_priv", 20);
        yield return Offset<Libc.TPacketReq3>("tp_feature_req_word", 24);

        yield return Offset<Libc.TPacketBlockDesc>("version", 0);
        yield return Offset<Libc.TPacketBlockDesc>("offset_to_priv", 4);
        yield return Offset<Libc.TPacketBlockDesc>("hdr", 8);
        yield return Offset<Libc.TPacketHdrV1>("block_status", 0);
        yield return Offset<Libc.TPacketHdrV1>("num_pkts", 4);
        yield return Offset<Libc.TPacketHdrV1>("offset_to_first_pkt", 8);
        yield return Offset<Libc.TPacketHdrV1>("blk_len", 12);
        yield return Offset<Libc.TPacketHdrV1>("seq_num", 16);
        yield return Offset<Libc.TPacketHdrV1>("ts_first_pkt", 24);
        yield return Offset<Libc.TPacketHdrV1>("ts_last_pkt", 32);

        yield return Offset<Libc.TPacket3Hdr>("tp_next_offset", 0);
        yield return Offset<Libc.TPacket3Hdr>("tp_sec", 4);
        yield return Offset<Libc.TPacket3Hdr>("tp_nsec", 8);
        yield return Offset<Libc.TPacket3Hdr>("tp_snaplen", 12);
        yield return Offset<Libc.TPacket3Hdr>("tp_len", 16);
        yield return Offset<Libc.TPacket3Hdr>("tp_status", 20);
        yield return Offset<Libc.TPacket3Hdr>("tp_mac", 24);
        yield return Offset<Libc.TPacket3Hdr>("tp_net", 26);
        yield return Offset<Libc.TPacket3Hdr>("hv1", 28);
        yield return Offset<Libc.TPacket3Hdr>("tp_padding", 40);
        yield return Offset<Libc.TPacketHdrVariant1>("tp_rxhash", 0);   // tpacket3_hdr.hv1.tp_rxhash = 28
        yield return Offset<Libc.TPacketHdrVariant1>("tp_vlan_tci", 4); // = 32
        yield return Offset<Libc.TPacketHdrVariant1>("tp_vlan_tpid", 8); // = 36
        yield return Offset<Libc.TPacketHdrVariant1>("tp_padding", 10); // = 38

        yield return Offset<Libc.SockAddrLl>("sll_family", 0);
        yield return Offset<Libc.SockAddrLl>("sll_protocol", 2);
        yield return Offset<Libc.SockAddrLl>("sll_ifindex", 4);
        yield return Offset<Libc.SockAddrLl>("sll_hatype", 8);
        yield return Offset<Libc.SockAddrLl>("sll_pkttype", 10);
        yield return Offset<Libc.SockAddrLl>("sll_halen", 11);
        yield return Offset<Libc.SockAddrLl>("sll_addr", 12);

        yield return Offset<Libc.TPacketStatsV3>("tp_packets", 0);
        yield return Offset<Libc.TPacketStatsV3>("tp_drops", 4);
        yield return Offset<Libc.TPacketStatsV3>("tp_freeze_q_cnt", 8);

        yield return Offset<Libc.IoVec>("iov_base", 0);
        yield return Offset<Libc.IoVec>("iov_len", 8);
        yield return Offset<Libc.MsgHdr>("msg_name", 0);
        yield return Offset<Libc.MsgHdr>("msg_namelen", 8);
        yield return Offset<Libc.MsgHdr>("msg_iov", 16);
        yield return Offset<Libc.MsgHdr>("msg_iovlen", 24);
        yield return Offset<Libc.MsgHdr>("msg_control", 32);
        yield return Offset<Libc.MsgHdr>("msg_controllen", 40);
        yield return Offset<Libc.MsgHdr>("msg_flags", 48);
        yield return Offset<Libc.MMsgHdr>("msg_hdr", 0);
        yield return Offset<Libc.MMsgHdr>("msg_len", 56);
        yield return Offset<Libc.PollFd>("fd", 0);
        yield return Offset<Libc.PollFd>("events", 4);
        yield return Offset<Libc.PollFd>("revents", 6);

        yield return Offset<Pcap.PcapPktHdr>("caplen", 16);
        yield return Offset<Pcap.PcapPktHdr>("len", 20);
        yield return Offset<Pcap.PcapStat>("ps_drop", 4);
        yield return Offset<Pcap.PcapStat>("ps_ifdrop", 8);
        yield return Offset<Pcap.BpfProgram>("bf_insns", 8);
    }

    [TestCaseSource(nameof(Sizes))]
    public void Size_matches_the_kernel_header(int actual, int expected) => Assert.That(actual, Is.EqualTo(expected));

    [TestCaseSource(nameof(Offsets))]
    public void Field_offset_matches_the_kernel_header(int actual, int expected) => Assert.That(actual, Is.EqualTo(expected));

    [Test]
    public void The_frame_area_starts_after_the_header_and_sockaddr_ll() =>
        Assert.That(Libc.TPACKET3_HDRLEN, Is.EqualTo(((Unsafe.SizeOf<Libc.TPacket3Hdr>() + 15) & ~15) + Unsafe.SizeOf<Libc.SockAddrLl>()));

    private static TestCaseData Size<T>(int expected, string cName)
        where T : unmanaged =>
        new TestCaseData(Unsafe.SizeOf<T>(), expected).SetName($"sizeof({cName}) = {expected}");

    private static TestCaseData Offset<T>(string field, int expected) =>
        new TestCaseData(Marshal.OffsetOf<T>(field).ToInt32(), expected).SetName($"offsetof({typeof(T).Name}, {field}) = {expected}");
}
