using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// {description, input frame, expected verdict, expected output frame}. Services: 198.51.100.1 tcp 443/80 and
/// udp 53, 2001:db8::1 tcp 443, each with the single member cas1, so the expected server is known.
/// </summary>
public sealed class GoldenForwardingTests
{
    private static readonly MacAddress Cas1 = TestAddresses.Server(1);

    private static byte[] Fwd(byte[] frame) => TestFrames.Rewritten(frame, Cas1, TestAddresses.Appliance);

    private static TestCaseData Case(string description, byte[] input, ForwardVerdict verdict, byte[] output)
        => new TestCaseData(input, verdict, output).SetName(description);

    private static IEnumerable<TestCaseData> Cases()
    {
        var syn = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 443, TcpFlags.Syn, "x"u8);
        yield return Case("IPv4 SYN: destination MAC rewritten to the real server, source to ours, every other byte identical", syn, ForwardVerdict.Forwarded, Fwd(syn));

        var dot1q = TestFrames.Tcp("192.0.2.10", 40001, "198.51.100.1", 80, TcpFlags.Syn, outer: VlanTag.Customer(10));
        yield return Case("802.1Q: tag kept byte for byte", dot1q, ForwardVerdict.Forwarded, Fwd(dot1q));

        var qinq = TestFrames.Tcp("192.0.2.10", 40002, "198.51.100.1", 443, TcpFlags.Syn, outer: VlanTag.Service(100), inner: VlanTag.Customer(200));
        yield return Case("QinQ: both tags kept byte for byte", qinq, ForwardVerdict.Forwarded, Fwd(qinq));

        var v6 = TestFrames.Tcp("2001:db8:1::10", 40003, "2001:db8::1", 443, TcpFlags.Syn);
        yield return Case("IPv6 SYN", v6, ForwardVerdict.Forwarded, Fwd(v6));

        byte[] ext = [.. TestFrames.OptionsHeader(IpProtocols.DestinationOptions), .. TestFrames.OptionsHeader(IpProtocols.Tcp), .. TestFrames.TcpHeaderBytes(40004, 443, TcpFlags.Syn)];
        var v6ext = TestFrames.IPv6Raw("2001:db8:1::10", "2001:db8::1", IpProtocols.HopByHop, ext);
        yield return Case("IPv6 with hop-by-hop and destination options", v6ext, ForwardVerdict.Forwarded, Fwd(v6ext));

        var udp = TestFrames.Udp("192.0.2.10", 5353, "198.51.100.1", 53, "q"u8);
        yield return Case("UDP", udp, ForwardVerdict.Forwarded, Fwd(udp));

        var padded = (byte[])[.. TestFrames.Tcp("192.0.2.10", 40005, "198.51.100.1", 443, TcpFlags.Syn), 0, 0, 0, 0, 0, 0];
        yield return Case("Ethernet padding after the IP packet is kept", padded, ForwardVerdict.Forwarded, Fwd(padded));

        var otherPort = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.1", 25, TcpFlags.Syn);
        yield return Case("VIP but no service on the port: not ours, unchanged", otherPort, ForwardVerdict.NotOurs, otherPort);

        var otherIp = TestFrames.Tcp("192.0.2.10", 40000, "198.51.100.2", 443, TcpFlags.Syn);
        yield return Case("not a VIP: not ours, unchanged", otherIp, ForwardVerdict.NotOurs, otherIp);

        var wrongProto = TestFrames.Udp("192.0.2.10", 5000, "198.51.100.1", 443);
        yield return Case("UDP to a TCP-only port: not ours", wrongProto, ForwardVerdict.NotOurs, wrongProto);

        var fromUs = TestFrames.Tcp(new L2Header(TestAddresses.Server(2), TestAddresses.Appliance), new IpHeader(TestAddresses.Ip("192.0.2.10"), TestAddresses.Ip("198.51.100.1")), new TcpHeader(40000, 443, TcpFlags.Syn));
        yield return Case("loop guard: our own source MAC", fromUs, ForwardVerdict.LoopGuard, fromUs);

        var toServer = TestFrames.Tcp(new L2Header(TestAddresses.Server(2), TestAddresses.Router), new IpHeader(TestAddresses.Ip("192.0.2.10"), TestAddresses.Ip("198.51.100.1")), new TcpHeader(40000, 443, TcpFlags.Syn));
        yield return Case("loop guard: already addressed to a real server", toServer, ForwardVerdict.LoopGuard, toServer);

        var arp = TestFrames.ArpRequest("198.51.100.254", "198.51.100.1");
        yield return Case("ARP request for a VIP", arp, ForwardVerdict.ArpRequestForVip, arp);

        var arpOther = TestFrames.ArpRequest("198.51.100.254", "198.51.100.9");
        yield return Case("ARP request for another address", arpOther, ForwardVerdict.NotOurs, arpOther);

        var ping = TestFrames.EchoRequest("192.0.2.10", "198.51.100.1");
        yield return Case("ICMP echo request to a VIP", ping, ForwardVerdict.EchoRequestForVip, ping);

        var ping6 = TestFrames.EchoRequest("2001:db8:1::10", "2001:db8::1");
        yield return Case("ICMPv6 echo request to a VIP", ping6, ForwardVerdict.EchoRequestForVip, ping6);

        var ns = TestFrames.NeighborSolicitation("2001:db8:1::10", "2001:db8::1");
        yield return Case("neighbour solicitation for a VIP", ns, ForwardVerdict.NeighborSolicitationForVip, ns);

        var ack = TestFrames.Tcp("192.0.2.99", 41000, "198.51.100.1", 443, TcpFlags.Ack);
        yield return Case("mid-stream ACK of an unknown flow, not sloppy: dropped", ack, ForwardVerdict.MidStreamNoState, ack);
    }

    [TestCaseSource(nameof(Cases))]
    public void Golden(byte[] input, ForwardVerdict expectedVerdict, byte[] expectedOutput)
    {
        var lab = new TestLab()
            .Add(TestLab.Service("https", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443, 80))
            .Add(TestLab.Service("https6", "2001:db8::1", SchedulerKind.RoundRobin, ["cas1"], 443))
            .Add(TestLab.Service("dns", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 53) with { Protocol = Engine.Routing.TransportProtocol.Udp });
        lab.Publish();

        var (verdict, _, output) = lab.Send(input, 1);

        Assert.That(verdict, Is.EqualTo(expectedVerdict));
        Assert.That(output, Is.EqualTo(expectedOutput));
    }
}
