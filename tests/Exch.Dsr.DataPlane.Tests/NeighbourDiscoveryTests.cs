using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.DataPlane.Tests;

/// <summary>The frames behind IPv6 resolution of <c>mac = "auto"</c> servers: our neighbour solicitation, and the advertisements we learn from.</summary>
public sealed class NeighbourDiscoveryTests
{
    private static readonly MacAddress Ours = TestAddresses.Appliance;
    private static readonly MacAddress ServerMac = MacAddress.Parse("02:00:00:00:66:11");
    private static readonly IpAddress128 Server = IpAddress128.Parse("2001:db8:7::1:2:3");
    private static readonly IpAddress128 LinkLocal = IpAddress128.Parse("fe80::1");
    private readonly byte[] _frame = new byte[1600];
    private readonly byte[] _answer = new byte[1600];

    [Test]
    public void A_solicitation_goes_to_the_solicited_node_group_with_our_link_layer_address()
    {
        Assert.That(VipResponder.TryComposeNeighbourSolicitation(_frame, Server, LinkLocal, Ours, out int length), Is.True);
        var frame = _frame.AsSpan(0, length);

        Assert.That(EthernetView.TryParse(frame, out var eth, out _), Is.True);
        Assert.That(eth.Destination, Is.EqualTo(MacAddress.Parse("33:33:ff:02:00:03")), "33:33 + the group's last 32 bits");
        Assert.That(eth.Source, Is.EqualTo(Ours));
        Assert.That(IPv6View.TryParse(eth.Payload, out var v6, out _), Is.True);
        Assert.That(v6.Source, Is.EqualTo(LinkLocal));
        Assert.That(v6.Destination, Is.EqualTo(IpAddress128.Parse("ff02::1:ff02:3")), "solicited-node address of the target");
        Assert.That(v6.HopLimit, Is.EqualTo(255));
        Assert.That(IcmpView.TryParse(v6.UpperLayer, true, out var icmp, out _), Is.True);
        Assert.That(icmp.Type, Is.EqualTo(IcmpTypes.V6NeighborSolicitation));
        Assert.That(icmp.NeighborTarget, Is.EqualTo(Server));
        Assert.That(icmp.Body[16..18].ToArray(), Is.EqualTo(new byte[] { 1, 1 }), "a source link-layer address option, 8 bytes");
        Assert.That(MacAddress.Read(icmp.Body[18..]), Is.EqualTo(Ours));
        Assert.That(ChecksumOk(v6.Source, v6.Destination, v6.UpperLayer), Is.True, "ICMPv6 checksum over the pseudo-header");
    }

    [Test]
    public void From_the_unspecified_address_the_solicitation_carries_no_option()
    {
        Assert.That(VipResponder.TryComposeNeighbourSolicitation(_frame, Server, default, Ours, out int length), Is.True);

        Assert.That(EthernetView.TryParse(_frame.AsSpan(0, length), out var eth, out _), Is.True);
        Assert.That(IPv6View.TryParse(eth.Payload, out var v6, out _), Is.True);
        Assert.That(v6.UpperLayer.Length, Is.EqualTo(24), "header and target only (RFC 4861 §4.3)");
        Assert.That(ChecksumOk(v6.Source, v6.Destination, v6.UpperLayer), Is.True);
    }

    [Test]
    public void The_answer_a_server_composes_to_our_solicitation_tells_its_address_and_mac()
    {
        VipResponder.TryComposeNeighbourSolicitation(_frame, Server, LinkLocal, Ours, out int length);
        Assert.That(FrameComposer.TryComposeNeighborAdvertisement(_answer, _frame.AsSpan(0, length), ServerMac, out int answerLength), Is.True);

        Assert.That(VipResponder.TryReadNeighbourAdvertisement(_answer.AsSpan(0, answerLength), out var ip, out var mac), Is.True);
        Assert.That(ip, Is.EqualTo(Server));
        Assert.That(mac, Is.EqualTo(ServerMac));
    }

    [Test]
    public void An_advertisement_without_the_option_counts_at_its_frame_source()
    {
        byte[] na = Advertisement(withOption: false, hopLimit: 255);

        Assert.That(VipResponder.TryReadNeighbourAdvertisement(na, out var ip, out var mac), Is.True);
        Assert.That(ip, Is.EqualTo(Server));
        Assert.That(mac, Is.EqualTo(ServerMac));
    }

    [Test]
    public void A_routed_advertisement_is_ignored()
    {
        Assert.That(VipResponder.TryReadNeighbourAdvertisement(Advertisement(withOption: true, hopLimit: 64), out _, out _), Is.False, "hop limit below 255");
    }

    [Test]
    public void A_servers_own_solicitation_tells_where_it_is()
    {
        VipResponder.TryComposeNeighbourSolicitation(_frame, LinkLocal, Server, ServerMac, out int length);

        Assert.That(VipResponder.TryReadNeighbourAdvertisement(_frame.AsSpan(0, length), out var ip, out var mac), Is.True);
        Assert.That(ip, Is.EqualTo(Server));
        Assert.That(mac, Is.EqualTo(ServerMac));
    }

    [Test]
    public void Truncated_or_foreign_frames_are_not_read_and_never_throw()
    {
        byte[] na = Advertisement(withOption: true, hopLimit: 255);
        for (int cut = 0; cut < na.Length; cut++)
        {
            bool read = VipResponder.TryReadNeighbourAdvertisement(na.AsSpan(0, cut), out _, out _);
            Assert.That(read, Is.False, $"cut at {cut}");
        }

        byte[] badOption = Advertisement(withOption: true, hopLimit: 255);
        badOption[^7] = 0; // option length 0: must not loop
        Assert.That(VipResponder.TryReadNeighbourAdvertisement(badOption, out _, out var mac), Is.True, "falls back to the frame source");
        Assert.That(mac, Is.EqualTo(ServerMac));
        Assert.That(VipResponder.TryReadNeighbourAdvertisement(TestFrames.ArpRequest("192.0.2.1", TestConfigs.Vip), out _, out _), Is.False);
    }

    [Test]
    public void Reading_allocates_nothing()
    {
        byte[] na = Advertisement(withOption: true, hopLimit: 255);
        VipResponder.TryReadNeighbourAdvertisement(na, out _, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            VipResponder.TryReadNeighbourAdvertisement(na, out _, out _);
            VipResponder.TryComposeNeighbourSolicitation(_frame, Server, LinkLocal, Ours, out _);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    /// <summary>A solicited advertisement for <see cref="Server"/> from <see cref="ServerMac"/> to our link-local address.</summary>
    private static byte[] Advertisement(bool withOption, byte hopLimit)
    {
        var frame = new byte[1600];
        Span<byte> body = stackalloc byte[24];
        Server.WriteIPv6(body);
        body[16] = 2;
        body[17] = 1;
        ServerMac.WriteTo(body[18..]);
        FrameComposer.TryComposeIcmp(frame, new L2Header(Ours, ServerMac), new IpHeader(Server, LinkLocal, Ttl: hopLimit), IcmpTypes.V6NeighborAdvertisement, 0, 0x6000_0000, withOption ? body : body[..16], out int length);
        return frame[..length];
    }

    private static bool ChecksumOk(IpAddress128 source, IpAddress128 destination, ReadOnlySpan<byte> message) =>
        InternetChecksum.Finish(InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IpProtocols.Icmpv6, message.Length), message)) == 0;
}
