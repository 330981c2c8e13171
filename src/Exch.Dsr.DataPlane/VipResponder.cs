using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// The answers the forwarder gives for VIPs it owns (<c>own-vips = true</c>): ARP replies, ICMP / ICMPv6 echo
/// replies and neighbour advertisements, each composed from the request into a caller buffer; and the frames it
/// sends unasked (gratuitous ARP at start, ARP requests that resolve servers). Allocation-free.
/// </summary>
public static class VipResponder
{
    /// <summary>
    /// Composes the answer the appliance owes for <paramref name="request"/> given the engine's verdict on it; false
    /// (nothing to send) when the VIPs are not ours to answer or the verdict asks for no answer.
    /// </summary>
    public static bool TryAnswer(ForwardVerdict verdict, ReadOnlySpan<byte> request, bool ownVips, MacAddress ourMac, Span<byte> reply, out int length)
    {
        length = 0;
        if (!ownVips)
        {
            return false;
        }

        return verdict switch
        {
            ForwardVerdict.ArpRequestForVip => FrameComposer.TryComposeArpReply(reply, request, ourMac, out length),
            ForwardVerdict.EchoRequestForVip => FrameComposer.TryComposeEchoReply(reply, request, ourMac, out length),
            ForwardVerdict.NeighborSolicitationForVip => FrameComposer.TryComposeNeighborAdvertisement(reply, request, ourMac, out length),
            _ => false,
        };
    }

    /// <summary>
    /// A gratuitous ARP for <paramref name="vip"/> (an IPv4 address): a broadcast request with sender and target both
    /// the VIP, as <c>arping -U</c> sends, so clients and routers that cached another MAC for it update their entry.
    /// </summary>
    public static bool TryComposeGratuitousArp(Span<byte> destination, IpAddress128 vip, MacAddress ourMac, out int length) =>
        FrameComposer.TryComposeArp(destination, new L2Header(MacAddress.Broadcast, ourMac), 1, ourMac, vip, MacAddress.Zero, vip, out length);

    /// <summary>
    /// A broadcast ARP request for <paramref name="target"/>. <paramref name="senderIp"/> is the appliance's address
    /// on the interface, or 0.0.0.0 (an RFC 5227 probe, which Linux and Windows answer without caching us).
    /// </summary>
    public static bool TryComposeArpRequest(Span<byte> destination, IpAddress128 target, IpAddress128 senderIp, MacAddress ourMac, out int length) =>
        FrameComposer.TryComposeArp(destination, new L2Header(MacAddress.Broadcast, ourMac), 1, ourMac, senderIp, MacAddress.Zero, target, out length);

    /// <summary>
    /// When <paramref name="frame"/> is an ARP packet (tagged or not), its sender's address and MAC; false otherwise.
    /// Allocation-free; for the neighbour table.
    /// </summary>
    public static bool TryReadArpSender(ReadOnlySpan<byte> frame, out IpAddress128 senderIp, out MacAddress senderMac)
    {
        senderIp = default;
        senderMac = default;
        if (!EthernetView.TryParse(frame, out var eth, out _) || eth.EtherType != EtherTypes.Arp
            || !ArpView.TryParse(eth.Payload, out var arp, out _))
        {
            return false;
        }

        senderIp = arp.SenderIp;
        senderMac = arp.SenderMac;
        return true;
    }
}
