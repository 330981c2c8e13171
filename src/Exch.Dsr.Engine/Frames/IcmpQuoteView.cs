using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// The packet an ICMP error quotes (the bytes after its 8-byte header): the original IP header and the start of its
/// transport header. A router quotes as much as it likes (RFC 792: header plus 8 bytes; RFC 1812 and RFC 4443: as
/// much as fits), so the quote is usually cut short: lengths in the quoted header are not checked against it, and
/// only the 4 port bytes of TCP / UDP are required (LVS reads no more).
/// </summary>
public readonly ref struct IcmpQuoteView
{
    /// <summary>Bytes of the quoted transport header read: source and destination port.</summary>
    public const int PortsLength = 4;

    private readonly ReadOnlySpan<byte> _quote;
    private readonly int _transportOffset;

    private IcmpQuoteView(ReadOnlySpan<byte> quote, bool isV6, byte protocol, int transportOffset)
    {
        _quote = quote;
        IsIPv6 = isV6;
        Protocol = protocol;
        _transportOffset = transportOffset;
    }

    public bool IsIPv6 { get; }

    /// <summary>The quoted packet's source: for a DSR reply, the VIP.</summary>
    public IpAddress128 Source => IsIPv6 ? IpAddress128.ReadIPv6(_quote[8..]) : IpAddress128.ReadIPv4(_quote[12..]);

    /// <summary>The quoted packet's destination: for a DSR reply, the client.</summary>
    public IpAddress128 Destination => IsIPv6 ? IpAddress128.ReadIPv6(_quote[24..]) : IpAddress128.ReadIPv4(_quote[16..]);

    /// <summary>The upper-layer protocol (after IPv6 extension headers).</summary>
    public byte Protocol { get; }

    /// <summary>True for quoted TCP or UDP with its ports; false for other protocols and non-first fragments.</summary>
    public bool HasPorts => _transportOffset >= 0;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_quote[_transportOffset..]);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_quote[(_transportOffset + 2)..]);

    /// <param name="quote">The ICMP message body (after type, code, checksum and the 4-byte rest of header).</param>
    /// <param name="isV6">ICMPv6: the quote must be IPv6; ICMP: IPv4.</param>
    public static bool TryParse(ReadOnlySpan<byte> quote, bool isV6, out IcmpQuoteView view, out MalformedReason reason)
    {
        view = default;
        if (quote.Length < (isV6 ? IPv6View.HeaderLength : IPv4View.MinHeaderLength))
        {
            reason = MalformedReason.TruncatedIcmpQuote;
            return false;
        }

        if (quote[0] >> 4 != (isV6 ? 6 : 4))
        {
            reason = MalformedReason.BadIcmpQuote;
            return false;
        }

        int offset;
        byte protocol;
        bool firstFragment;
        if (isV6)
        {
            if (!TryWalkIPv6(quote, out offset, out protocol, out firstFragment, out reason))
            {
                return false;
            }
        }
        else
        {
            offset = (quote[0] & 0x0F) * 4;
            if (offset < IPv4View.MinHeaderLength)
            {
                reason = MalformedReason.BadIcmpQuote;
                return false;
            }

            if (offset > quote.Length)
            {
                reason = MalformedReason.TruncatedIcmpQuote;
                return false;
            }

            protocol = quote[9];
            firstFragment = (BinaryPrimitives.ReadUInt16BigEndian(quote[6..]) & 0x1FFF) == 0;
        }

        var transportOffset = -1;
        if (firstFragment && protocol is IpProtocols.Tcp or IpProtocols.Udp)
        {
            if (quote.Length - offset < PortsLength)
            {
                reason = MalformedReason.TruncatedIcmpQuote;
                return false;
            }

            transportOffset = offset;
        }

        view = new IcmpQuoteView(quote, isV6, protocol, transportOffset);
        reason = MalformedReason.None;
        return true;
    }

    /// <summary>Walks the quoted extension headers like <see cref="IPv6View"/>, bounded by the quote, not the payload length.</summary>
    private static bool TryWalkIPv6(ReadOnlySpan<byte> quote, out int offset, out byte protocol, out bool firstFragment, out MalformedReason reason)
    {
        offset = IPv6View.HeaderLength;
        protocol = quote[6];
        firstFragment = true;
        for (var count = 0; ; count++)
        {
            int length;
            switch (protocol)
            {
                case IpProtocols.HopByHop or IpProtocols.Routing or IpProtocols.DestinationOptions or IpProtocols.Ah:
                    if (protocol == IpProtocols.HopByHop && offset != IPv6View.HeaderLength)
                    {
                        reason = MalformedReason.BadIcmpQuote;
                        return false;
                    }

                    if (quote.Length - offset < 2)
                    {
                        reason = MalformedReason.TruncatedIcmpQuote;
                        return false;
                    }

                    length = protocol == IpProtocols.Ah ? (quote[offset + 1] + 2) * 4 : (quote[offset + 1] + 1) * 8;
                    break;
                case IpProtocols.Fragment:
                    length = 8;
                    break;
                default:
                    reason = MalformedReason.None;
                    return true;
            }

            if (count == IPv6View.MaxExtensionHeaders)
            {
                reason = MalformedReason.BadIcmpQuote;
                return false;
            }

            if (quote.Length - offset < length)
            {
                reason = MalformedReason.TruncatedIcmpQuote;
                return false;
            }

            if (protocol == IpProtocols.Fragment && (BinaryPrimitives.ReadUInt16BigEndian(quote[(offset + 2)..]) & 0xFFF8) != 0)
            {
                firstFragment = false;
            }

            protocol = quote[offset];
            offset += length;
            if (!firstFragment)
            {
                // What follows a non-first fragment header is the middle of the data, not a header.
                reason = MalformedReason.None;
                return true;
            }
        }
    }
}
