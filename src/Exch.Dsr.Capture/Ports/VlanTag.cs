using System.Buffers.Binary;

namespace Exch.Dsr.Capture.Ports;

/// <summary>
/// Puts back an 802.1Q tag that the NIC or veth moved into the packet's metadata (tp_vlan_tci with
/// TP_STATUS_VLAN_VALID). The engine keeps tags as they are, so the frame it sees and re-injects must carry it.
/// </summary>
internal static class VlanTag
{
    public const int Length = 4;
    public const ushort Ieee8021QTpid = 0x8100;
    private const int MacPairLength = 12;

    /// <summary>
    /// Reinserts the tag in place: the two MAC addresses move 4 bytes towards the start and TPID + TCI fill the gap,
    /// exactly as libpcap does. <paramref name="frame"/> must have 4 writable bytes before it (the ring reserves them
    /// with PACKET_RESERVE). Returns the new start; the frame is 4 bytes longer.
    /// </summary>
    public static unsafe byte* InsertInPlace(byte* frame, ushort tpid, ushort tci)
    {
        byte* start = frame - Length;
        InsertInPlace(new Span<byte>(start, Length + MacPairLength), tpid, tci);
        return start;
    }

    /// <summary>
    /// The same over a span whose first 4 bytes are the headroom and whose frame starts at index 4; afterwards the
    /// tagged frame starts at index 0.
    /// </summary>
    public static void InsertInPlace(Span<byte> headroomAndFrame, ushort tpid, ushort tci)
    {
        // CopyTo has memmove semantics: the two ranges overlap.
        headroomAndFrame.Slice(Length, MacPairLength).CopyTo(headroomAndFrame);
        BinaryPrimitives.WriteUInt16BigEndian(headroomAndFrame[MacPairLength..], tpid);
        BinaryPrimitives.WriteUInt16BigEndian(headroomAndFrame[(MacPairLength + 2)..], tci);
    }
}
