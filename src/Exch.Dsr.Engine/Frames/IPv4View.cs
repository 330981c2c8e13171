using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>An IPv4 header with options, bounded by its total length (Ethernet padding after it is ignored).</summary>
public readonly ref struct IPv4View
{
    public const int MinHeaderLength = 20;

    private readonly ReadOnlySpan<byte> _packet;

    private IPv4View(ReadOnlySpan<byte> packet) => _packet = packet;

    public int HeaderLength => (_packet[0] & 0x0F) * 4;

    public int TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_packet[2..]);

    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_packet[4..]);

    public bool DontFragment => (_packet[6] & 0x40) != 0;

    public bool MoreFragments => (_packet[6] & 0x20) != 0;

    /// <summary>Fragment offset in bytes (the header field counts 8-byte units).</summary>
    public int FragmentOffset => (BinaryPrimitives.ReadUInt16BigEndian(_packet[6..]) & 0x1FFF) * 8;

    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    /// <summary>True for an unfragmented packet or the first fragment: the only ones carrying the transport header.</summary>
    public bool HasTransportHeader => FragmentOffset == 0;

    public byte Ttl => _packet[8];

    public byte Protocol => _packet[9];

    public IpAddress128 Source => IpAddress128.ReadIPv4(_packet[12..]);

    public IpAddress128 Destination => IpAddress128.ReadIPv4(_packet[16..]);

    public ReadOnlySpan<byte> Options => _packet[MinHeaderLength..HeaderLength];

    /// <summary>The bytes after the header up to the total length.</summary>
    public ReadOnlySpan<byte> Payload => _packet[HeaderLength..TotalLength];

    public static bool TryParse(ReadOnlySpan<byte> packet, out IPv4View view, out MalformedReason reason)
    {
        view = default;
        if (packet.Length < MinHeaderLength)
        {
            reason = MalformedReason.TruncatedIPv4;
            return false;
        }

        if (packet[0] >> 4 != 4)
        {
            reason = MalformedReason.BadIPv4Version;
            return false;
        }

        var headerLength = (packet[0] & 0x0F) * 4;
        if (headerLength < MinHeaderLength)
        {
            reason = MalformedReason.BadIPv4HeaderLength;
            return false;
        }

        if (headerLength > packet.Length)
        {
            reason = MalformedReason.TruncatedIPv4;
            return false;
        }

        var totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (totalLength < headerLength)
        {
            reason = MalformedReason.BadIPv4TotalLength;
            return false;
        }

        if (totalLength > packet.Length)
        {
            reason = MalformedReason.TruncatedIPv4;
            return false;
        }

        view = new IPv4View(packet);
        reason = MalformedReason.None;
        return true;
    }
}
