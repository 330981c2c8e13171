using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>A TCP header (RFC 9293), options included in <see cref="HeaderLength"/>.</summary>
public readonly ref struct TcpView
{
    public const int MinHeaderLength = 20;

    private readonly ReadOnlySpan<byte> _segment;

    private TcpView(ReadOnlySpan<byte> segment) => _segment = segment;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_segment);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_segment[2..]);

    public uint Sequence => BinaryPrimitives.ReadUInt32BigEndian(_segment[4..]);

    public uint Acknowledgement => BinaryPrimitives.ReadUInt32BigEndian(_segment[8..]);

    public int HeaderLength => (_segment[12] >> 4) * 4;

    public TcpFlags Flags => (TcpFlags)_segment[13];

    public ReadOnlySpan<byte> Payload => _segment[HeaderLength..];

    public static bool TryParse(ReadOnlySpan<byte> segment, out TcpView view, out MalformedReason reason)
    {
        view = default;
        if (segment.Length < MinHeaderLength)
        {
            reason = MalformedReason.TruncatedTcp;
            return false;
        }

        var headerLength = (segment[12] >> 4) * 4;
        if (headerLength < MinHeaderLength)
        {
            reason = MalformedReason.BadTcpDataOffset;
            return false;
        }

        if (headerLength > segment.Length)
        {
            reason = MalformedReason.TruncatedTcp;
            return false;
        }

        view = new TcpView(segment);
        reason = MalformedReason.None;
        return true;
    }
}

/// <summary>A UDP header (RFC 768).</summary>
public readonly ref struct UdpView
{
    public const int HeaderLength = 8;

    private readonly ReadOnlySpan<byte> _datagram;

    private UdpView(ReadOnlySpan<byte> datagram) => _datagram = datagram;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_datagram);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_datagram[2..]);

    public int Length => BinaryPrimitives.ReadUInt16BigEndian(_datagram[4..]);

    /// <param name="datagram">The IP payload.</param>
    /// <param name="isFragmented">
    /// True for a first fragment: its length field covers the whole datagram, more than this packet carries.
    /// </param>
    public static bool TryParse(ReadOnlySpan<byte> datagram, bool isFragmented, out UdpView view, out MalformedReason reason)
    {
        view = default;
        if (datagram.Length < HeaderLength)
        {
            reason = MalformedReason.TruncatedUdp;
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]);

        // Length 0 is legal only for IPv6 jumbograms (RFC 2675), which the engine does not carry.
        if (length < HeaderLength)
        {
            reason = MalformedReason.BadUdpLength;
            return false;
        }

        if (!isFragmented && length > datagram.Length)
        {
            reason = MalformedReason.TruncatedUdp;
            return false;
        }

        view = new UdpView(datagram);
        reason = MalformedReason.None;
        return true;
    }
}

/// <summary>An ICMP or ICMPv6 message: the two share the type/code/checksum/rest-of-header layout.</summary>
public readonly ref struct IcmpView
{
    public const int HeaderLength = 8;

    /// <summary>Neighbour solicitation: 8-byte header then the 16-byte target address.</summary>
    public const int NeighborSolicitationLength = 24;

    private readonly ReadOnlySpan<byte> _message;

    private IcmpView(ReadOnlySpan<byte> message) => _message = message;

    public byte Type => _message[0];

    public byte Code => _message[1];

    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_message[2..]);

    /// <summary>Echo identifier (bytes 4-5).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_message[4..]);

    /// <summary>Echo sequence number (bytes 6-7).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_message[6..]);

    public ReadOnlySpan<byte> Body => _message[HeaderLength..];

    /// <summary>The target of an ICMPv6 neighbour solicitation or advertisement.</summary>
    public IpAddress128 NeighborTarget => IpAddress128.ReadIPv6(_message[8..]);

    public static bool TryParse(ReadOnlySpan<byte> message, bool isV6, out IcmpView view, out MalformedReason reason)
    {
        view = default;
        var truncated = isV6 ? MalformedReason.TruncatedIcmpv6 : MalformedReason.TruncatedIcmp;
        if (message.Length < HeaderLength)
        {
            reason = truncated;
            return false;
        }

        if (isV6 && message[0] is IcmpTypes.V6NeighborSolicitation or IcmpTypes.V6NeighborAdvertisement
            && message.Length < NeighborSolicitationLength)
        {
            reason = truncated;
            return false;
        }

        view = new IcmpView(message);
        reason = MalformedReason.None;
        return true;
    }
}
