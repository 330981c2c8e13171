using System.Buffers.Binary;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.TestSupport;

/// <summary>Well-known addresses used across the engine tests.</summary>
public static class TestAddresses
{
    public static readonly MacAddress Appliance = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress Router = MacAddress.Parse("02:00:00:00:00:fe");

    public static MacAddress Server(int index) => MacAddress.FromUInt64(0x02_00_00_00_10_00UL + (ulong)index);

    public static IpAddress128 Ip(string text) => IpAddress128.Parse(text);
}

/// <summary>Frame builders on top of <see cref="FrameComposer"/>; each returns a fresh array sized exactly.</summary>
public static class TestFrames
{
    private const int Max = 9000;
    private const int EthernetHeaderLength = 14;

    /// <summary>A client→VIP TCP frame as the router delivers it to the appliance.</summary>
    public static byte[] Tcp(string client, ushort clientPort, string vip, ushort vipPort, TcpFlags flags, ReadOnlySpan<byte> payload = default, VlanTag outer = default, VlanTag inner = default)
        => Tcp(new L2Header(TestAddresses.Appliance, TestAddresses.Router, outer, inner), new IpHeader(TestAddresses.Ip(client), TestAddresses.Ip(vip)), new TcpHeader(clientPort, vipPort, flags, 1000, flags.HasFlag(TcpFlags.Ack) ? 2000u : 0u), payload);

    public static byte[] Tcp(in L2Header l2, in IpHeader ip, in TcpHeader tcp, ReadOnlySpan<byte> payload = default)
    {
        var buffer = new byte[Max];
        if (!FrameComposer.TryComposeTcp(buffer, l2, ip, tcp, payload, out var written))
        {
            throw new InvalidOperationException("frame too large");
        }

        return buffer[..written];
    }

    public static byte[] Udp(string client, ushort clientPort, string vip, ushort vipPort, ReadOnlySpan<byte> payload = default, VlanTag outer = default)
    {
        var buffer = new byte[Max];
        var l2 = new L2Header(TestAddresses.Appliance, TestAddresses.Router, outer);
        if (!FrameComposer.TryComposeUdp(buffer, l2, new IpHeader(TestAddresses.Ip(client), TestAddresses.Ip(vip)), clientPort, vipPort, payload, out var written))
        {
            throw new InvalidOperationException("frame too large");
        }

        return buffer[..written];
    }

    public static byte[] EchoRequest(string client, string target)
    {
        var buffer = new byte[Max];
        FrameComposer.TryComposeEcho(buffer, new L2Header(TestAddresses.Appliance, TestAddresses.Router), new IpHeader(TestAddresses.Ip(client), TestAddresses.Ip(target)), false, 1, 1, "ping"u8, out var written);
        return buffer[..written];
    }

    public static byte[] ArpRequest(string sender, string target)
    {
        var buffer = new byte[Max];
        FrameComposer.TryComposeArp(buffer, new L2Header(MacAddress.Broadcast, TestAddresses.Router), ArpView.OperationRequest, TestAddresses.Router, TestAddresses.Ip(sender), MacAddress.Zero, TestAddresses.Ip(target), out var written);
        return buffer[..written];
    }

    /// <summary>An ICMPv6 neighbour solicitation for <paramref name="target"/>, sent to its solicited-node group.</summary>
    public static byte[] NeighborSolicitation(string sender, string target)
    {
        var t = TestAddresses.Ip(target);
        var solicitedNode = new IpAddress128(0xFF02_0000_0000_0000UL, 0x0000_0001_FF00_0000UL | (t.Low & 0xFFFFFF));
        Span<byte> body = stackalloc byte[16];
        t.WriteIPv6(body);
        var buffer = new byte[Max];
        FrameComposer.TryComposeIcmp(buffer, new L2Header(MacAddress.Parse("33:33:ff:00:00:01"), TestAddresses.Router), new IpHeader(TestAddresses.Ip(sender), solicitedNode, 255), IcmpTypes.V6NeighborSolicitation, 0, 0, body, out var written);
        return buffer[..written];
    }

    /// <summary>
    /// Splits an unfragmented IPv4 frame (no VLAN tags) into two fragments: the first carries
    /// <paramref name="firstPayloadBytes"/> (a multiple of 8) of the IP payload with MF set, the second the rest.
    /// </summary>
    public static (byte[] First, byte[] Second) SplitIPv4(byte[] frame, int firstPayloadBytes, ushort identification = 0x4242)
    {
        const int l3 = 14;
        var ihl = (frame[l3] & 0xF) * 4;
        var total = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(l3 + 2));
        var payload = frame.AsSpan(l3 + ihl, total - ihl);

        byte[] Make(ReadOnlySpan<byte> part, int offsetBytes, bool more)
        {
            var f = new byte[l3 + ihl + part.Length];
            frame.AsSpan(0, l3 + ihl).CopyTo(f);
            var ip = f.AsSpan(l3);
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(ihl + part.Length));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], identification);
            BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)((more ? 0x2000 : 0) | (offsetBytes / 8)));
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..ihl]));
            part.CopyTo(f.AsSpan(l3 + ihl));
            return f;
        }

        return (Make(payload[..firstPayloadBytes], 0, true), Make(payload[firstPayloadBytes..], firstPayloadBytes, false));
    }

    /// <summary>
    /// An IPv6 frame with arbitrary bytes after the fixed header: <paramref name="firstNextHeader"/> names the first
    /// of them (an extension header or the upper layer).
    /// </summary>
    public static byte[] IPv6Raw(string source, string destination, byte firstNextHeader, ReadOnlySpan<byte> afterHeader, VlanTag outer = default)
    {
        var l2 = new L2Header(TestAddresses.Appliance, TestAddresses.Router, outer);
        var buffer = new byte[l2.Length + IPv6View.HeaderLength + afterHeader.Length];
        var offset = FrameComposer.WriteEthernetHeader(buffer, l2, EtherTypes.IPv6);
        offset += FrameComposer.WriteIPHeader(buffer.AsSpan(offset), new IpHeader(TestAddresses.Ip(source), TestAddresses.Ip(destination)), firstNextHeader, afterHeader.Length);
        afterHeader.CopyTo(buffer.AsSpan(offset));
        return buffer;
    }

    /// <summary>A bare 20-byte TCP header (checksum left zero: the engine never reads it).</summary>
    public static byte[] TcpHeaderBytes(ushort sourcePort, ushort destinationPort, TcpFlags flags)
    {
        var h = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(h, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), destinationPort);
        h[12] = 5 << 4;
        h[13] = (byte)flags;
        return h;
    }

    /// <summary>An 8-byte IPv6 fragment header.</summary>
    public static byte[] FragmentHeader(byte next, int offsetBytes, bool more, uint identification)
    {
        var h = new byte[8];
        h[0] = next;
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), (ushort)(offsetBytes | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), identification);
        return h;
    }

    /// <summary>An options-style extension header (hop-by-hop, routing, destination options) of 8 bytes, PadN-filled.</summary>
    public static byte[] OptionsHeader(byte next)
    {
        var h = new byte[8];
        h[0] = next;
        h[1] = 0;
        h[2] = 1; // PadN
        h[3] = 4;
        return h;
    }

    /// <summary>
    /// The IP packet (no Ethernet header) a real server sends back under DSR: VIP:port → client:port, TCP ACK|PSH with
    /// <paramref name="payloadBytes"/> of data: what a router quotes in an ICMP error.
    /// </summary>
    public static byte[] ServerReply(string vip, ushort vipPort, string client, ushort clientPort, int payloadBytes = 1400, bool udp = false)
    {
        var payload = new byte[payloadBytes];
        var frame = udp
            ? Udp(vip, vipPort, client, clientPort, payload)
            : Tcp(vip, vipPort, client, clientPort, TcpFlags.Ack | TcpFlags.Psh, payload);
        return frame[EthernetHeaderLength..];
    }

    /// <summary>
    /// An ICMP (IPv4 source) or ICMPv6 error from router <paramref name="from"/> to <paramref name="to"/> quoting the
    /// first <paramref name="quoteBytes"/> bytes of <paramref name="quoted"/> (all of them when null), as the router
    /// delivers it to the appliance. <paramref name="restOfHeader"/> is e.g. the next-hop MTU.
    /// </summary>
    public static byte[] IcmpError(string from, string to, byte type, byte code, uint restOfHeader, byte[] quoted, int? quoteBytes = null)
    {
        var buffer = new byte[Max];
        var quote = quoted.AsSpan(0, Math.Min(quoteBytes ?? quoted.Length, quoted.Length));
        if (!FrameComposer.TryComposeIcmp(buffer, new L2Header(TestAddresses.Appliance, TestAddresses.Router), new IpHeader(TestAddresses.Ip(from), TestAddresses.Ip(to)), type, code, restOfHeader, quote, out var written))
        {
            throw new InvalidOperationException("frame too large");
        }

        return buffer[..written];
    }

    /// <summary>The expected forwarded frame: destination MAC = server, source MAC = appliance, every other byte kept.</summary>
    public static byte[] Rewritten(byte[] frame, MacAddress destination, MacAddress source)
    {
        var copy = (byte[])frame.Clone();
        destination.WriteTo(copy);
        source.WriteTo(copy.AsSpan(6));
        return copy;
    }
}
