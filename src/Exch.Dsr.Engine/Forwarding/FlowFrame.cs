using System.Buffers.Binary;
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

    public static bool TryRead(ReadOnlySpan<byte> frame, out FlowKey key, out TcpFlags flags)
    {
        key = default;
        flags = TcpFlags.None;
        if (frame.Length < EthernetHeader + IPv4Header + UdpView.HeaderLength)
        {
            return false;
        }

        var network = EthernetHeader;
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (etherType == EtherTypes.Vlan)
        {
            etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
            network = TaggedEthernetHeader;
        }

        var ip = frame[network..];
        IpAddress128 source, destination;
        byte protocol;
        ReadOnlySpan<byte> transport;
        if (etherType == EtherTypes.IPv4)
        {
            if (ip.Length < IPv4Header || ip[0] != PlainIPv4)
            {
                return false;
            }

            var totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
            if (totalLength < IPv4Header || totalLength > ip.Length || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & FragmentBits) != 0)
            {
                return false;
            }

            protocol = ip[9];
            source = IpAddress128.ReadIPv4(ip[12..]);
            destination = IpAddress128.ReadIPv4(ip[16..]);
            transport = ip[IPv4Header..totalLength];
        }
        else if (etherType == EtherTypes.IPv6)
        {
            if (ip.Length < IPv6Header || ip[0] >> 4 != 6)
            {
                return false;
            }

            var end = IPv6Header + BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
            if (end > ip.Length)
            {
                return false;
            }

            protocol = ip[6];
            source = IpAddress128.ReadIPv6(ip[8..]);
            destination = IpAddress128.ReadIPv6(ip[24..]);
            transport = ip[IPv6Header..end];
        }
        else
        {
            return false;
        }

        if (protocol == IpProtocols.Tcp)
        {
            if (transport.Length < TcpView.MinHeaderLength)
            {
                return false;
            }

            var headerLength = (transport[12] >> 4) * 4;
            if (headerLength < TcpView.MinHeaderLength || headerLength > transport.Length)
            {
                return false;
            }

            flags = (TcpFlags)transport[13];
        }
        else if (protocol == IpProtocols.Udp)
        {
            if (transport.Length < UdpView.HeaderLength)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(transport[4..]);
            if (length < UdpView.HeaderLength || length > transport.Length)
            {
                return false;
            }
        }
        else
        {
            return false;
        }

        key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt16BigEndian(transport), BinaryPrimitives.ReadUInt16BigEndian(transport[2..]), protocol);
        return true;
    }
}
