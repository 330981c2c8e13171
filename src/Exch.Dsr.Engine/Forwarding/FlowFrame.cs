using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Tables;

namespace Exch.Dsr.Engine.Forwarding;

/// <summary>
/// The shape nearly every frame of a client's flow has: Ethernet II with at most one 802.1Q tag, then IPv4 without
/// options and not fragmented, or IPv6 without extension headers, then TCP or UDP. Read with a few fixed loads
/// instead of the views' general walk, so the known-flow path and <see cref="ForwardingEngine.ProcessBatch"/> start
/// their table lookup sooner. It says yes only to frames the views would read the same way; anything else (options,
/// fragments, tag stacks, extension headers, and everything the views would call malformed) says no and takes the
/// general path.
/// </summary>
internal static class FlowFrame
{
    private const int EthernetHeader = 14;
    private const int TaggedEthernetHeader = 18;
    private const int IPv4Header = 20;
    private const int IPv6Header = 40;

    // Version 4, header length 5 words: no options.
    private const byte PlainIPv4 = 0x45;

    // More-fragments flag and fragment offset; the don't-fragment bit may be set.
    private const ushort FragmentBits = 0x3FFF;

    // The shortest frame the shape allows: untagged Ethernet, IPv4 without options, UDP.
    private const int MinimumLength = EthernetHeader + IPv4Header + UdpView.HeaderLength;

    /// <summary>Reads <paramref name="frame"/>'s flow when it has the common shape.</summary>
    public static bool TryRead(ReadOnlySpan<byte> frame, out FlowKey key, out TcpFlags flags)
    {
        key = default;
        var ipv4 = default(IPv4Flow);
        var shape = TryRead(frame, ref ipv4, ref key, out flags);
        if (shape == FlowShape.IPv4)
        {
            key = ipv4.ToFlowKey();
        }

        return shape != FlowShape.None;
    }

    /// <summary>
    /// Reads <paramref name="frame"/>'s flow when it has the common shape: an IPv4 flow into <paramref name="ipv4"/> in
    /// the form its connection entry compares, an IPv6 flow into <paramref name="key"/>; the other is left as it was.
    /// The fields are read at offsets each proven inside the frame by a length test before it (noted beside each), not
    /// by a bounds check per read: this runs for every frame, and the checks and slices of span reads were most of its
    /// cost.
    /// </summary>
    public static FlowShape TryRead(ReadOnlySpan<byte> frame, ref IPv4Flow ipv4, ref FlowKey key, out TcpFlags flags)
    {
        flags = TcpFlags.None;
        if (frame.Length < MinimumLength)
        {
            return FlowShape.None;
        }

        // Offsets up to MinimumLength (42) are inside the frame from here on.
        ref var start = ref MemoryMarshal.GetReference(frame);
        var network = EthernetHeader;
        var etherType = ReadUInt16(ref start, 12);
        if (etherType == EtherTypes.Vlan)
        {
            etherType = ReadUInt16(ref start, 16);
            network = TaggedEthernetHeader;
        }

        // At least 42 - 18 = 24 bytes from the network header on.
        ref var ip = ref Unsafe.Add(ref start, network);
        var ipLength = frame.Length - network;
        FlowShape shape;
        byte protocol;
        int transportLength;
        if (etherType == EtherTypes.IPv4)
        {
            if (ip != PlainIPv4)
            {
                return FlowShape.None;
            }

            int totalLength = ReadUInt16(ref ip, 2);
            if (totalLength < IPv4Header || totalLength > ipLength || (ReadUInt16(ref ip, 6) & FragmentBits) != 0)
            {
                return FlowShape.None;
            }

            // The header's 20 bytes are inside the 24; the transport's totalLength - 20 follow it, inside the frame.
            shape = FlowShape.IPv4;
            protocol = Unsafe.Add(ref ip, 9);
            transportLength = totalLength - IPv4Header;
            ref var transport = ref Unsafe.Add(ref ip, IPv4Header);
            if (!TryReadTransport(ref transport, transportLength, protocol, out flags))
            {
                return FlowShape.None;
            }

            ipv4 = new IPv4Flow(ReadUInt32(ref ip, 12), ReadUInt32(ref ip, 16), ReadUInt16(ref transport, 0), ReadUInt16(ref transport, 2), protocol);
        }
        else if (etherType == EtherTypes.IPv6)
        {
            if (ipLength < IPv6Header || ip >> 4 != 6)
            {
                return FlowShape.None;
            }

            // The header's 40 bytes are inside the frame; the payload's length follows it, inside the frame.
            transportLength = ReadUInt16(ref ip, 4);
            if (IPv6Header + transportLength > ipLength)
            {
                return FlowShape.None;
            }

            shape = FlowShape.IPv6;
            protocol = Unsafe.Add(ref ip, 6);
            ref var transport = ref Unsafe.Add(ref ip, IPv6Header);
            if (!TryReadTransport(ref transport, transportLength, protocol, out flags))
            {
                return FlowShape.None;
            }

            key = new FlowKey(
                new IpAddress128(ReadUInt64(ref ip, 8), ReadUInt64(ref ip, 16)),
                new IpAddress128(ReadUInt64(ref ip, 24), ReadUInt64(ref ip, 32)),
                ReadUInt16(ref transport, 0),
                ReadUInt16(ref transport, 2),
                protocol);
        }
        else
        {
            return FlowShape.None;
        }

        return shape;
    }

    /// <summary>
    /// Checks a TCP or UDP header of which <paramref name="length"/> bytes from <paramref name="transport"/> on are
    /// inside the frame, reading nothing past what its length test allows; true when the views would read it too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryReadTransport(ref byte transport, int length, byte protocol, out TcpFlags flags)
    {
        flags = TcpFlags.None;
        if (protocol == IpProtocols.Tcp)
        {
            if (length < TcpView.MinHeaderLength)
            {
                return false;
            }

            var headerLength = (Unsafe.Add(ref transport, 12) >> 4) * 4;
            if (headerLength < TcpView.MinHeaderLength || headerLength > length)
            {
                return false;
            }

            flags = (TcpFlags)Unsafe.Add(ref transport, 13);
            return true;
        }

        if (protocol == IpProtocols.Udp)
        {
            if (length < UdpView.HeaderLength)
            {
                return false;
            }

            int udpLength = ReadUInt16(ref transport, 4);
            return udpLength >= UdpView.HeaderLength && udpLength <= length;
        }

        return false;
    }

    private static ushort ReadUInt16(ref byte at, int offset)
        => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref at, offset)));

    private static uint ReadUInt32(ref byte at, int offset)
        => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref at, offset)));

    private static ulong ReadUInt64(ref byte at, int offset)
        => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref at, offset)));
}

/// <summary>What <see cref="FlowFrame"/> read of a frame: no flow, an IPv4 flow or an IPv6 flow.</summary>
internal enum FlowShape : byte
{
    None,
    IPv4,
    IPv6,
}
