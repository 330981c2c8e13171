using System.Buffers.Binary;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Frames;

public sealed class ViewTests
{
    [Test]
    public void EthernetReadsAddressesAndEtherTypeWithoutTags()
    {
        var frame = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn);
        Assert.That(EthernetView.TryParse(frame, out var eth, out var reason), Is.True);
        Assert.That(reason, Is.EqualTo(MalformedReason.None));
        Assert.That(eth.Destination, Is.EqualTo(TestAddresses.Appliance));
        Assert.That(eth.Source, Is.EqualTo(TestAddresses.Router));
        Assert.That(eth.TagCount, Is.Zero);
        Assert.That(eth.EtherType, Is.EqualTo(EtherTypes.IPv4));
        Assert.That(eth.HeaderLength, Is.EqualTo(14));
    }

    [Test]
    public void EthernetWalksQinQStack()
    {
        var frame = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn, outer: VlanTag.Service(100), inner: VlanTag.Customer(200));
        Assert.That(EthernetView.TryParse(frame, out var eth, out _), Is.True);
        Assert.That(eth.TagCount, Is.EqualTo(2));
        Assert.That(eth.GetTag(0), Is.EqualTo(new VlanTag(EtherTypes.ServiceVlan, 100)));
        Assert.That(eth.GetTag(1).VlanId, Is.EqualTo(200));
        Assert.That(eth.EtherType, Is.EqualTo(EtherTypes.IPv4));
        Assert.That(eth.HeaderLength, Is.EqualTo(22));
        Assert.That(frame.AsSpan(12, 10).ToArray(), Is.EqualTo(new byte[] { 0x88, 0xA8, 0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00 }));
    }

    [Test]
    public void IPv4ReadsOptionsAndBoundsPayloadByTotalLength()
    {
        var l2 = new L2Header(TestAddresses.Appliance, TestAddresses.Router);
        var buffer = new byte[200];
        var offset = FrameComposer.WriteEthernetHeader(buffer, l2, EtherTypes.IPv4);
        byte[] options = [0x94, 0x04, 0x00, 0x00]; // Router Alert
        var udp = new byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 5000);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 53);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), 8);
        offset += FrameComposer.WriteIPHeader(buffer.AsSpan(offset), new IpHeader(TestAddresses.Ip("192.0.2.1"), TestAddresses.Ip("192.0.2.2"), Identification: 77), IpProtocols.Udp, udp.Length, options);
        udp.CopyTo(buffer.AsSpan(offset));
        var frame = buffer[..(offset + 8 + 10)]; // 10 bytes of Ethernet padding after the packet

        Assert.That(EthernetView.TryParse(frame, out var eth, out _), Is.True);
        Assert.That(IPv4View.TryParse(eth.Payload, out var ip, out var reason), Is.True, reason.ToString());
        Assert.That(ip.HeaderLength, Is.EqualTo(24));
        Assert.That(ip.Options.ToArray(), Is.EqualTo(options));
        Assert.That(ip.TotalLength, Is.EqualTo(32));
        Assert.That(ip.Payload.Length, Is.EqualTo(8));
        Assert.That(ip.Identification, Is.EqualTo(77));
        Assert.That(ip.Source, Is.EqualTo(TestAddresses.Ip("192.0.2.1")));
        Assert.That(ip.IsFragment, Is.False);
        Assert.That(InternetChecksum.Compute(eth.Payload[..24]), Is.Zero, "header checksum verifies");
    }

    [Test]
    public void IPv4FragmentsReportOffsetAndMoreFragments()
    {
        var frame = TestFrames.Udp("192.0.2.10", 5000, "198.51.100.1", 53, new byte[64]);
        var (first, second) = TestFrames.SplitIPv4(frame, 32);
        Assert.That(IPv4View.TryParse(first.AsSpan(14), out var a, out _), Is.True);
        Assert.That(a.MoreFragments && a.HasTransportHeader && a.IsFragment, Is.True);
        Assert.That(IPv4View.TryParse(second.AsSpan(14), out var b, out _), Is.True);
        Assert.That(b.MoreFragments, Is.False);
        Assert.That(b.FragmentOffset, Is.EqualTo(32));
        Assert.That(b.HasTransportHeader, Is.False);
        Assert.That(b.Identification, Is.EqualTo(0x4242));
    }

    [Test]
    public void IPv6SkipsHopByHopRoutingDestinationOptionsAndAh()
    {
        var ah = new byte[16];
        ah[0] = IpProtocols.Tcp;
        ah[1] = 2; // (2 + 2) * 4 = 16 bytes
        byte[] chain = [
            .. TestFrames.OptionsHeader(IpProtocols.Routing),
            .. TestFrames.OptionsHeader(IpProtocols.DestinationOptions),
            .. TestFrames.OptionsHeader(IpProtocols.Ah),
            .. ah,
            .. TestFrames.TcpHeaderBytes(40000, 443, TcpFlags.Syn)];
        var frame = TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.HopByHop, chain);
        Assert.That(IPv6View.TryParse(frame.AsSpan(14), out var ip, out var reason), Is.True, reason.ToString());
        Assert.That(ip.UpperLayerProtocol, Is.EqualTo(IpProtocols.Tcp));
        Assert.That(ip.UpperLayerOffset, Is.EqualTo(40 + 24 + 16));
        Assert.That(TcpView.TryParse(ip.UpperLayer, out var tcp, out _), Is.True);
        Assert.That(tcp.DestinationPort, Is.EqualTo(443));
        Assert.That(tcp.Flags, Is.EqualTo(TcpFlags.Syn));
        Assert.That(ip.IsFragment, Is.False);
    }

    [Test]
    public void IPv6FirstFragmentExposesTransportNonFirstDoesNot()
    {
        byte[] first = [.. TestFrames.FragmentHeader(IpProtocols.Tcp, 0, true, 0xABCDEF), .. TestFrames.TcpHeaderBytes(40000, 443, TcpFlags.Ack)];
        Assert.That(IPv6View.TryParse(TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.Fragment, first).AsSpan(14), out var a, out _), Is.True);
        Assert.That(a.IsFragment && a.MoreFragments && a.HasTransportHeader, Is.True);
        Assert.That(a.FragmentIdentification, Is.EqualTo(0xABCDEFu));
        Assert.That(a.UpperLayerProtocol, Is.EqualTo(IpProtocols.Tcp));

        byte[] later = [.. TestFrames.FragmentHeader(IpProtocols.Tcp, 1232, false, 0xABCDEF), .. new byte[16]];
        Assert.That(IPv6View.TryParse(TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.Fragment, later).AsSpan(14), out var b, out _), Is.True);
        Assert.That(b.HasTransportHeader, Is.False);
        Assert.That(b.FragmentOffset, Is.EqualTo(1232));
        Assert.That(b.UpperLayerProtocol, Is.EqualTo(IpProtocols.Tcp));
    }

    [Test]
    public void IPv6StopsAtEspAndNoNextHeader()
    {
        Assert.That(IPv6View.TryParse(TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.Esp, new byte[24]).AsSpan(14), out var esp, out _), Is.True);
        Assert.That(esp.UpperLayerProtocol, Is.EqualTo(IpProtocols.Esp));
        Assert.That(IPv6View.TryParse(TestFrames.IPv6Raw("2001:db8::10", "2001:db8::1", IpProtocols.NoNextHeader, []).AsSpan(14), out var none, out _), Is.True);
        Assert.That(none.UpperLayerProtocol, Is.EqualTo(IpProtocols.NoNextHeader));
    }

    [Test]
    public void TcpReadsPortsFlagsAndDataOffset()
    {
        var frame = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn | TcpFlags.Ack, "hello"u8);
        Assert.That(TcpView.TryParse(frame.AsSpan(34), out var tcp, out _), Is.True);
        Assert.That((tcp.SourcePort, tcp.DestinationPort, tcp.Flags, tcp.HeaderLength), Is.EqualTo(((ushort)40000, (ushort)443, TcpFlags.Syn | TcpFlags.Ack, 20)));
        Assert.That(tcp.Payload.ToArray(), Is.EqualTo("hello"u8.ToArray()));
    }

    [Test]
    public void ArpReadsRequest()
    {
        var frame = TestFrames.ArpRequest("198.51.100.254", "198.51.100.1");
        Assert.That(EthernetView.TryParse(frame, out var eth, out _), Is.True);
        Assert.That(ArpView.TryParse(eth.Payload, out var arp, out _), Is.True);
        Assert.That(arp.Operation, Is.EqualTo(ArpView.OperationRequest));
        Assert.That(arp.TargetIp, Is.EqualTo(TestAddresses.Ip("198.51.100.1")));
        Assert.That(arp.SenderMac, Is.EqualTo(TestAddresses.Router));
    }

    [Test]
    public void IcmpReadsEchoRequest()
    {
        var frame = TestFrames.EchoRequest("192.0.2.10", "198.51.100.1");
        Assert.That(IcmpView.TryParse(frame.AsSpan(34), false, out var icmp, out _), Is.True);
        Assert.That((icmp.Type, icmp.Identifier, icmp.SequenceNumber), Is.EqualTo((IcmpTypes.EchoRequest, (ushort)1, (ushort)1)));
    }

    [Test]
    public void MacAddressParsesAndFormats()
    {
        Assert.That(MacAddress.TryParse("0A-1b-2C-3d-4E-5f", out var mac), Is.True);
        Assert.That(mac.ToString(), Is.EqualTo("0a:1b:2c:3d:4e:5f"));
        Assert.That(MacAddress.TryParse("0a:1b:2c:3d:4e", out _), Is.False);
        Assert.That(MacAddress.TryParse("0a:1b:2c:3d:4e:zz", out _), Is.False);
    }

    [Test]
    public void IpAddressMasksInItsOwnFamily()
    {
        Assert.That(TestAddresses.Ip("192.0.2.77").Mask(24), Is.EqualTo(TestAddresses.Ip("192.0.2.0")));
        Assert.That(TestAddresses.Ip("192.0.2.77").Mask(0), Is.EqualTo(TestAddresses.Ip("0.0.0.0")));
        Assert.That(TestAddresses.Ip("2001:db8:1:2:aaaa::1").Mask(64), Is.EqualTo(TestAddresses.Ip("2001:db8:1:2::")));
        Assert.That(TestAddresses.Ip("2001:db8:1:2:aaaa::1").Mask(72), Is.EqualTo(TestAddresses.Ip("2001:db8:1:2:aa00::")));
        Assert.That(TestAddresses.Ip("2001:db8::1").Mask(128), Is.EqualTo(TestAddresses.Ip("2001:db8::1")));
        Assert.That(TestAddresses.Ip("10.1.2.3").ToString(), Is.EqualTo("10.1.2.3"));
    }
}
