using System.Buffers.Binary;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Frames;

/// <summary>Every malformed reason, produced by damaging a valid frame, classified by the engine and counted.</summary>
public sealed class MalformedFrameTests
{
    private static byte[] Syn() => TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn);

    private static byte[] Syn6() => TestFrames.Tcp("2001:db8::10", 40000, "2001:db8::1", 443, TcpFlags.Syn);

    private static byte[] Udp() => TestFrames.Udp("192.0.2.10", 5000, "198.51.100.1", 443, new byte[16]);

    private static byte[] With(byte[] frame, Action<byte[]> change)
    {
        change(frame);
        return frame;
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(Syn()[..13], MalformedReason.TruncatedEthernet).SetName("13 bytes: truncated Ethernet");
        yield return new TestCaseData(TestFrames.Tcp("192.0.2.10", 1, "198.51.100.1", 443, TcpFlags.Syn, outer: VlanTag.Customer(5))[..16], MalformedReason.TruncatedVlan).SetName("tag without next EtherType: truncated VLAN");
        yield return new TestCaseData(
            (byte[])[.. Syn()[..12], 0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x81, 0, 0, 4, 0x81, 0, 0, 5, 0x08, 0x00, .. Syn()[14..]],
            MalformedReason.TooManyVlanTags).SetName("five tags: too many VLAN tags");
        yield return new TestCaseData(TestFrames.ArpRequest("198.51.100.254", "198.51.100.1")[..30], MalformedReason.TruncatedArp).SetName("short ARP");
        yield return new TestCaseData(Syn()[..(14 + 19)], MalformedReason.TruncatedIPv4).SetName("19-byte IPv4 header");
        yield return new TestCaseData(Syn()[..(14 + 30)], MalformedReason.TruncatedIPv4).SetName("IPv4 shorter than total length");
        yield return new TestCaseData(With(Syn(), f => f[14] = 0x65), MalformedReason.BadIPv4Version).SetName("version 6 in IPv4 EtherType");
        yield return new TestCaseData(With(Syn(), f => f[14] = 0x44), MalformedReason.BadIPv4HeaderLength).SetName("IHL 4");
        yield return new TestCaseData(With(Syn(), f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), 19)), MalformedReason.BadIPv4TotalLength).SetName("total length below header");
        yield return new TestCaseData(Syn6()[..(14 + 39)], MalformedReason.TruncatedIPv6).SetName("39-byte IPv6 header");
        yield return new TestCaseData(Syn6()[..(14 + 50)], MalformedReason.TruncatedIPv6).SetName("IPv6 shorter than payload length");
        yield return new TestCaseData(With(Syn6(), f => f[14] = 0x40), MalformedReason.BadIPv6Version).SetName("version 4 in IPv6 EtherType");
        yield return new TestCaseData(
            TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.DestinationOptions, [.. TestFrames.OptionsHeader(IpProtocols.HopByHop), .. TestFrames.OptionsHeader(IpProtocols.Tcp)]),
            MalformedReason.BadIPv6ExtensionHeader).SetName("hop-by-hop not first");
        yield return new TestCaseData(
            TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.Routing, With(TestFrames.OptionsHeader(IpProtocols.Tcp), h => h[1] = 5)),
            MalformedReason.BadIPv6ExtensionHeader).SetName("extension header longer than the packet");
        yield return new TestCaseData(
            TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.Fragment, new byte[4]),
            MalformedReason.BadIPv6ExtensionHeader).SetName("truncated fragment header");
        yield return new TestCaseData(Shorten(Syn(), 10), MalformedReason.TruncatedTcp).SetName("10-byte TCP header");
        yield return new TestCaseData(With(Syn(), f => f[14 + 20 + 12] = 4 << 4), MalformedReason.BadTcpDataOffset).SetName("data offset 4");
        yield return new TestCaseData(With(Syn(), f => f[14 + 20 + 12] = 8 << 4), MalformedReason.TruncatedTcp).SetName("data offset past the segment");
        yield return new TestCaseData(Shorten(Udp(), 20), MalformedReason.TruncatedUdp).SetName("4-byte UDP header");
        yield return new TestCaseData(With(Udp(), f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14 + 20 + 4), 7)), MalformedReason.BadUdpLength).SetName("UDP length 7");
        yield return new TestCaseData(With(Udp(), f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14 + 20 + 4), 100)), MalformedReason.TruncatedUdp).SetName("UDP length past the packet");
        yield return new TestCaseData(Shorten(TestFrames.EchoRequest("192.0.2.10", "198.51.100.1"), 8), MalformedReason.TruncatedIcmp).SetName("4-byte ICMP");
        yield return new TestCaseData(Shorten(TestFrames.NeighborSolicitation("2001:db8::10", "2001:db8::1"), 4), MalformedReason.TruncatedIcmpv6).SetName("short neighbour solicitation");
        var reply = TestFrames.ServerReply("198.51.100.1", 443, "192.0.2.10", 40000);
        yield return new TestCaseData(TestFrames.IcmpError("203.0.113.1", "198.51.100.1", IcmpTypes.DestinationUnreachable, 4, 1400, reply, 19), MalformedReason.TruncatedIcmpQuote).SetName("fragmentation needed quoting 19 bytes");
        yield return new TestCaseData(TestFrames.IcmpError("203.0.113.1", "198.51.100.1", IcmpTypes.TimeExceeded, 0, 0, With(reply, q => q[0] = 0x46), 20), MalformedReason.TruncatedIcmpQuote).SetName("quoted IHL 6 past a 20-byte quote");
        yield return new TestCaseData(TestFrames.IcmpError("203.0.113.1", "198.51.100.1", IcmpTypes.DestinationUnreachable, 4, 1400, With(reply, q => q[0] = 0x44)), MalformedReason.BadIcmpQuote).SetName("quoted IHL 4");
        yield return new TestCaseData(TestFrames.IcmpError("2001:db8::ff", "2001:db8::1", IcmpTypes.V6PacketTooBig, 0, 1280, reply), MalformedReason.BadIcmpQuote).SetName("IPv4 quoted in packet too big");
        yield return new TestCaseData(
            TestFrames.IcmpError("2001:db8::ff", "2001:db8::1", IcmpTypes.V6PacketTooBig, 0, 1280, TestFrames.ServerReply("2001:db8::1", 443, "2001:db8::10", 40000), 39),
            MalformedReason.TruncatedIcmpQuote).SetName("packet too big quoting 39 bytes");
    }

    /// <summary>Removes <paramref name="bytes"/> from the end of the IP packet, fixing the IP length fields.</summary>
    private static byte[] Shorten(byte[] frame, int bytes)
    {
        var f = frame[..^bytes];
        if (f[14] >> 4 == 4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), (ushort)(f.Length - 14));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), (ushort)(f.Length - 14 - 40));
        }

        return f;
    }

    [TestCaseSource(nameof(Cases))]
    public void ClassifiedAndCounted(byte[] frame, MalformedReason expected)
    {
        var lab = new TestLab()
            .Add(TestLab.Service("v4", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443))
            .Add(TestLab.Service("v6", "2001:db8::1", SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        var original = (byte[])frame.Clone();

        var (verdict, decision, output) = lab.Send(frame, 0);

        Assert.That(verdict, Is.EqualTo(ForwardVerdict.Malformed));
        Assert.That(decision.Malformed, Is.EqualTo(expected));
        Assert.That(output, Is.EqualTo(original), "a malformed frame is not modified");
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Malformed(expected), Is.EqualTo(1));
        Assert.That(counters.Verdict(ForwardVerdict.Malformed), Is.EqualTo(1));
    }
}
