using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>Ethernet addressing plus up to two VLAN tags (outermost first; a zero TPID means absent).</summary>
public readonly record struct L2Header(MacAddress Destination, MacAddress Source, VlanTag Outer = default, VlanTag Inner = default)
{
    public int TagCount => (Outer.Tpid != 0 ? 1 : 0) + (Inner.Tpid != 0 ? 1 : 0);

    public int Length => EthernetView.HeaderLengthWithoutTags + (TagCount * 4);
}

/// <summary>
/// IP addressing for a composed packet. The family follows <see cref="Source"/>: IPv4(-mapped) gives IPv4, anything
/// else IPv6. <see cref="Identification"/> is the IPv4 ID; <see cref="TrafficClass"/> is the IPv4 TOS or IPv6 class.
/// </summary>
public readonly record struct IpHeader(IpAddress128 Source, IpAddress128 Destination, byte Ttl = 64, ushort Identification = 0, bool DontFragment = true, byte TrafficClass = 0)
{
    public bool IsIPv4 => Source.IsIPv4;
}

public readonly record struct TcpHeader(ushort SourcePort, ushort DestinationPort, TcpFlags Flags, uint Sequence = 0, uint Acknowledgement = 0, ushort Window = 65535);

/// <summary>
/// Writes whole frames into a caller's buffer with correct IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums.
/// Allocation-free; every Try method returns false (writing nothing meaningful) when the buffer is too small.
/// No minimum-size padding is added: captures of transmitted frames show them unpadded too.
/// </summary>
public static class FrameComposer
{
    public static int WriteEthernetHeader(Span<byte> destination, in L2Header l2, ushort etherType)
    {
        l2.Destination.WriteTo(destination);
        l2.Source.WriteTo(destination[6..]);
        var offset = 12;
        foreach (var tag in (ReadOnlySpan<VlanTag>)[l2.Outer, l2.Inner])
        {
            if (tag.Tpid == 0)
            {
                continue;
            }

            BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], tag.Tpid);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], tag.Tci);
            offset += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], etherType);
        return offset + 2;
    }

    /// <summary>Length of the IP header <see cref="WriteIPHeader"/> writes (without options).</summary>
    public static int IPHeaderLength(in IpHeader ip) => ip.IsIPv4 ? IPv4View.MinHeaderLength : IPv6View.HeaderLength;

    /// <summary>
    /// Writes an IPv4 header (with <paramref name="options"/>, a multiple of 4 bytes, and a correct header checksum) or an
    /// IPv6 header (options must be empty), for <paramref name="payloadLength"/> bytes after it. Returns its length.
    /// </summary>
    public static int WriteIPHeader(Span<byte> destination, in IpHeader ip, byte protocol, int payloadLength, ReadOnlySpan<byte> options = default)
    {
        if (!ip.IsIPv4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, (6u << 28) | ((uint)ip.TrafficClass << 20));
            BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)payloadLength);
            destination[6] = protocol;
            destination[7] = ip.Ttl;
            ip.Source.WriteIPv6(destination[8..]);
            ip.Destination.WriteIPv6(destination[24..]);
            return IPv6View.HeaderLength;
        }

        var headerLength = IPv4View.MinHeaderLength + options.Length;
        destination[0] = (byte)(0x40 | (headerLength / 4));
        destination[1] = ip.TrafficClass;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(headerLength + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], ip.Identification);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], ip.DontFragment ? (ushort)0x4000 : (ushort)0);
        destination[8] = ip.Ttl;
        destination[9] = protocol;
        destination[10] = 0;
        destination[11] = 0;
        ip.Source.WriteIPv4(destination[12..]);
        ip.Destination.WriteIPv4(destination[16..]);
        options.CopyTo(destination[IPv4View.MinHeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], InternetChecksum.Compute(destination[..headerLength]));
        return headerLength;
    }

    public static bool TryComposeTcp(Span<byte> destination, in L2Header l2, in IpHeader ip, in TcpHeader tcp, ReadOnlySpan<byte> payload, out int written)
    {
        var segmentLength = TcpView.MinHeaderLength + payload.Length;
        if (!TryStart(destination, l2, ip, IpProtocols.Tcp, segmentLength, out var offset))
        {
            written = 0;
            return false;
        }

        var segment = destination.Slice(offset, segmentLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment, tcp.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[2..], tcp.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment[4..], tcp.Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(segment[8..], tcp.Acknowledgement);
        segment[12] = (TcpView.MinHeaderLength / 4) << 4;
        segment[13] = (byte)tcp.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment[14..], tcp.Window);
        BinaryPrimitives.WriteUInt32BigEndian(segment[16..], 0);
        payload.CopyTo(segment[TcpView.MinHeaderLength..]);
        WriteTransportChecksum(segment, 16, ip, IpProtocols.Tcp);
        written = offset + segmentLength;
        return true;
    }

    public static bool TryComposeUdp(Span<byte> destination, in L2Header l2, in IpHeader ip, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload, out int written)
    {
        var datagramLength = UdpView.HeaderLength + payload.Length;
        if (!TryStart(destination, l2, ip, IpProtocols.Udp, datagramLength, out var offset))
        {
            written = 0;
            return false;
        }

        var datagram = destination.Slice(offset, datagramLength);
        BinaryPrimitives.WriteUInt16BigEndian(datagram, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[4..], (ushort)datagramLength);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[6..], 0);
        payload.CopyTo(datagram[UdpView.HeaderLength..]);
        WriteTransportChecksum(datagram, 6, ip, IpProtocols.Udp);

        // RFC 768: a computed zero is sent as all ones, zero meaning "no checksum".
        if (BinaryPrimitives.ReadUInt16BigEndian(datagram[6..]) == 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(datagram[6..], 0xFFFF);
        }

        written = offset + datagramLength;
        return true;
    }

    /// <summary>
    /// An ICMP (IPv4) or ICMPv6 message with an 8-byte header: type, code, checksum, then <paramref name="restOfHeader"/>
    /// (echo identifier and sequence, or the flags word of a neighbour advertisement) and <paramref name="body"/>.
    /// </summary>
    public static bool TryComposeIcmp(Span<byte> destination, in L2Header l2, in IpHeader ip, byte type, byte code, uint restOfHeader, ReadOnlySpan<byte> body, out int written)
    {
        var protocol = ip.IsIPv4 ? IpProtocols.Icmp : IpProtocols.Icmpv6;
        var messageLength = IcmpView.HeaderLength + body.Length;
        if (!TryStart(destination, l2, ip, protocol, messageLength, out var offset))
        {
            written = 0;
            return false;
        }

        var message = destination.Slice(offset, messageLength);
        message[0] = type;
        message[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(message[4..], restOfHeader);
        body.CopyTo(message[IcmpView.HeaderLength..]);
        if (ip.IsIPv4)
        {
            // ICMP for IPv4 has no pseudo-header.
            BinaryPrimitives.WriteUInt16BigEndian(message[2..], InternetChecksum.Compute(message));
        }
        else
        {
            WriteTransportChecksum(message, 2, ip, IpProtocols.Icmpv6);
        }

        written = offset + messageLength;
        return true;
    }

    /// <summary>An echo request or reply (ICMP type 8/0 for IPv4, ICMPv6 128/129 for IPv6).</summary>
    public static bool TryComposeEcho(Span<byte> destination, in L2Header l2, in IpHeader ip, bool reply, ushort identifier, ushort sequence, ReadOnlySpan<byte> data, out int written)
    {
        var type = ip.IsIPv4
            ? reply ? IcmpTypes.EchoReply : IcmpTypes.EchoRequest
            : reply ? IcmpTypes.V6EchoReply : IcmpTypes.V6EchoRequest;
        return TryComposeIcmp(destination, l2, ip, type, 0, ((uint)identifier << 16) | sequence, data, out written);
    }

    /// <summary>An ARP packet for IPv4 over Ethernet; <paramref name="operation"/> is 1 (request) or 2 (reply).</summary>
    public static bool TryComposeArp(Span<byte> destination, in L2Header l2, ushort operation, MacAddress senderMac, IpAddress128 senderIp, MacAddress targetMac, IpAddress128 targetIp, out int written)
    {
        var length = l2.Length + ArpView.Length;
        if (destination.Length < length)
        {
            written = 0;
            return false;
        }

        var offset = WriteEthernetHeader(destination, l2, EtherTypes.Arp);
        var arp = destination.Slice(offset, ArpView.Length);
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp[2..], EtherTypes.IPv4);
        arp[4] = MacAddress.Length;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], operation);
        senderMac.WriteTo(arp[8..]);
        senderIp.WriteIPv4(arp[14..]);
        targetMac.WriteTo(arp[18..]);
        targetIp.WriteIPv4(arp[24..]);
        written = length;
        return true;
    }

    /// <summary>
    /// The ARP reply to <paramref name="request"/> (a whole ARP request frame) saying <paramref name="ourMac"/> owns its
    /// target address. VLAN tags of the request are kept so the reply leaves on the same VLAN.
    /// </summary>
    public static bool TryComposeArpReply(Span<byte> destination, ReadOnlySpan<byte> request, MacAddress ourMac, out int written)
    {
        written = 0;
        if (!EthernetView.TryParse(request, out var eth, out _) || eth.EtherType != EtherTypes.Arp
            || !ArpView.TryParse(eth.Payload, out var arp, out _) || arp.Operation != ArpView.OperationRequest)
        {
            return false;
        }

        var l2 = new L2Header(arp.SenderMac, ourMac, eth.TagCount > 0 ? eth.GetTag(0) : default, eth.TagCount > 1 ? eth.GetTag(1) : default);
        return eth.TagCount <= 2
            && TryComposeArp(destination, l2, ArpView.OperationReply, ourMac, arp.TargetIp, arp.SenderMac, arp.SenderIp, out written);
    }

    /// <summary>
    /// The echo reply to <paramref name="request"/> (a whole ICMP or ICMPv6 echo request frame): addresses swapped,
    /// identifier, sequence and data kept, VLAN tags kept, source MAC <paramref name="ourMac"/>.
    /// </summary>
    public static bool TryComposeEchoReply(Span<byte> destination, ReadOnlySpan<byte> request, MacAddress ourMac, out int written)
    {
        written = 0;
        if (!EthernetView.TryParse(request, out var eth, out _) || eth.TagCount > 2)
        {
            return false;
        }

        var l2 = new L2Header(eth.Source, ourMac, eth.TagCount > 0 ? eth.GetTag(0) : default, eth.TagCount > 1 ? eth.GetTag(1) : default);
        ReadOnlySpan<byte> message;
        IpHeader ip;
        if (eth.EtherType == EtherTypes.IPv4 && IPv4View.TryParse(eth.Payload, out var v4, out _) && !v4.IsFragment && v4.Protocol == IpProtocols.Icmp)
        {
            message = v4.Payload;
            ip = new IpHeader(v4.Destination, v4.Source);
        }
        else if (eth.EtherType == EtherTypes.IPv6 && IPv6View.TryParse(eth.Payload, out var v6, out _) && !v6.IsFragment && v6.UpperLayerProtocol == IpProtocols.Icmpv6)
        {
            message = v6.UpperLayer;
            ip = new IpHeader(v6.Destination, v6.Source);
        }
        else
        {
            return false;
        }

        if (!IcmpView.TryParse(message, !ip.IsIPv4, out var echo, out _)
            || echo.Type != (ip.IsIPv4 ? IcmpTypes.EchoRequest : IcmpTypes.V6EchoRequest))
        {
            return false;
        }

        return TryComposeEcho(destination, l2, ip, reply: true, echo.Identifier, echo.SequenceNumber, echo.Body, out written);
    }

    /// <summary>
    /// The neighbour advertisement answering <paramref name="solicitation"/> (a whole ICMPv6 neighbour solicitation
    /// frame) for its target, with a target link-layer address option carrying <paramref name="ourMac"/> (RFC 4861
    /// §7.2.4). A solicitation from the unspecified address (duplicate address detection) is answered to all-nodes
    /// without the solicited flag. Hop limit 255, VLAN tags kept.
    /// </summary>
    public static bool TryComposeNeighborAdvertisement(Span<byte> destination, ReadOnlySpan<byte> solicitation, MacAddress ourMac, out int written)
    {
        written = 0;
        if (!EthernetView.TryParse(solicitation, out var eth, out _) || eth.TagCount > 2 || eth.EtherType != EtherTypes.IPv6
            || !IPv6View.TryParse(eth.Payload, out var v6, out _) || v6.IsFragment || v6.UpperLayerProtocol != IpProtocols.Icmpv6
            || !IcmpView.TryParse(v6.UpperLayer, true, out var ns, out _) || ns.Type != IcmpTypes.V6NeighborSolicitation)
        {
            return false;
        }

        // Flags word: R (0x80000000) stays clear, we are not a router; S answers a solicitation; O overrides caches.
        const uint solicited = 0x4000_0000, overrideFlag = 0x2000_0000;
        var fromUnspecified = v6.Source == default;
        var to = fromUnspecified ? new IpAddress128(0xFF02_0000_0000_0000UL, 1) : v6.Source;
        var toMac = fromUnspecified ? MacAddress.FromUInt64(0x3333_0000_0001UL) : eth.Source;
        var l2 = new L2Header(toMac, ourMac, eth.TagCount > 0 ? eth.GetTag(0) : default, eth.TagCount > 1 ? eth.GetTag(1) : default);

        // Body: target address (16) + option type 2 (target link-layer address), length 1 (8 bytes), MAC.
        Span<byte> body = stackalloc byte[24];
        ns.NeighborTarget.WriteIPv6(body);
        body[16] = 2;
        body[17] = 1;
        ourMac.WriteTo(body[18..]);
        var flags = (fromUnspecified ? 0 : solicited) | overrideFlag;
        return TryComposeIcmp(destination, l2, new IpHeader(ns.NeighborTarget, to, Ttl: 255), IcmpTypes.V6NeighborAdvertisement, 0, flags, body, out written);
    }

    private static bool TryStart(Span<byte> destination, in L2Header l2, in IpHeader ip, byte protocol, int upperLength, out int offset)
    {
        offset = 0;
        var ipHeaderLength = IPHeaderLength(ip);
        if (destination.Length < l2.Length + ipHeaderLength + upperLength || upperLength > ushort.MaxValue - ipHeaderLength)
        {
            return false;
        }

        offset = WriteEthernetHeader(destination, l2, ip.IsIPv4 ? EtherTypes.IPv4 : EtherTypes.IPv6);
        offset += WriteIPHeader(destination[offset..], ip, protocol, upperLength);
        return true;
    }

    private static void WriteTransportChecksum(Span<byte> upper, int checksumOffset, in IpHeader ip, byte protocol)
    {
        var sum = InternetChecksum.PseudoHeader(ip.Source, ip.Destination, protocol, upper.Length);
        BinaryPrimitives.WriteUInt16BigEndian(upper[checksumOffset..], InternetChecksum.Finish(InternetChecksum.Add(sum, upper)));
    }
}
