using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// An IPv6 header plus its extension-header chain. Hop-by-hop (first only), routing, destination options, fragment and
/// AH headers are skipped; the walk stops at the first other next-header value (TCP, UDP, ICMPv6, ESP, no-next, …),
/// or at a non-first fragment, whose remaining bytes are not a transport header.
/// </summary>
public readonly ref struct IPv6View
{
    public const int HeaderLength = 40;
    public const int MaxExtensionHeaders = 8;

    private readonly ReadOnlySpan<byte> _packet;

    private IPv6View(ReadOnlySpan<byte> packet, byte upperProtocol, int upperOffset, int fragmentHeaderOffset)
    {
        _packet = packet;
        UpperLayerProtocol = upperProtocol;
        UpperLayerOffset = upperOffset;
        FragmentHeaderOffset = fragmentHeaderOffset;
    }

    public int PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_packet[4..]);

    /// <summary>The next-header value in the fixed header.</summary>
    public byte NextHeader => _packet[6];

    public byte HopLimit => _packet[7];

    public IpAddress128 Source => IpAddress128.ReadIPv6(_packet[8..]);

    public IpAddress128 Destination => IpAddress128.ReadIPv6(_packet[24..]);

    /// <summary>The protocol the extension-header walk stopped at.</summary>
    public byte UpperLayerProtocol { get; }

    /// <summary>Offset of the upper-layer header from the start of the IPv6 header.</summary>
    public int UpperLayerOffset { get; }

    /// <summary>Offset of the fragment header, or -1 when there is none.</summary>
    public int FragmentHeaderOffset { get; }

    public bool IsFragment => FragmentHeaderOffset >= 0;

    public int FragmentOffset => IsFragment ? BinaryPrimitives.ReadUInt16BigEndian(_packet[(FragmentHeaderOffset + 2)..]) & 0xFFF8 : 0;

    public bool MoreFragments => IsFragment && (_packet[FragmentHeaderOffset + 3] & 1) != 0;

    public uint FragmentIdentification => IsFragment ? BinaryPrimitives.ReadUInt32BigEndian(_packet[(FragmentHeaderOffset + 4)..]) : 0;

    /// <summary>True unless this is a non-first fragment.</summary>
    public bool HasTransportHeader => FragmentOffset == 0;

    /// <summary>The upper-layer bytes up to the payload length.</summary>
    public ReadOnlySpan<byte> UpperLayer => _packet[UpperLayerOffset..(HeaderLength + PayloadLength)];

    public static bool TryParse(ReadOnlySpan<byte> packet, out IPv6View view, out MalformedReason reason)
    {
        view = default;
        if (packet.Length < HeaderLength)
        {
            reason = MalformedReason.TruncatedIPv6;
            return false;
        }

        if (packet[0] >> 4 != 6)
        {
            reason = MalformedReason.BadIPv6Version;
            return false;
        }

        var end = HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        if (end > packet.Length)
        {
            reason = MalformedReason.TruncatedIPv6;
            return false;
        }

        var next = packet[6];
        var offset = HeaderLength;
        var fragmentHeader = -1;
        for (var count = 0; ; count++)
        {
            int length;
            switch (next)
            {
                case IpProtocols.HopByHop or IpProtocols.Routing or IpProtocols.DestinationOptions:
                    // RFC 8200 §4.1: hop-by-hop may only follow the fixed header.
                    if (next == IpProtocols.HopByHop && offset != HeaderLength)
                    {
                        reason = MalformedReason.BadIPv6ExtensionHeader;
                        return false;
                    }

                    if (end - offset < 2)
                    {
                        reason = MalformedReason.BadIPv6ExtensionHeader;
                        return false;
                    }

                    length = (packet[offset + 1] + 1) * 8;
                    break;
                case IpProtocols.Ah:
                    if (end - offset < 2)
                    {
                        reason = MalformedReason.BadIPv6ExtensionHeader;
                        return false;
                    }

                    length = (packet[offset + 1] + 2) * 4;
                    break;
                case IpProtocols.Fragment:
                    length = 8;
                    break;
                default:
                    view = new IPv6View(packet, next, offset, fragmentHeader);
                    reason = MalformedReason.None;
                    return true;
            }

            if (count == MaxExtensionHeaders || end - offset < length)
            {
                reason = MalformedReason.BadIPv6ExtensionHeader;
                return false;
            }

            var following = packet[offset];
            if (next == IpProtocols.Fragment)
            {
                fragmentHeader = offset;
                if ((BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]) & 0xFFF8) != 0)
                {
                    // A non-first fragment: what follows is the middle of the upper-layer data, not a header.
                    view = new IPv6View(packet, following, offset + length, fragmentHeader);
                    reason = MalformedReason.None;
                    return true;
                }
            }

            next = following;
            offset += length;
        }
    }
}
