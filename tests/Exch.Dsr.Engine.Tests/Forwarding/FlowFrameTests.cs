using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Tables;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// <see cref="FlowFrame"/> reads the common frame shape at fixed offsets; whenever it says yes, the general views
/// must read the very same flow and flags from the frame, and it must say no to every other shape.
/// </summary>
public sealed class FlowFrameTests
{
    private static readonly byte[][] CommonShapes =
    [
        TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack | TcpFlags.Psh, "GET /owa"u8),
        TestFrames.Tcp("192.0.2.7", 40001, "198.51.100.1", 135, TcpFlags.Syn, outer: VlanTag.Customer(42)),
        TestFrames.Udp("192.0.2.8", 5353, "198.51.100.2", 53, "query"u8),
        TestFrames.Tcp("2001:db8:1::7", 40000, "2001:db8::10", 443, TcpFlags.Fin | TcpFlags.Ack),
        TestFrames.Udp("2001:db8:1::8", 5353, "2001:db8::10", 53, "query"u8, outer: VlanTag.Customer(7)),
    ];

    [Test]
    public void ReadsTheCommonShapesAsTheViewsDo()
    {
        foreach (var frame in CommonShapes)
        {
            Assert.That(FlowFrame.TryRead(frame, out var key, out var flags), Is.True);
            Assert.That(General(frame), Is.EqualTo((true, key, flags)));
        }
    }

    [Test]
    public void ReadsAnIPv4FlowInItsEntrysFormAndAnIPv6FlowAsAKeyLeavingTheOtherAlone()
    {
        var untouchedKey = new FlowKey(IpAddress128.Parse("2001:db8::dead"), IpAddress128.Parse("2001:db8::beef"), 1, 2, 17);
        var untouchedFlow = new IPv4Flow(0xDEAD_BEEF, 0xFEED_FACE, 3, 4, 6);
        foreach (var frame in CommonShapes)
        {
            var (ipv4, key) = (untouchedFlow, untouchedKey);
            var shape = FlowFrame.TryRead(frame, ref ipv4, ref key, out var flags);
            var (_, expected, expectedFlags) = General(frame);
            Assert.That(flags, Is.EqualTo(expectedFlags));
            if (expected.Client.IsIPv4)
            {
                Assert.That((shape, ipv4, key), Is.EqualTo((FlowShape.IPv4, IPv4Flow.From(expected), untouchedKey)));
                Assert.That(ipv4.ToFlowKey(), Is.EqualTo(expected));
            }
            else
            {
                Assert.That((shape, ipv4, key), Is.EqualTo((FlowShape.IPv6, untouchedFlow, expected)));
            }
        }
    }

    [Test]
    public void SaysNoToEveryOtherShape()
    {
        var tcp = CommonShapes[0];
        var (first, second) = TestFrames.SplitIPv4(TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack, new byte[64]), 32);
        var others = new Dictionary<string, byte[]>
        {
            ["QinQ"] = TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack, outer: new VlanTag(EtherTypes.ServiceVlan, 100), inner: VlanTag.Customer(42)),
            ["first fragment"] = first,
            ["later fragment"] = second,
            ["IPv4 options"] = WithIPv4Options(tcp),
            ["IPv6 extension header"] = TestFrames.IPv6Raw("2001:db8:1::7", "2001:db8::10", IpProtocols.DestinationOptions, [.. TestFrames.OptionsHeader(IpProtocols.Tcp), .. TestFrames.TcpHeaderBytes(40000, 443, TcpFlags.Ack)]),
            ["ICMP"] = TestFrames.EchoRequest("192.0.2.7", "198.51.100.1"),
            ["ARP"] = TestFrames.ArpRequest("192.0.2.7", "198.51.100.1"),
            ["truncated TCP"] = Edit(tcp, f => WriteTotalLength(f, 14, 20 + 12)),
            ["TCP data offset below 5"] = Edit(tcp, f => f[14 + 20 + 12] = 0x40),
            ["TCP data offset past the segment"] = Edit(tcp, f => f[14 + 20 + 12] = 0xF0),
            ["total length past the frame"] = Edit(tcp, f => WriteTotalLength(f, 14, f.Length)),
            ["UDP length past the datagram"] = Edit(CommonShapes[2], f => f[14 + 20 + 4] = 0xFF),
            ["runt"] = tcp[..40],
        };

        foreach (var (name, frame) in others)
        {
            Assert.That(FlowFrame.TryRead(frame, out _, out _), Is.False, name);
        }
    }

    [Test]
    public void NeverDisagreesWithTheViewsOnMutatedFrames([Values(1, 2, 3)] int seed)
    {
        var random = new Random(seed);
        var (yes, no) = (0, 0);
        for (var i = 0; i < 50_000; i++)
        {
            var frame = (byte[])CommonShapes[random.Next(CommonShapes.Length)].Clone();
            for (var edits = random.Next(1, 4); edits > 0; edits--)
            {
                // Most edits land in the headers, where every length, version and offset field is.
                var at = random.Next(random.Next(4) == 0 ? frame.Length : Math.Min(frame.Length, 80));
                frame[at] = (byte)random.Next(256);
            }

            if (random.Next(8) == 0)
            {
                frame = frame[..random.Next(frame.Length)];
            }

            if (FlowFrame.TryRead(frame, out var key, out var flags))
            {
                yes++;
                Assert.That(General(frame), Is.EqualTo((true, key, flags)), Convert.ToHexString(frame));
            }
            else
            {
                no++;
            }
        }

        Assert.That(yes, Is.GreaterThan(5_000), "mutations the short read still takes");
        Assert.That(no, Is.GreaterThan(5_000), "mutations it turns away");
    }

    /// <summary>What the engine's general path reads: a flow only for an unfragmented TCP or UDP packet.</summary>
    private static (bool Ok, FlowKey Key, TcpFlags Flags) General(ReadOnlySpan<byte> frame)
    {
        if (!EthernetView.TryParse(frame, out var eth, out _))
        {
            return default;
        }

        IpAddress128 source, destination;
        byte protocol;
        ReadOnlySpan<byte> upper;
        if (eth.EtherType == EtherTypes.IPv4 && IPv4View.TryParse(eth.Payload, out var v4, out _) && !v4.IsFragment)
        {
            (source, destination, protocol) = (v4.Source, v4.Destination, v4.Protocol);
            upper = v4.Payload;
        }
        else if (eth.EtherType == EtherTypes.IPv6 && IPv6View.TryParse(eth.Payload, out var v6, out _) && !v6.IsFragment)
        {
            (source, destination, protocol) = (v6.Source, v6.Destination, v6.UpperLayerProtocol);
            upper = v6.UpperLayer;
        }
        else
        {
            return default;
        }

        if (protocol == IpProtocols.Tcp && TcpView.TryParse(upper, out var tcp, out _))
        {
            return (true, new FlowKey(source, destination, tcp.SourcePort, tcp.DestinationPort, protocol), tcp.Flags);
        }

        if (protocol == IpProtocols.Udp && UdpView.TryParse(upper, false, out var udp, out _))
        {
            return (true, new FlowKey(source, destination, udp.SourcePort, udp.DestinationPort, protocol), TcpFlags.None);
        }

        return default;
    }

    private static byte[] Edit(byte[] frame, params Action<byte[]>[] edits)
    {
        var copy = (byte[])frame.Clone();
        foreach (var edit in edits)
        {
            edit(copy);
        }

        return copy;
    }

    private static void WriteTotalLength(byte[] frame, int ipOffset, int length)
        => System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(ipOffset + 2), (ushort)length);

    /// <summary>The same TCP frame with a 4-byte IPv4 option (NOP × 4): header length 6 words.</summary>
    private static byte[] WithIPv4Options(byte[] frame)
    {
        byte[] withOptions = [.. frame[..34], 1, 1, 1, 1, .. frame[34..]];
        withOptions[14] = 0x46;
        WriteTotalLength(withOptions, 14, frame.Length - 14 + 4);
        return withOptions;
    }
}
