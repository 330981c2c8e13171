using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// An Ethernet II header with any stack of 802.1Q / 802.1ad tags (up to <see cref="MaxTags"/>), read in place.
/// A length field (EtherType below 0x0600, IEEE 802.3) is reported as-is; the engine treats it as not ours.
/// </summary>
public readonly ref struct EthernetView
{
    public const int MaxTags = 4;
    public const int HeaderLengthWithoutTags = 14;

    private readonly ReadOnlySpan<byte> _frame;

    private EthernetView(ReadOnlySpan<byte> frame, int tagCount, ushort etherType)
    {
        _frame = frame;
        TagCount = tagCount;
        EtherType = etherType;
    }

    public MacAddress Destination => MacAddress.Read(_frame);

    public MacAddress Source => MacAddress.Read(_frame[6..]);

    public int TagCount { get; }

    /// <summary>The EtherType after the last tag.</summary>
    public ushort EtherType { get; }

    public int HeaderLength => HeaderLengthWithoutTags + (TagCount * 4);

    public ReadOnlySpan<byte> Payload => _frame[HeaderLength..];

    /// <summary>Tag <paramref name="index"/>, outermost first.</summary>
    public VlanTag GetTag(int index)
        => new(BinaryPrimitives.ReadUInt16BigEndian(_frame[(12 + (index * 4))..]), BinaryPrimitives.ReadUInt16BigEndian(_frame[(14 + (index * 4))..]));

    public static bool TryParse(ReadOnlySpan<byte> frame, out EthernetView view, out MalformedReason reason)
    {
        view = default;
        if (frame.Length < HeaderLengthWithoutTags)
        {
            reason = MalformedReason.TruncatedEthernet;
            return false;
        }

        var offset = 12;
        var tags = 0;
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        while (EtherTypes.IsVlanTag(etherType))
        {
            if (tags == MaxTags)
            {
                reason = MalformedReason.TooManyVlanTags;
                return false;
            }

            // A tag is TPID(2) + TCI(2), followed by the next EtherType(2).
            if (frame.Length < offset + 6)
            {
                reason = MalformedReason.TruncatedVlan;
                return false;
            }

            tags++;
            offset += 4;
            etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }

        view = new EthernetView(frame, tags, etherType);
        reason = MalformedReason.None;
        return true;
    }
}
