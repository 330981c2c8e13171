using System.Buffers.Binary;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Frames;

public sealed class FrameComposerTests
{
    /// <summary>A SYN from 192.0.2.10:40000 to 198.51.100.1:443, TTL 64, ID 0, DF, seq 1000, window 65535, checked with
    /// an independent checksum implementation below.</summary>
    [Test]
    public void TcpIPv4HasValidChecksums()
    {
        var frame = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn, "abc"u8);
        Assert.That(frame.Length, Is.EqualTo(14 + 20 + 20 + 3));
        Assert.That(ReferenceChecksum(frame.AsSpan(14, 20)), Is.Zero);
        var pseudo = new List<byte>();
        pseudo.AddRange(frame.AsSpan(26, 8).ToArray());
        pseudo.AddRange(new byte[] { 0, 6, 0, 23 });
        pseudo.AddRange(frame.AsSpan(34).ToArray());
        Assert.That(ReferenceChecksum([.. pseudo]), Is.Zero);
        Assert.That(frame[14 + 8], Is.EqualTo(64));
        Assert.That(frame[14 + 6], Is.EqualTo(0x40), "DF");
    }

    [Test]
    public void UdpIPv6HasValidChecksum()
    {
        var frame = TestFrames.Udp("2001:db8::10", 5000, "2001:db8::1", 53, "query"u8);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)), Is.EqualTo(EtherTypes.IPv6));
        var pseudo = new List<byte>();
        pseudo.AddRange(frame.AsSpan(22, 32).ToArray());
        pseudo.AddRange(new byte[] { 0, 0, 0, 13, 0, 0, 0, 17 });
        pseudo.AddRange(frame.AsSpan(54).ToArray());
        Assert.That(ReferenceChecksum([.. pseudo]), Is.Zero);
    }

    [Test]
    public void EchoIPv4ChecksumCoversMessage()
    {
        var frame = TestFrames.EchoRequest("192.0.2.10", "198.51.100.1");
        Assert.That(ReferenceChecksum(frame.AsSpan(34)), Is.Zero);
        Assert.That(frame[34], Is.EqualTo(IcmpTypes.EchoRequest));
    }

    [Test]
    public void NeighborSolicitationChecksumIncludesPseudoHeader()
    {
        var frame = TestFrames.NeighborSolicitation("2001:db8::10", "2001:db8::1");
        var pseudo = new List<byte>();
        pseudo.AddRange(frame.AsSpan(22, 32).ToArray());
        pseudo.AddRange(new byte[] { 0, 0, 0, 24, 0, 0, 0, 58 });
        pseudo.AddRange(frame.AsSpan(54).ToArray());
        Assert.That(ReferenceChecksum([.. pseudo]), Is.Zero);
    }

    [Test]
    public void VlanTagsAreWrittenOutermostFirst()
    {
        var frame = TestFrames.Udp("192.0.2.10", 5000, "198.51.100.1", 53, outer: VlanTag.Customer(42));
        Assert.That(frame.AsSpan(12, 6).ToArray(), Is.EqualTo(new byte[] { 0x81, 0x00, 0x00, 42, 0x08, 0x00 }));
    }

    [Test]
    public void ArpReplyAnswersRequestOnItsVlan()
    {
        var l2 = new L2Header(MacAddress.Broadcast, TestAddresses.Router, VlanTag.Customer(7));
        var request = new byte[64];
        Assert.That(FrameComposer.TryComposeArp(request, l2, ArpView.OperationRequest, TestAddresses.Router, TestAddresses.Ip("198.51.100.254"), MacAddress.Zero, TestAddresses.Ip("198.51.100.1"), out var n), Is.True);
        var reply = new byte[64];
        Assert.That(FrameComposer.TryComposeArpReply(reply, request.AsSpan(0, n), TestAddresses.Appliance, out var m), Is.True);

        Assert.That(EthernetView.TryParse(reply.AsSpan(0, m), out var eth, out _), Is.True);
        Assert.That(eth.Destination, Is.EqualTo(TestAddresses.Router));
        Assert.That(eth.Source, Is.EqualTo(TestAddresses.Appliance));
        Assert.That(eth.GetTag(0).VlanId, Is.EqualTo(7));
        Assert.That(ArpView.TryParse(eth.Payload, out var arp, out _), Is.True);
        Assert.That(arp.Operation, Is.EqualTo(ArpView.OperationReply));
        Assert.That(arp.SenderMac, Is.EqualTo(TestAddresses.Appliance));
        Assert.That(arp.SenderIp, Is.EqualTo(TestAddresses.Ip("198.51.100.1")));
        Assert.That(arp.TargetIp, Is.EqualTo(TestAddresses.Ip("198.51.100.254")));
        Assert.That(arp.TargetMac, Is.EqualTo(TestAddresses.Router));
    }

    [Test]
    public void TooSmallBufferIsRefused()
    {
        var buffer = new byte[40];
        Assert.That(FrameComposer.TryComposeTcp(buffer, new L2Header(TestAddresses.Appliance, TestAddresses.Router), new IpHeader(TestAddresses.Ip("192.0.2.1"), TestAddresses.Ip("192.0.2.2")), new TcpHeader(1, 2, TcpFlags.Syn), default, out var written), Is.False);
        Assert.That(written, Is.Zero);
    }

    [Test]
    public void ComposingAllocatesNothing()
    {
        var buffer = new byte[128];
        var l2 = new L2Header(TestAddresses.Appliance, TestAddresses.Router);
        var ip = new IpHeader(TestAddresses.Ip("192.0.2.1"), TestAddresses.Ip("192.0.2.2"));
        FrameComposer.TryComposeTcp(buffer, l2, ip, new TcpHeader(1, 2, TcpFlags.Syn), default, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            FrameComposer.TryComposeTcp(buffer, l2, ip, new TcpHeader((ushort)i, 2, TcpFlags.Syn), default, out _);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    private static int ReferenceChecksum(ReadOnlySpan<byte> data)
    {
        long sum = 0;
        for (var i = 0; i < data.Length; i += 2)
        {
            sum += (data[i] << 8) | (i + 1 < data.Length ? data[i + 1] : 0);
        }

        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (int)(~sum & 0xFFFF);
    }
}

public sealed class EchoReplyTests
{
    [TestCase("192.0.2.10", "198.51.100.1")]
    [TestCase("2001:db8:1::10", "2001:db8::1")]
    public void ReplySwapsAddressesAndKeepsData(string client, string vip)
    {
        var request = TestFrames.EchoRequest(client, vip);
        var reply = new byte[256];
        Assert.That(FrameComposer.TryComposeEchoReply(reply, request, TestAddresses.Appliance, out var n), Is.True);
        Assert.That(EthernetView.TryParse(reply.AsSpan(0, n), out var eth, out _), Is.True);
        Assert.That((eth.Destination, eth.Source), Is.EqualTo((TestAddresses.Router, TestAddresses.Appliance)));
        var expected = new byte[256];
        var ip = new IpHeader(TestAddresses.Ip(vip), TestAddresses.Ip(client));
        FrameComposer.TryComposeEcho(expected, new L2Header(TestAddresses.Router, TestAddresses.Appliance), ip, true, 1, 1, "ping"u8, out var m);
        Assert.That(reply.AsSpan(0, n).ToArray(), Is.EqualTo(expected.AsSpan(0, m).ToArray()));
    }

    [Test]
    public void NonEchoIsRefused()
    {
        var reply = new byte[256];
        Assert.That(FrameComposer.TryComposeEchoReply(reply, TestFrames.Tcp("192.0.2.10", 1, "198.51.100.1", 443, TcpFlags.Syn), TestAddresses.Appliance, out _), Is.False);
    }
}

public sealed class NeighborAdvertisementTests
{
    [Test]
    public void AdvertisesTargetWithOurMac()
    {
        var ns = TestFrames.NeighborSolicitation("2001:db8:1::10", "2001:db8::1");
        var na = new byte[256];
        Assert.That(FrameComposer.TryComposeNeighborAdvertisement(na, ns, TestAddresses.Appliance, out var n), Is.True);
        Assert.That(EthernetView.TryParse(na.AsSpan(0, n), out var eth, out _), Is.True);
        Assert.That((eth.Destination, eth.Source), Is.EqualTo((TestAddresses.Router, TestAddresses.Appliance)));
        Assert.That(IPv6View.TryParse(eth.Payload, out var ip, out _), Is.True);
        Assert.That((ip.Source, ip.Destination, ip.HopLimit), Is.EqualTo((TestAddresses.Ip("2001:db8::1"), TestAddresses.Ip("2001:db8:1::10"), (byte)255)));
        Assert.That(IcmpView.TryParse(ip.UpperLayer, true, out var icmp, out _), Is.True);
        Assert.That(icmp.Type, Is.EqualTo(IcmpTypes.V6NeighborAdvertisement));
        Assert.That(icmp.NeighborTarget, Is.EqualTo(TestAddresses.Ip("2001:db8::1")));
        Assert.That(ip.UpperLayer[4], Is.EqualTo(0x60), "solicited + override, not router");
        Assert.That(MacAddress.Read(ip.UpperLayer[26..]), Is.EqualTo(TestAddresses.Appliance));

        var pseudo = new List<byte>();
        pseudo.AddRange(eth.Payload.Slice(8, 32).ToArray());
        pseudo.AddRange(new byte[] { 0, 0, 0, 32, 0, 0, 0, 58 });
        pseudo.AddRange(ip.UpperLayer.ToArray());
        Assert.That(InternetChecksum.Compute([.. pseudo]), Is.Zero);
    }
}
