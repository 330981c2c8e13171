using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// The answers the forwarder gives for VIPs it owns (<c>own-vips = true</c>): ARP replies, ICMP / ICMPv6 echo
/// replies and neighbour advertisements, each composed from the request into a caller buffer; the frames it sends
/// unasked (gratuitous ARP at start, ARP requests and neighbour solicitations that resolve servers); and the readers
/// of ARP and neighbour discovery frames that tell where a server is. Allocation-free.
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
    /// A neighbour solicitation for <paramref name="target"/> (RFC 4861 §7.2.2): to its solicited-node multicast
    /// address ff02::1:ffXX:XXXX (MAC 33:33:ff:XX:XX:XX), hop limit 255. From <paramref name="senderIp"/> (the
    /// appliance's link-local address) with a source link-layer address option, so the server answers straight to us;
    /// from the unspecified address (no option allowed then) when the interface has no IPv6 address, in which case the
    /// server answers to all-nodes, which the capture sees as well.
    /// </summary>
    public static bool TryComposeNeighbourSolicitation(Span<byte> destination, IpAddress128 target, IpAddress128 senderIp, MacAddress ourMac, out int length)
    {
        ulong low24 = target.Low & 0xFF_FFFF;
        var group = new IpAddress128(0xFF02_0000_0000_0000UL, 0x0000_0001_FF00_0000UL | low24);
        var groupMac = MacAddress.FromUInt64(0x3333_FF00_0000UL | low24);
        bool unspecified = senderIp == default;
        Span<byte> body = stackalloc byte[24];
        target.WriteIPv6(body);
        body[16] = 1; // source link-layer address option, 8 bytes
        body[17] = 1;
        ourMac.WriteTo(body[18..]);
        return FrameComposer.TryComposeIcmp(destination, new L2Header(groupMac, ourMac), new IpHeader(senderIp, group, Ttl: 255),
            IcmpTypes.V6NeighborSolicitation, 0, 0, unspecified ? body[..16] : body, out length);
    }

    /// <summary>
    /// When <paramref name="frame"/> says where an IPv6 neighbour is: a neighbour advertisement (its target, at the
    /// MAC of its target link-layer address option, else the frame's source MAC), or a neighbour solicitation from a
    /// specified address (its source, at its source link-layer address option). Only hop limit 255 counts (RFC 4861
    /// §7.1.2: anything else was routed, so it is not from the link). Allocation-free; for the neighbour table.
    /// </summary>
    public static bool TryReadNeighbourAdvertisement(ReadOnlySpan<byte> frame, out IpAddress128 neighbourIp, out MacAddress neighbourMac)
    {
        neighbourIp = default;
        neighbourMac = default;
        if (!EthernetView.TryParse(frame, out var eth, out _) || eth.EtherType != EtherTypes.IPv6
            || !IPv6View.TryParse(eth.Payload, out var v6, out _) || v6.IsFragment || v6.UpperLayerProtocol != IpProtocols.Icmpv6
            || v6.HopLimit != 255 || !IcmpView.TryParse(v6.UpperLayer, true, out var icmp, out _) || icmp.Code != 0)
        {
            return false;
        }

        byte wanted;
        if (icmp.Type == IcmpTypes.V6NeighborAdvertisement)
        {
            neighbourIp = icmp.NeighborTarget;
            neighbourMac = eth.Source;
            wanted = 2;
        }
        else if (icmp.Type == IcmpTypes.V6NeighborSolicitation && v6.Source != default)
        {
            neighbourIp = v6.Source;
            wanted = 1;
        }
        else
        {
            return false;
        }

        // Options after the 16-byte target: type, length in units of 8 bytes, data.
        var options = icmp.Body[16..];
        while (options.Length >= 8 && options[1] != 0 && options[1] * 8 <= options.Length)
        {
            if (options[0] == wanted && options[1] == 1)
            {
                neighbourMac = MacAddress.Read(options[2..]);
                break;
            }

            options = options[(options[1] * 8)..];
        }

        return !neighbourMac.IsZero;
    }

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
