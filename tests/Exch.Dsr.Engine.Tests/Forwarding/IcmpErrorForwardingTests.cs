using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// ICMP errors follow their flow (PMTU discovery through DSR). Golden frames: {description, input frame, expected
/// verdict, expected output frame}. Services, round robin over cas1 and cas2: 198.51.100.1 tcp 443 and udp 53,
/// 2001:db8::1 tcp 443, and the persistent 198.51.100.2 tcp 443/80. Before each case a decoy client opens a flow
/// (to cas1) and the client a flow (to cas2), on every VIP, so "forwarded to cas2" shows the error followed the
/// client's flow, not the scheduler.
/// </summary>
public sealed class IcmpErrorForwardingTests
{
    private const string Vip = "198.51.100.1";
    private const string PersistentVip = "198.51.100.2";
    private const string Vip6 = "2001:db8::1";
    private const string Client = "192.0.2.10";
    private const string Client6 = "2001:db8:1::10";
    private const string Router = "203.0.113.1";
    private const string Router6 = "2001:db8:ff::1";
    private const byte FragmentationNeeded = 4;
    private const byte PortUnreachable = 3;

    private static readonly MacAddress Cas2 = TestAddresses.Server(2);

    private static byte[] ToCas2(byte[] frame) => TestFrames.Rewritten(frame, Cas2, TestAddresses.Appliance);

    private static TestCaseData Case(string description, byte[] input, ForwardVerdict verdict, byte[] output)
        => new TestCaseData(input, verdict, output).SetName(description);

    /// <summary>A fragmentation-needed error (next-hop MTU 1400) about the server's reply on the client's flow.</summary>
    private static byte[] FragNeeded(string vip = Vip, ushort vipPort = 443, ushort clientPort = 40000, int? quoteBytes = null)
        => TestFrames.IcmpError(Router, vip, IcmpTypes.DestinationUnreachable, FragmentationNeeded, 1400, TestFrames.ServerReply(vip, vipPort, Client, clientPort), quoteBytes);

    private static IEnumerable<TestCaseData> Cases()
    {
        var fragNeeded = FragNeeded();
        yield return Case("IPv4 fragmentation needed: to the flow's server, MACs rewritten, every other byte identical", fragNeeded, ForwardVerdict.Forwarded, ToCas2(fragNeeded));

        var rfc792 = FragNeeded(quoteBytes: 20 + 8);
        yield return Case("IPv4 quote of header + 8 bytes (RFC 792 minimum)", rfc792, ForwardVerdict.Forwarded, ToCas2(rfc792));

        var portsOnly = FragNeeded(quoteBytes: 20 + 4);
        yield return Case("IPv4 quote of header + the 4 port bytes", portsOnly, ForwardVerdict.Forwarded, ToCas2(portsOnly));

        var ttl = TestFrames.IcmpError(Router, Vip, IcmpTypes.TimeExceeded, 0, 0, TestFrames.ServerReply(Vip, 443, Client, 40000), 28);
        yield return Case("IPv4 time exceeded", ttl, ForwardVerdict.Forwarded, ToCas2(ttl));

        var udp = TestFrames.IcmpError(Router, Vip, IcmpTypes.DestinationUnreachable, PortUnreachable, 0, TestFrames.ServerReply(Vip, 53, Client, 5353, 100, udp: true), 28);
        yield return Case("IPv4 port unreachable about a UDP reply", udp, ForwardVerdict.Forwarded, ToCas2(udp));

        var tooBig = TestFrames.IcmpError(Router6, Vip6, IcmpTypes.V6PacketTooBig, 0, 1280, TestFrames.ServerReply(Vip6, 443, Client6, 40000), 1232);
        yield return Case("ICMPv6 packet too big over IPv6", tooBig, ForwardVerdict.Forwarded, ToCas2(tooBig));

        var unreachable6 = TestFrames.IcmpError(Router6, Vip6, IcmpTypes.V6DestinationUnreachable, 0, 0, TestFrames.ServerReply(Vip6, 443, Client6, 40000), 48);
        yield return Case("ICMPv6 destination unreachable, quote of header + 8 bytes", unreachable6, ForwardVerdict.Forwarded, ToCas2(unreachable6));

        var persisted = FragNeeded(PersistentVip, vipPort: 80, clientPort: 40999);
        yield return Case("no connection, client persisted on the service: to the persisted server", persisted, ForwardVerdict.Forwarded, ToCas2(persisted));

        var truncated = FragNeeded(quoteBytes: 12);
        yield return Case("quote cut inside the IP header: malformed, unchanged", truncated, ForwardVerdict.Malformed, truncated);

        var noPorts = FragNeeded(quoteBytes: 20 + 2);
        yield return Case("quote cut inside the ports: malformed, unchanged", noPorts, ForwardVerdict.Malformed, noPorts);

        var v4InV6 = TestFrames.IcmpError(Router6, Vip6, IcmpTypes.V6PacketTooBig, 0, 1280, TestFrames.ServerReply(Vip, 443, Client, 40000), 48);
        yield return Case("IPv4 quoted in ICMPv6: malformed, unchanged", v4InV6, ForwardVerdict.Malformed, v4InV6);

        var unknownFlow = FragNeeded(clientPort: 41234);
        yield return Case("no connection, service not persistent: no state, unchanged", unknownFlow, ForwardVerdict.IcmpErrorNoState, unknownFlow);

        var unknownClient = TestFrames.IcmpError(Router, PersistentVip, IcmpTypes.DestinationUnreachable, FragmentationNeeded, 1400, TestFrames.ServerReply(PersistentVip, 443, "192.0.2.77", 40000));
        yield return Case("no connection, client not persisted: no state, unchanged", unknownClient, ForwardVerdict.IcmpErrorNoState, unknownClient);

        var otherPort = FragNeeded(vipPort: 25);
        yield return Case("quote of a port with no service: not ours", otherPort, ForwardVerdict.NotOurs, otherPort);

        var notVip = TestFrames.IcmpError(Router, "198.51.100.9", IcmpTypes.DestinationUnreachable, FragmentationNeeded, 1400, TestFrames.ServerReply(Vip, 443, Client, 40000));
        yield return Case("error to an address that is not a VIP: not ours", notVip, ForwardVerdict.NotOurs, notVip);

        var echoReply = TestFrames.EchoRequest(Vip, Client)[14..];
        echoReply[20] = IcmpTypes.EchoReply;
        var aboutEcho = TestFrames.IcmpError(Router, Vip, IcmpTypes.DestinationUnreachable, FragmentationNeeded, 1400, echoReply);
        yield return Case("error about an echo reply the appliance sent: not ours", aboutEcho, ForwardVerdict.NotOurs, aboutEcho);
    }

    private static TestLab Lab()
    {
        var lab = new TestLab()
            .Add(TestLab.Service("https", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443))
            .Add(TestLab.Service("dns", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 53) with { Protocol = TransportProtocol.Udp })
            .Add(TestLab.Service("https6", Vip6, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443))
            .Add(TestLab.Service("owa", PersistentVip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443, 80) with { PersistenceTimeout = TimeSpan.FromMinutes(5) });
        lab.Publish();
        Assert.That(lab.Target(TestFrames.Tcp("192.0.2.99", 50000, Vip, 443, TcpFlags.Syn), 0), Is.EqualTo("cas1"));
        Assert.That(lab.Target(TestFrames.Tcp(Client, 40000, Vip, 443, TcpFlags.Syn), 0), Is.EqualTo("cas2"));
        Assert.That(lab.Target(TestFrames.Udp("192.0.2.99", 5353, Vip, 53), 0), Is.EqualTo("cas1"));
        Assert.That(lab.Target(TestFrames.Udp(Client, 5353, Vip, 53), 0), Is.EqualTo("cas2"));
        Assert.That(lab.Target(TestFrames.Tcp("2001:db8:1::99", 50000, Vip6, 443, TcpFlags.Syn), 0), Is.EqualTo("cas1"));
        Assert.That(lab.Target(TestFrames.Tcp(Client6, 40000, Vip6, 443, TcpFlags.Syn), 0), Is.EqualTo("cas2"));
        Assert.That(lab.Target(TestFrames.Tcp("192.0.2.99", 50000, PersistentVip, 443, TcpFlags.Syn), 0), Is.EqualTo("cas1"));
        Assert.That(lab.Target(TestFrames.Tcp(Client, 40000, PersistentVip, 443, TcpFlags.Syn), 0), Is.EqualTo("cas2"));
        return lab;
    }

    [TestCaseSource(nameof(Cases))]
    public void Golden(byte[] input, ForwardVerdict expectedVerdict, byte[] expectedOutput)
    {
        var lab = Lab();

        var (verdict, _, output) = lab.Send(input, 1);

        Assert.That(verdict, Is.EqualTo(expectedVerdict));
        Assert.That(output, Is.EqualTo(expectedOutput));
    }

    [Test]
    public void ForwardedErrorIsDescribedButCreatesNoState()
    {
        var lab = Lab();
        var owa = lab.Snapshot.Services.Single(s => s.Name == "owa").Id;
        var connections = lab.Engine.ListConnections().OrderBy(c => c.ExpiresAtNs).ThenBy(c => c.Key.StableHash()).ToArray();
        var persistence = lab.Engine.ListPersistence(owa).Select(p => (p.Client, p.ServerId, p.ExpiresAtNs)).ToArray();

        var (verdict, decision, _) = lab.Send(FragNeeded(), Time.Seconds(1));
        var persisted = lab.Send(FragNeeded(PersistentVip, vipPort: 80, clientPort: 40999), Time.Seconds(2));

        Assert.That(verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(decision.Reason, Is.EqualTo(DecisionReason.IcmpError));
        Assert.That(decision.IsDecision, Is.False, "no decision-log line: nothing was decided");
        Assert.That(lab.ServerName(decision.ServerId), Is.EqualTo("cas2"));
        Assert.That(decision.ServiceId, Is.EqualTo(lab.Snapshot.Services.Single(s => s.Name == "https").Id));
        Assert.That(decision.Client, Is.EqualTo(TestAddresses.Ip(Client)));
        Assert.That(decision.ClientPort, Is.EqualTo(40000));
        Assert.That(decision.Destination, Is.EqualTo(TestAddresses.Ip(Vip)));
        Assert.That(decision.DestinationPort, Is.EqualTo(443));
        Assert.That(persisted.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(persisted.Decision.Reason, Is.EqualTo(DecisionReason.IcmpError));
        Assert.That(persisted.Decision.PersistenceKey, Is.EqualTo(TestAddresses.Ip(Client)));
        Assert.That(persisted.Decision.NewConnection || persisted.Decision.NewPersistence, Is.False);

        Assert.That(lab.Engine.ListConnections().OrderBy(c => c.ExpiresAtNs).ThenBy(c => c.Key.StableHash()), Is.EqualTo(connections), "no connection created or refreshed");
        Assert.That(lab.Engine.ListPersistence(owa).Select(p => (p.Client, p.ServerId, p.ExpiresAtNs)), Is.EqualTo(persistence), "no persistence entry created or touched");
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Event(EngineEvent.IcmpErrorsForwarded), Is.EqualTo(2));
        Assert.That(counters.Member(decision.ServiceId, decision.ServerId, MemberCounter.NewConnections), Is.EqualTo(1), "only the client's SYN");
    }

    [Test]
    public void DroppedErrorsAreCounted()
    {
        var lab = Lab();

        var noState = lab.Send(FragNeeded(clientPort: 41234), 1);
        var truncated = lab.Send(FragNeeded(quoteBytes: 12), 1);

        Assert.That(noState.Decision.ServiceId, Is.EqualTo(lab.Snapshot.Services.Single(s => s.Name == "https").Id));
        Assert.That(truncated.Decision.Malformed, Is.EqualTo(MalformedReason.TruncatedIcmpQuote));
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Verdict(ForwardVerdict.IcmpErrorNoState), Is.EqualTo(1));
        Assert.That(counters.Malformed(MalformedReason.TruncatedIcmpQuote), Is.EqualTo(1));
        Assert.That(counters.Event(EngineEvent.IcmpErrorsForwarded), Is.Zero);
    }

    [Test]
    public void ErrorForAFlowWhoseServerWasDisabledIsNotForwardedToIt()
    {
        var lab = Lab();
        lab.SetState("cas2", ServerState.Disabled).Publish();

        Assert.That(lab.Send(FragNeeded(), 1).Verdict, Is.EqualTo(ForwardVerdict.IcmpErrorNoState));
        Assert.That(lab.Send(FragNeeded(PersistentVip, vipPort: 80, clientPort: 40999), 1).Verdict, Is.EqualTo(ForwardVerdict.IcmpErrorNoState));
    }

    [Test]
    public void IcmpErrorPathAllocatesNothing()
    {
        var lab = Lab();
        var frames = new[] { FragNeeded(), FragNeeded(clientPort: 41234), FragNeeded(quoteBytes: 12), FragNeeded(PersistentVip, vipPort: 80, clientPort: 40999) };
        var scratch = new byte[2048];
        var verdicts = new ForwardVerdict[frames.Length];
        for (var i = 0; i < frames.Length; i++)
        {
            frames[i].CopyTo(scratch, 0);
            verdicts[i] = lab.Engine.Process(scratch.AsSpan(0, frames[i].Length), 1, out _);
        }

        // One unmeasured pass first: the JIT's tier-up may allocate on this thread.
        Run(2);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(3);

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(verdicts, Is.EqualTo(new[] { ForwardVerdict.Forwarded, ForwardVerdict.IcmpErrorNoState, ForwardVerdict.Malformed, ForwardVerdict.Forwarded }));

        void Run(long nowNs)
        {
            for (var i = 0; i < 20_000; i++)
            {
                var frame = frames[i % frames.Length];
                frame.CopyTo(scratch, 0);
                lab.Engine.Process(scratch.AsSpan(0, frame.Length), nowNs, out _);
            }
        }
    }
}
