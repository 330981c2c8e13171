using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// A frame of a flow the engine already forwards takes a short path (a fixed-offset read, the connection entry, no
/// general parse, no service lookup). It must decide exactly as the general path does. Two engines get the same
/// random history; one sees every frame addressed to the appliance, so known flows take the short path, the other
/// sees the same frame addressed to another unicast MAC, which only the general path forwards. Every verdict,
/// decision, output frame and counter must agree, through state changes, expiry, re-dispatch, removed services and
/// reloaded persistence.
/// </summary>
public sealed class KnownFlowPathTests
{
    private static readonly MacAddress Elsewhere = MacAddress.Parse("02:00:00:00:00:77");

    [Test]
    public void KnownFlowPathDecidesAsTheGeneralPath([Values(2026, 1124, 7)] int seed)
    {
        var traffic = new RandomTraffic(seed);
        var known = RandomTraffic.NewLab();
        var general = RandomTraffic.NewLab();
        var now = Time.Second;
        var forwarded = 0;
        for (var step = 1; step <= RandomTraffic.Steps; step++)
        {
            var next = traffic.Next(step);
            if (next.Frame is { } frame)
            {
                var elsewhere = (byte[])frame.Clone();
                Elsewhere.WriteTo(elsewhere);
                var a = known.Send(frame, now);
                var b = general.Send(elsewhere, now);
                var where = $"seed {seed}, step {step}";
                Assert.That(a.Verdict, Is.EqualTo(b.Verdict), where);
                Assert.That(Describe(a.Decision), Is.EqualTo(Describe(b.Decision)), where);
                if (a.Verdict == ForwardVerdict.Forwarded)
                {
                    forwarded++;
                    Assert.That(a.Output, Is.EqualTo(b.Output), $"{where}: the same frame leaves both");
                }
            }

            next.PublishChange(known, general);
            now += next.Advance;
        }

        AssertSameCounters(known.Engine, general.Engine);
        TestContext.Out.WriteLine($"forwarded {forwarded}, by the known-flow path {known.Engine.KnownFlowFrames}");
        Assert.That(general.Engine.KnownFlowFrames, Is.Zero, "frames not addressed to the appliance never take the short path");
        // Most of this history is new flows and changes; a few hundred frames of established flows are among it.
        Assert.That(known.Engine.KnownFlowFrames, Is.GreaterThan(150), "known flows went the short path");
    }

    [Test]
    public void TaggedAndIPv6FlowsTakeTheKnownFlowPathAndKeepTheirTag()
    {
        var lab = new TestLab()
            .Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2"], 443))
            .Add(TestLab.Service("owa6", "2001:db8::10", SchedulerKind.RoundRobin, ["cas1", "cas2"], 443));
        lab.Publish();
        var tag = VlanTag.Customer(42);
        var cases = new[]
        {
            (Syn: TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Syn, outer: tag), Ack: TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack, "data"u8, outer: tag)),
            (Syn: TestFrames.Tcp("2001:db8:1::7", 40000, "2001:db8::10", 443, TcpFlags.Syn), Ack: TestFrames.Tcp("2001:db8:1::7", 40000, "2001:db8::10", 443, TcpFlags.Ack, "data"u8)),
        };

        foreach (var (syn, ack) in cases)
        {
            var before = lab.Engine.KnownFlowFrames;
            var first = lab.Send(syn, 0);
            var next = lab.Send(ack, 1);
            Assert.That((first.Verdict, next.Verdict), Is.EqualTo((ForwardVerdict.Forwarded, ForwardVerdict.Forwarded)));
            Assert.That(lab.Engine.KnownFlowFrames - before, Is.EqualTo(1), "the SYN is scheduled, the ACK follows its connection");
            Assert.That((next.Decision.Reason, next.Decision.ServerId, next.Decision.ClientPort, next.Decision.DestinationPort), Is.EqualTo((DecisionReason.ExistingFlow, first.Decision.ServerId, (ushort)40000, (ushort)443)));
            Assert.That(next.Output, Is.EqualTo(TestFrames.Rewritten(ack, lab.Snapshot.GetServerMac(first.Decision.ServerId), TestAddresses.Appliance)), "only the two MACs changed");
        }
    }

    [Test]
    public void TheApplianceMacOnAServerClosesTheKnownFlowPath()
    {
        // A misconfiguration, but the loop guard must still see every frame: nothing addressed to that MAC leaves.
        var lab = new TestLab().Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        lab.Send(TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Syn), 0);
        lab.Servers.Add(new RealServer("cas9", System.Net.IPAddress.Parse("10.0.1.9"), TestAddresses.Appliance));
        lab.Publish();

        var ack = lab.Send(TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack), 1);
        Assert.That((ack.Verdict, lab.Engine.KnownFlowFrames), Is.EqualTo((ForwardVerdict.LoopGuard, 0L)));
    }

    [Test]
    public void AFrameFromTheApplianceItselfMeetsTheLoopGuardEvenOnAKnownFlow()
    {
        var lab = new TestLab().Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        lab.Send(TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Syn), 0);
        var ack = TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack);
        TestAddresses.Appliance.WriteTo(ack.AsSpan(MacAddress.Length));

        var sent = lab.Send(ack, 1);
        Assert.That((sent.Verdict, lab.Engine.KnownFlowFrames, sent.Output), Is.EqualTo((ForwardVerdict.LoopGuard, 0L, ack)));
    }

    private static string Describe(ForwardDecision d)
        => $"service {d.ServiceId} server {d.ServerId} {d.Client}:{d.ClientPort} -> {d.Destination}:{d.DestinationPort} {d.Protocol} key {d.PersistenceKey} {d.Reason} new-conn {d.NewConnection} new-persist {d.NewPersistence} malformed {d.Malformed}";

    internal static void AssertSameCounters(ForwardingEngine a, ForwardingEngine b)
    {
        var (x, y) = (new EngineCountersSnapshot(), new EngineCountersSnapshot());
        a.CopyCountersTo(x);
        b.CopyCountersTo(y);
        Assert.Multiple(() =>
        {
            Assert.That(x.Verdicts, Is.EqualTo(y.Verdicts), "verdicts");
            Assert.That(x.MalformedReasons, Is.EqualTo(y.MalformedReasons), "malformed");
            Assert.That(x.Events, Is.EqualTo(y.Events), "events");
            Assert.That(x.Members, Is.EqualTo(y.Members), "per-member frames, bytes, connections, persistence, re-dispatches");
            Assert.That(x.MemberActive, Is.EqualTo(y.MemberActive), "active connections");
            Assert.That(x.MemberInactive, Is.EqualTo(y.MemberInactive), "inactive connections");
            Assert.That(x.MemberPersistence, Is.EqualTo(y.MemberPersistence), "persistence entries");
        });
    }
}
