using System.Buffers.Binary;
using System.Net;
using System.Diagnostics;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

/// <summary>
/// Frames for the namespace lab. Each carries the marker "EXCHDSR!" and a sequence number in its payload, so a
/// receiver can tell test frames from anything else on the link and check them byte for byte.
/// </summary>
internal static class LabFrames
{
    public const ushort LocalExperimentalEtherType = 0x88B5; // IEEE 802 local experimental ethertype 1
    public static readonly byte[] DestinationMac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];
    public static readonly byte[] SourceMac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
    private static readonly byte[] s_marker = "EXCHDSR!"u8.ToArray();

    /// <summary>An untagged frame of exactly <paramref name="length"/> bytes (at least 60) with ethertype 0x88B5.</summary>
    public static byte[] Marked(int sequence, int length = 60) => Build(sequence, length, vlanTci: null, LocalExperimentalEtherType, []);

    /// <summary>The same with an 802.1Q tag (TPID 0x8100) in the bytes.</summary>
    public static byte[] Tagged(int sequence, ushort tci, int length = 64) => Build(sequence, length, tci, LocalExperimentalEtherType, []);

    /// <summary>An IPv4 TCP segment (checksums left zero: nothing in the lab verifies them).</summary>
    public static byte[] Tcp(int sequence, string source, string destination, ushort sourcePort, ushort destinationPort, ushort? vlanTci = null)
    {
        var l3 = new byte[40];
        l3[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(2), (ushort)(40 + 12));
        l3[8] = 64;
        l3[9] = 6; // TCP
        IPAddress.Parse(source).TryWriteBytes(l3.AsSpan(12), out _);
        IPAddress.Parse(destination).TryWriteBytes(l3.AsSpan(16), out _);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(20), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(22), destinationPort);
        l3[32] = 0x50; // data offset 5 words
        l3[33] = 0x02; // SYN
        return Build(sequence, 0, vlanTci, 0x0800, l3);
    }

    /// <summary>
    /// An ICMP destination-unreachable / fragmentation-needed (type 3 code 4) from <paramref name="router"/> to
    /// <paramref name="quotedSource"/>, quoting the IPv4 header and first 8 bytes of a TCP segment
    /// <paramref name="quotedSource"/> → <paramref name="quotedDestination"/>, as a router sends it about a reply too
    /// large for its next hop.
    /// </summary>
    public static byte[] Ipv4FragmentationNeeded(int sequence, string router, string quotedSource, string quotedDestination, ushort? vlanTci = null)
    {
        var l3 = new byte[20 + 8 + 20 + 8];
        WriteIpv4Header(l3, router, quotedSource, 1, l3.Length);
        l3[20] = 3;
        l3[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(26), 1400); // next-hop MTU
        WriteIpv4Header(l3.AsSpan(28), quotedSource, quotedDestination, 6, 1500);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(48), 443);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(50), 50000);
        return Build(sequence, 0, vlanTci, 0x0800, l3);
    }

    /// <summary>A non-first IPv4 fragment (offset 1480 bytes) of a UDP datagram: no transport header in it.</summary>
    public static byte[] Ipv4LaterFragment(int sequence, string source, string destination)
    {
        var l3 = new byte[20];
        WriteIpv4Header(l3, source, destination, 17, 20 + 24);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(6), 1480 / 8);
        return Build(sequence, 0, null, 0x0800, l3);
    }

    /// <summary>An IPv6 TCP segment.</summary>
    public static byte[] Tcp6(int sequence, string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        var l3 = new byte[40 + 20];
        WriteIpv6Header(l3, source, destination, 6, 20 + 12);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(40), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(l3.AsSpan(42), destinationPort);
        l3[52] = 0x50;
        l3[53] = 0x02;
        return Build(sequence, 0, null, 0x86DD, l3);
    }

    /// <summary>An ICMPv6 packet-too-big from <paramref name="router"/> quoting a TCP segment <paramref name="quotedSource"/> → <paramref name="quotedDestination"/>.</summary>
    public static byte[] Ipv6PacketTooBig(int sequence, string router, string quotedSource, string quotedDestination)
    {
        var l3 = new byte[40 + 8 + 40 + 8];
        WriteIpv6Header(l3, router, quotedSource, 58, l3.Length - 40 + 12);
        l3[40] = 2;
        BinaryPrimitives.WriteUInt32BigEndian(l3.AsSpan(44), 1280);
        WriteIpv6Header(l3.AsSpan(48), quotedSource, quotedDestination, 6, 1440);
        return Build(sequence, 0, null, 0x86DD, l3);
    }

    private static void WriteIpv4Header(Span<byte> header, string source, string destination, byte protocol, int totalLength)
    {
        header[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)totalLength);
        header[8] = 64;
        header[9] = protocol;
        IPAddress.Parse(source).TryWriteBytes(header[12..], out _);
        IPAddress.Parse(destination).TryWriteBytes(header[16..], out _);
    }

    private static void WriteIpv6Header(Span<byte> header, string source, string destination, byte nextHeader, int payloadLength)
    {
        header[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)payloadLength);
        header[6] = nextHeader;
        header[7] = 64;
        IPAddress.Parse(source).TryWriteBytes(header[8..], out _);
        IPAddress.Parse(destination).TryWriteBytes(header[24..], out _);
    }

    /// <summary>An ARP request for <paramref name="target"/>.</summary>
    public static byte[] Arp(int sequence, string target, ushort? vlanTci = null)
    {
        var arp = new byte[28];
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(2), 0x0800);
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(6), 1);
        SourceMac.CopyTo(arp, 8);
        IPAddress.Parse("192.0.2.1").TryWriteBytes(arp.AsSpan(14), out _);
        IPAddress.Parse(target).TryWriteBytes(arp.AsSpan(24), out _);
        return Build(sequence, 0, vlanTci, 0x0806, arp);
    }

    /// <summary>The sequence number of a lab frame, or -1 for anything else.</summary>
    public static int SequenceOf(ReadOnlySpan<byte> frame)
    {
        int at = frame.IndexOf(s_marker);
        return at < 0 || at + s_marker.Length + 4 > frame.Length ? -1 : BinaryPrimitives.ReadInt32BigEndian(frame[(at + s_marker.Length)..]);
    }

    private static byte[] Build(int sequence, int length, ushort? vlanTci, ushort etherType, byte[] l3)
    {
        int header = vlanTci is null ? 14 : 18;
        int minimum = header + l3.Length + s_marker.Length + 4;
        var frame = new byte[Math.Max(Math.Max(length, minimum), 60)];
        DestinationMac.CopyTo(frame, 0);
        SourceMac.CopyTo(frame, 6);
        if (vlanTci is ushort tci)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), VlanTagTpid);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), tci);
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(header - 2), etherType);
        l3.CopyTo(frame, header);
        int at = header + l3.Length;
        s_marker.CopyTo(frame, at);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(at + s_marker.Length), sequence);
        for (int i = at + s_marker.Length + 4; i < frame.Length; i++)
        {
            frame[i] = (byte)((i * 31) + sequence);
        }

        return frame;
    }

    private const ushort VlanTagTpid = 0x8100;
}

/// <summary>Receive loops bounded in time, keeping copies of the lab frames that arrived.</summary>
internal static class Receiving
{
    /// <summary>
    /// Receives until <paramref name="expected"/> lab frames arrived or <paramref name="timeout"/> passed; returns them
    /// by sequence number, with the largest batch seen.
    /// </summary>
    public static (Dictionary<int, byte[]> Frames, int LargestBatch) Collect(IFramePort port, int expected, TimeSpan timeout, int batchCapacity = 64)
    {
        var batch = new FrameBatch(batchCapacity);
        var frames = new Dictionary<int, byte[]>();
        int largest = 0;
        var clock = Stopwatch.StartNew();
        while (frames.Count < expected && clock.Elapsed < timeout)
        {
            int count = port.Receive(batch, 50);
            largest = Math.Max(largest, count);
            for (int i = 0; i < count; i++)
            {
                int sequence = LabFrames.SequenceOf(batch[i]);
                if (sequence >= 0)
                {
                    frames[sequence] = batch[i].ToArray();
                }
            }
        }

        return (frames, largest);
    }

    /// <summary>Everything that arrives within <paramref name="window"/>, lab frames only.</summary>
    public static Dictionary<int, byte[]> Drain(IFramePort port, TimeSpan window) => Collect(port, int.MaxValue, window).Frames;

    public static void SendAll(IFramePort port, IEnumerable<byte[]> frames)
    {
        foreach (byte[] frame in frames)
        {
            Assert.That(port.TrySend(frame), Is.True, "TrySend refused a lab frame");
        }

        port.Flush();
    }
}
