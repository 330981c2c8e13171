using System.Net;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

public sealed class ForwardingEngineTests
{
    private const string Vip = "198.51.100.1";

    private static VirtualService Persistent(SchedulerKind kind = SchedulerKind.RoundRobin, int seconds = 300, params ushort[] ports)
        => TestLab.Service("owa", Vip, kind, ["cas1", "cas2", "cas3"], ports.Length == 0 ? [443, 80] : ports) with { PersistenceTimeout = TimeSpan.FromSeconds(seconds) };

    private static byte[] Syn(string client, ushort port, ushort vipPort = 443) => TestFrames.Tcp(client, port, Vip, vipPort, TcpFlags.Syn);

    private static byte[] Seg(string client, ushort port, TcpFlags flags, ushort vipPort = 443) => TestFrames.Tcp(client, port, Vip, vipPort, flags);

    [Test]
    public void NothingPublishedIsNotOurs()
    {
        var engine = new ForwardingEngine(TestAddresses.Appliance, new ForwardingEngineOptions { ConnectionCapacity = 16 });
        Assert.That(engine.Process(Syn("192.0.2.1", 1000), 0, out _), Is.EqualTo(ForwardVerdict.NotOurs));
    }

    [Test]
    public void EstablishedFlowStaysOnItsServer()
    {
        var lab = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2", "cas3"], 443));
        lab.Publish();
        var first = lab.Send(Syn("192.0.2.1", 1000), 0);
        Assert.That(first.Decision.Reason, Is.EqualTo(DecisionReason.New));
        Assert.That(first.Decision.NewConnection, Is.True);
        for (var i = 0; i < 5; i++)
        {
            var next = lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), i + 1);
            Assert.That(next.Decision.ServerId, Is.EqualTo(first.Decision.ServerId));
            Assert.That(next.Decision.Reason, Is.EqualTo(DecisionReason.ExistingFlow));
            Assert.That(next.Decision.NewConnection, Is.False);
        }

        Assert.That(lab.Engine.ActiveConnections(first.Decision.ServerId), Is.EqualTo(1));
    }

    [Test]
    public void TheHostIsToldWhereTheConnectionSlotsLieOnceAndBeforeTheyAreUsed()
    {
        var calls = new List<(nint Address, nuint Length, bool AllZero)>();
        var engine = new ForwardingEngine(TestAddresses.Appliance, new ForwardingEngineOptions
        {
            ConnectionCapacity = 1000,
            ConnectionTableMemory = (address, length) => calls.Add((address, length, IsAllZero(address, length))),
        });
        Assert.That(calls.Select(c => (c.Address % 64, c.Length, c.AllZero)), Is.EqualTo(new[]
        {
            ((nint)0, (nuint)(4 * 1000 * 32), true),
            ((nint)0, (nuint)(2 * 1000 * 64), true),
        }), "4 × capacity 32-byte IPv4 slots, 2 × capacity 64-byte IPv6 slots, each from a line's start, nothing written yet");

        var lab = new TestLab(options: new ForwardingEngineOptions { ConnectionCapacity = 1000, ConnectionTableMemory = (address, length) => calls.Add((address, length, true)) });
        lab.Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443))
            .Add(TestLab.Service("owa6", "2001:db8::10", SchedulerKind.RoundRobin, ["cas1"], 443)).Publish();
        Assert.That(lab.Send(TestFrames.Tcp("192.0.2.1", 40000, "198.51.100.1", 443, TcpFlags.Syn), Time.Second).Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(IsAllZero(calls[2].Address, calls[2].Length), Is.False, "an IPv4 connection landed in the IPv4 range the host was told of");
        Assert.That(IsAllZero(calls[3].Address, calls[3].Length), Is.True);
        Assert.That(lab.Send(TestFrames.Tcp("2001:db8::1", 40000, "2001:db8::10", 443, TcpFlags.Syn), Time.Second).Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(IsAllZero(calls[3].Address, calls[3].Length), Is.False, "an IPv6 connection landed in the IPv6 range");
        GC.KeepAlive(engine);
    }

    private static bool IsAllZero(nint address, nuint length)
    {
        for (nuint offset = 0; offset < length; offset += 8)
        {
            if (Marshal.ReadInt64(address, (int)offset) != 0)
            {
                return false;
            }
        }

        return true;
    }

    [Test]
    public void PersistenceSpansThePortsOfOneService()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var a = lab.Send(Syn("192.0.2.1", 1000, 443), 0);
        Assert.That(a.Decision.NewPersistence, Is.True);
        lab.Send(Syn("192.0.2.2", 1000, 443), 0);
        var b = lab.Send(Syn("192.0.2.1", 1001, 80), Time.Second);
        Assert.That(b.Decision.ServerId, Is.EqualTo(a.Decision.ServerId));
        Assert.That(b.Decision.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(b.Decision.NewPersistence, Is.False);
        Assert.That(b.Decision.NewConnection, Is.True);
    }

    [Test]
    public void PersistenceTimerRestartsOnNewConnectionAndExpiresAfterIdle()
    {
        var lab = new TestLab().Add(Persistent(seconds: 100));
        lab.Publish();
        var server = lab.Send(Syn("192.0.2.1", 1000), 0).Decision.ServerId;

        // The SYN_RECV connection expires after 60 s; the new connection at 90 s restarts the 100 s timer.
        Assert.That(lab.Send(Syn("192.0.2.1", 1001), Time.Seconds(90)).Decision.Reason, Is.EqualTo(DecisionReason.Persisted));
        var at185 = lab.Send(Syn("192.0.2.1", 1002), Time.Seconds(185));
        Assert.That(at185.Decision.Reason, Is.EqualTo(DecisionReason.Persisted), "still within 100 s of the 90 s connection");
        Assert.That(at185.Decision.ServerId, Is.EqualTo(server));

        // Idle from 185 s: its connection closes (RST → CLOSE, 10 s), and at 400 s the entry has expired.
        lab.Send(Seg("192.0.2.1", 1002, TcpFlags.Rst), Time.Seconds(186));
        var later = lab.Send(Syn("192.0.2.1", 1003), Time.Seconds(400));
        Assert.That(later.Decision.Reason, Is.EqualTo(DecisionReason.New));
        Assert.That(later.Decision.NewPersistence, Is.True);
    }

    [Test]
    public void PersistenceDoesNotExpireWhileAConnectionLives()
    {
        var lab = new TestLab().Add(Persistent(seconds: 100));
        lab.Publish();
        var server = lab.Send(Syn("192.0.2.1", 1000), 0).Decision.ServerId;
        lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), Time.Seconds(1));

        // Keep the established connection alive well past the persistence timeout.
        for (var t = 100; t <= 800; t += 100)
        {
            Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), Time.Seconds(t)).Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        }

        var second = lab.Send(Syn("192.0.2.1", 2000), Time.Seconds(801));
        Assert.That(second.Decision.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(second.Decision.ServerId, Is.EqualTo(server));
    }

    [Test]
    public void IPv6ClientsInOneSlash64ShareAServer()
    {
        var service = TestLab.Service("owa6", "2001:db8::1", SchedulerKind.RoundRobin, ["cas1", "cas2", "cas3"], 443) with
        {
            PersistenceTimeout = TimeSpan.FromMinutes(5),
            PersistencePrefixLength = 64,
        };
        var lab = new TestLab().Add(service);
        lab.Publish();
        var a = lab.Send(TestFrames.Tcp("2001:db8:aa:1::10", 1000, "2001:db8::1", 443, TcpFlags.Syn), 0).Decision;
        var b = lab.Send(TestFrames.Tcp("2001:db8:aa:1:ffff::99", 1000, "2001:db8::1", 443, TcpFlags.Syn), 1).Decision;
        var c = lab.Send(TestFrames.Tcp("2001:db8:aa:2::10", 1000, "2001:db8::1", 443, TcpFlags.Syn), 2).Decision;
        Assert.That(b.ServerId, Is.EqualTo(a.ServerId));
        Assert.That(b.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(b.PersistenceKey, Is.EqualTo(TestAddresses.Ip("2001:db8:aa:1::")));
        Assert.That(c.ServerId, Is.Not.EqualTo(a.ServerId), "round robin moves the next /64 on");
    }

    [Test]
    public void IPv4PrefixMaskingSharesAServer()
    {
        var lab = new TestLab().Add(Persistent() with { PersistencePrefixLength = 24 });
        lab.Publish();
        var a = lab.Send(Syn("192.0.2.1", 1000), 0).Decision;
        var b = lab.Send(Syn("192.0.2.200", 1000), 0).Decision;
        Assert.That(b.ServerId, Is.EqualTo(a.ServerId));
        Assert.That(a.PersistenceKey, Is.EqualTo(TestAddresses.Ip("192.0.2.0")));
    }

    [TestCase(TcpFlags.Syn, 60)]
    [TestCase(TcpFlags.Ack, 900)]
    [TestCase(TcpFlags.Fin | TcpFlags.Ack, 120)]
    [TestCase(TcpFlags.Rst, 10)]
    public void TcpStateTimeoutsAreLvsDefaults(TcpFlags lastFlags, int seconds)
    {
        var lab = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443) with { Sloppy = true });
        lab.Publish();
        lab.Send(Syn("192.0.2.1", 1000), 0);
        if (lastFlags != TcpFlags.Syn)
        {
            lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 0);
            lab.Send(Seg("192.0.2.1", 1000, lastFlags), 0);
        }

        var state = lab.Engine.ListConnections().Single();
        Assert.That(state.ExpiresAtNs, Is.EqualTo(Time.Seconds(seconds)));
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), Time.Seconds(seconds) - 1).Decision.Reason, Is.EqualTo(DecisionReason.ExistingFlow));
    }

    [Test]
    public void ExpiredFlowIsForgotten()
    {
        var lab = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443));
        lab.Publish();
        lab.Send(Syn("192.0.2.1", 1000), 0);
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), Time.Seconds(61)).Verdict, Is.EqualTo(ForwardVerdict.MidStreamNoState), "SYN_RECV lasts 60 s");
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Event(EngineEvent.ConnectionExpirations), Is.EqualTo(1));
    }

    [Test]
    public void UdpFlowUsesUdpTimeout()
    {
        var lab = new TestLab().Add(TestLab.Service("dns", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 53) with { Protocol = TransportProtocol.Udp });
        lab.Publish();
        var a = lab.Send(TestFrames.Udp("192.0.2.1", 5000, Vip, 53), 0).Decision;
        Assert.That(lab.Send(TestFrames.Udp("192.0.2.1", 5000, Vip, 53), Time.Seconds(299)).Decision.Reason, Is.EqualTo(DecisionReason.ExistingFlow));
        var b = lab.Send(TestFrames.Udp("192.0.2.1", 5000, Vip, 53), Time.Seconds(599) + 1).Decision;
        Assert.That(b.Reason, Is.EqualTo(DecisionReason.New));
        Assert.That(b.ServerId, Is.Not.EqualTo(a.ServerId));
    }

    [Test]
    public void MidStreamSloppyIsScheduledNonSloppyDropped()
    {
        var strict = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1"], 443));
        strict.Publish();
        Assert.That(strict.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack | TcpFlags.Psh), 0).Verdict, Is.EqualTo(ForwardVerdict.MidStreamNoState));

        var sloppy = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1"], 443) with { Sloppy = true });
        sloppy.Publish();
        var r = sloppy.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack | TcpFlags.Psh), 0);
        Assert.That(r.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(r.Decision.Reason, Is.EqualTo(DecisionReason.New));
        Assert.That(sloppy.Engine.ListConnections().Single().State, Is.EqualTo(ConnectionState.Established));
        Assert.That(sloppy.Send(Seg("192.0.2.2", 1000, TcpFlags.Rst), 0).Verdict, Is.EqualTo(ForwardVerdict.MidStreamNoState), "a RST never creates state");
    }

    [Test]
    public void MidStreamFollowsPersistenceEntry()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var server = lab.Send(Syn("192.0.2.1", 1000), 0).Decision.ServerId;
        var r = lab.Send(Seg("192.0.2.1", 5555, TcpFlags.Ack), Time.Second);
        Assert.That(r.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(r.Decision.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(r.Decision.ServerId, Is.EqualTo(server));
    }

    [Test]
    public void Ipv4FragmentsFollowTheirFirstFragment()
    {
        var lab = new TestLab().Add(TestLab.Service("dns", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2", "cas3"], 53) with { Protocol = TransportProtocol.Udp });
        lab.Publish();
        var (first, second) = TestFrames.SplitIPv4(TestFrames.Udp("192.0.2.1", 5000, Vip, 53, new byte[100]), 48);
        lab.Send(TestFrames.Udp("192.0.2.99", 5000, Vip, 53), 0); // move round robin on
        var a = lab.Send(first, 1);
        var b = lab.Send(second, 2);
        Assert.That(b.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(b.Decision.ServerId, Is.EqualTo(a.Decision.ServerId));
        Assert.That(b.Output, Is.EqualTo(TestFrames.Rewritten(second, TestAddresses.Server(1 + a.Decision.ServerId), TestAddresses.Appliance)));

        var (_, orphan) = TestFrames.SplitIPv4(TestFrames.Udp("192.0.2.7", 5000, Vip, 53, new byte[100]), 48, identification: 9);
        Assert.That(lab.Send(orphan, 3).Verdict, Is.EqualTo(ForwardVerdict.FragmentNoState));
    }

    [Test]
    public void NonFirstFragmentWithoutFirstFollowsPersistence()
    {
        var lab = new TestLab().Add(Persistent() with { Protocol = TransportProtocol.Udp, Ports = [4500] });
        lab.Publish();
        var server = lab.Send(TestFrames.Udp("192.0.2.1", 5000, Vip, 4500), 0).Decision.ServerId;
        var (_, orphan) = TestFrames.SplitIPv4(TestFrames.Udp("192.0.2.1", 5001, Vip, 4500, new byte[100]), 48, identification: 77);
        var r = lab.Send(orphan, 1);
        Assert.That(r.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(r.Decision.ServerId, Is.EqualTo(server));
        Assert.That(r.Decision.Reason, Is.EqualTo(DecisionReason.Persisted));
    }

    [Test]
    public void Ipv6FragmentsFollowTheirFirstFragment()
    {
        var lab = new TestLab().Add(TestLab.Service("v6", "2001:db8::1", SchedulerKind.RoundRobin, ["cas1", "cas2", "cas3"], 443));
        lab.Publish();
        lab.Send(TestFrames.Tcp("2001:db8:9::1", 1, "2001:db8::1", 443, TcpFlags.Syn), 0);
        byte[] firstBytes = [.. TestFrames.FragmentHeader(IpProtocols.Tcp, 0, true, 1234), .. TestFrames.TcpHeaderBytes(40000, 443, TcpFlags.Syn), .. new byte[16]];
        byte[] laterBytes = [.. TestFrames.FragmentHeader(IpProtocols.Tcp, 40, false, 1234), .. new byte[16]];
        var a = lab.Send(TestFrames.IPv6Raw("2001:db8:5::1", "2001:db8::1", IpProtocols.Fragment, firstBytes), 1);
        var b = lab.Send(TestFrames.IPv6Raw("2001:db8:5::1", "2001:db8::1", IpProtocols.Fragment, laterBytes), 2);
        Assert.That(a.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(b.Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(b.Decision.ServerId, Is.EqualTo(a.Decision.ServerId));
    }

    [Test]
    public void DrainedServerKeepsExistingAndPersistentClientsButTakesNoNewOnes()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var cas1 = lab.ServerId("cas1");
        Assert.That(lab.Send(Syn("192.0.2.1", 1000), 0).Decision.ServerId, Is.EqualTo(cas1));
        lab.SetState("cas1", ServerState.Drained).Publish();

        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 1).Decision.ServerId, Is.EqualTo(cas1), "existing flow stays");
        Assert.That(lab.Send(Syn("192.0.2.1", 1001), 2).Decision.ServerId, Is.EqualTo(cas1), "persistent client stays");
        for (var i = 2; i < 20; i++)
        {
            Assert.That(lab.Send(Syn($"192.0.2.{i}", 1000), 3).Decision.ServerId, Is.Not.EqualTo(cas1), "no new clients");
        }
    }

    [Test]
    public void QuiesceKeepsPersistentClientsOnADownServer()
    {
        var lab = new TestLab().Add(Persistent() with { OnDown = OnDownBehavior.Quiesce });
        lab.Publish();
        var cas1 = lab.ServerId("cas1");
        lab.Send(Syn("192.0.2.1", 1000), 0);
        lab.SetState("cas1", ServerState.Down).Publish();
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 1).Decision.ServerId, Is.EqualTo(cas1));
        var returning = lab.Send(Syn("192.0.2.1", 1001), 2).Decision;
        Assert.That(returning.ServerId, Is.EqualTo(cas1));
        Assert.That(returning.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(lab.Send(Syn("192.0.2.50", 1000), 3).Decision.ServerId, Is.Not.EqualTo(cas1));
    }

    [Test]
    public void QuiesceExpireMovesReturningClientsButKeepsConnections()
    {
        var lab = new TestLab().Add(Persistent() with { OnDown = OnDownBehavior.QuiesceExpire });
        lab.Publish();
        var cas1 = lab.ServerId("cas1");
        lab.Send(Syn("192.0.2.1", 1000), 0);
        lab.SetState("cas1", ServerState.Down).Publish();
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 1).Decision.ServerId, Is.EqualTo(cas1), "existing connection stays");
        var returning = lab.Send(Syn("192.0.2.1", 1001), 2).Decision;
        Assert.That(returning.ServerId, Is.Not.EqualTo(cas1));
        Assert.That(returning.Reason, Is.EqualTo(DecisionReason.New));
        Assert.That(returning.NewPersistence, Is.True);
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 3).Decision.ServerId, Is.EqualTo(cas1), "old connection still stays");
    }

    [Test]
    public void ShutdownSessionsRedispatchesConnectionsAndPersistence()
    {
        var lab = new TestLab().Add(Persistent() with { OnDown = OnDownBehavior.ShutdownSessions });
        lab.Publish();
        var cas1 = lab.ServerId("cas1");
        lab.Send(Syn("192.0.2.1", 1000), 0);
        lab.SetState("cas1", ServerState.Down).Publish();
        var moved = lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 1).Decision;
        Assert.That(moved.ServerId, Is.Not.EqualTo(cas1));
        Assert.That(moved.Reason, Is.EqualTo(DecisionReason.Redispatched));
        Assert.That(lab.Send(Syn("192.0.2.1", 1001), 2).Decision.ServerId, Is.EqualTo(moved.ServerId), "the client's new entry points at its new server");
        Assert.That(lab.Engine.ActiveConnections(cas1) + lab.Engine.InactiveConnections(cas1), Is.Zero);

        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Event(EngineEvent.Redispatches), Is.EqualTo(1), "one flow, counted once");
        Assert.That(counters.Member(0, moved.ServerId, MemberCounter.Redispatches), Is.EqualTo(1));
    }

    [Test]
    public void DisabledServerIsRedispatchedFromPersistence()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var cas1 = lab.ServerId("cas1");
        lab.Send(Syn("192.0.2.1", 1000), 0);
        lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Rst), 0);
        lab.SetState("cas1", ServerState.Disabled).Publish();
        var r = lab.Send(Syn("192.0.2.1", 1001), 20 * Time.Second).Decision;
        Assert.That(r.ServerId, Is.Not.EqualTo(cas1));
        Assert.That(r.Reason, Is.EqualTo(DecisionReason.Redispatched));
    }

    [Test]
    public void SorryServerWhenNoMemberUsableElseNoServer()
    {
        var lab = new TestLab(servers: 3).Add(TestLab.Service("owa", Vip, SchedulerKind.WeightedLeastConnection, ["cas1", "cas2"], 443) with { SorryServer = "cas3" });
        lab.SetState("cas1", ServerState.Down).SetState("cas2", ServerState.Disabled).Publish();
        var r = lab.Send(Syn("192.0.2.1", 1000), 0);
        Assert.That(r.Decision.Reason, Is.EqualTo(DecisionReason.Sorry));
        Assert.That(lab.ServerName(r.Decision.ServerId), Is.EqualTo("cas3"));
        Assert.That(r.Output.AsSpan(0, 6).ToArray(), Is.EqualTo(TestFrames.Rewritten(r.Output, TestAddresses.Server(3), TestAddresses.Appliance).AsSpan(0, 6).ToArray()));

        var none = new TestLab().Add(TestLab.Service("owa", Vip, SchedulerKind.WeightedLeastConnection, ["cas1"], 443));
        none.SetState("cas1", ServerState.Down).Publish();
        Assert.That(none.Send(Syn("192.0.2.1", 1000), 0).Verdict, Is.EqualTo(ForwardVerdict.NoServer));
        var counters = new EngineCountersSnapshot();
        none.Engine.CopyCountersTo(counters);
        Assert.That(counters.Verdict(ForwardVerdict.NoServer), Is.EqualTo(1));
    }

    [Test]
    public void SnapshotSwapKeepsConnectionsAndPersistence()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var server = lab.Send(Syn("192.0.2.1", 1000), 0).Decision.ServerId;

        // Reload: a fourth server appears, and another service is added before this one.
        lab.Servers.Add(new RealServer("cas4", IPAddress.Parse("10.0.1.4"), TestAddresses.Server(4)));
        lab.Services.Insert(0, TestLab.Service("smtp", Vip, SchedulerKind.RoundRobin, ["cas4"], 25));
        lab.Publish();

        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 1).Decision.Reason, Is.EqualTo(DecisionReason.ExistingFlow));
        var returning = lab.Send(Syn("192.0.2.1", 1001), 2).Decision;
        Assert.That(returning.Reason, Is.EqualTo(DecisionReason.Persisted));
        Assert.That(returning.ServerId, Is.EqualTo(server));
        Assert.That(lab.Engine.ActiveConnections(server), Is.EqualTo(1));
    }

    [Test]
    public void LeastConnectionBalancesByLiveConnections()
    {
        var lab = new TestLab().Add(TestLab.Service("lc", Vip, SchedulerKind.LeastConnection, ["cas1", "cas2", "cas3"], 443));
        lab.Publish();
        var counts = new int[3];
        for (var i = 0; i < 30; i++)
        {
            var d = lab.Send(Syn($"192.0.2.{i + 1}", 1000), 0).Decision;
            lab.Send(Seg($"192.0.2.{i + 1}", 1000, TcpFlags.Ack), 0);
            counts[d.ServerId]++;
        }

        Assert.That(counts, Is.EqualTo(new[] { 10, 10, 10 }));
    }

    [Test]
    public void TwoEnginesWithTheSameConfigurationAgreeUnderMaglev()
    {
        var one = new TestLab(servers: 5).Add(TestLab.Service("mh", Vip, SchedulerKind.Maglev, ["cas1", "cas2", "cas3", "cas4", "cas5"], 443));
        var two = new TestLab(servers: 5).Add(TestLab.Service("mh", Vip, SchedulerKind.Maglev, ["cas1", "cas2", "cas3", "cas4", "cas5"], 443));
        one.Publish();
        two.Publish();
        var used = new HashSet<string>();
        for (var i = 0; i < 200; i++)
        {
            var client = $"192.0.{i / 250}.{(i % 250) + 1}";
            var a = one.Target(Syn(client, 1000), 0);
            Assert.That(two.Target(Syn(client, 2000), 0), Is.EqualTo(a));
            used.Add(a!);
        }

        Assert.That(used, Has.Count.EqualTo(5));
    }

    [Test]
    public void CountersPerServiceAndServer()
    {
        var lab = new TestLab().Add(Persistent());
        lab.Publish();
        var syn = Syn("192.0.2.1", 1000);
        var d = lab.Send(syn, 0).Decision;
        lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 0);
        lab.Send(Syn("192.0.2.1", 1001), 0);
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Member(d.ServiceId, d.ServerId, MemberCounter.Frames), Is.EqualTo(3));
        Assert.That(counters.Member(d.ServiceId, d.ServerId, MemberCounter.Bytes), Is.EqualTo(3 * syn.Length));
        Assert.That(counters.Member(d.ServiceId, d.ServerId, MemberCounter.NewConnections), Is.EqualTo(2));
        Assert.That(counters.Member(d.ServiceId, d.ServerId, MemberCounter.NewPersistenceEntries), Is.EqualTo(1));
        Assert.That(counters.Verdict(ForwardVerdict.Forwarded), Is.EqualTo(3));
        Assert.That(counters.Frames, Is.EqualTo(3));
        Assert.That(lab.Engine.ListPersistence(d.ServiceId).Single().Connections, Is.EqualTo(2));
    }

    [Test]
    public void PacketPathAllocatesNothing()
    {
        var lab = new TestLab(options: new ForwardingEngineOptions { ConnectionCapacity = 1 << 17 })
            .Add(Persistent(SchedulerKind.Maglev))
            .Add(TestLab.Service("v6", "2001:db8::1", SchedulerKind.WeightedLeastConnection, ["cas1", "cas2"], 443));
        lab.Publish();
        const int frames = 100_000;
        var known = Enumerable.Range(0, 100).Select(i => Seg($"192.0.2.{i + 1}", 1000, TcpFlags.Ack)).ToArray();
        foreach (var f in Enumerable.Range(0, 100).Select(i => Syn($"192.0.2.{i + 1}", 1000)))
        {
            lab.Engine.Process(f, 0, out _);
        }

        var fresh = new byte[frames][];
        for (var i = 0; i < frames; i++)
        {
            fresh[i] = i % 2 == 0
                ? TestFrames.Tcp($"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 2000, Vip, 443, TcpFlags.Syn)
                : TestFrames.Tcp($"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::1", 2000, "2001:db8::1", 443, TcpFlags.Syn);
        }

        lab.Engine.Process(known[0], 1, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < frames; i++)
        {
            lab.Engine.Process(i % 2 == 0 ? fresh[i] : known[i % known.Length], 1 + i, out _);
            lab.Engine.Process(fresh[i], 1 + i, out _);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero);
        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        Assert.That(counters.Event(EngineEvent.NewConnections), Is.GreaterThanOrEqualTo(frames));
    }

    [Test]
    public void FullConnectionTableRefusesNewFlows()
    {
        var lab = new TestLab(options: new ForwardingEngineOptions { ConnectionCapacity = 4 })
            .Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        for (var i = 0; i < 4; i++)
        {
            Assert.That(lab.Send(Syn($"192.0.2.{i + 1}", 1000), 0).Verdict, Is.EqualTo(ForwardVerdict.Forwarded));
        }

        Assert.That(lab.Send(Syn("192.0.2.9", 1000), 0).Verdict, Is.EqualTo(ForwardVerdict.ConnectionTableFull));
        Assert.That(lab.Send(Seg("192.0.2.1", 1000, TcpFlags.Ack), 0).Verdict, Is.EqualTo(ForwardVerdict.Forwarded), "existing flows unaffected");
        Assert.That(lab.Send(Syn("192.0.2.9", 1000), Time.Seconds(61)).Verdict, Is.EqualTo(ForwardVerdict.Forwarded), "expired entries make room");
    }

    [Test]
    public void DisabledSorryServerIsNotUsed()
    {
        var lab = new TestLab().Add(TestLab.Service("owa", Vip, SchedulerKind.RoundRobin, ["cas1"], 443) with { SorryServer = "cas3" });
        lab.SetState("cas1", ServerState.Down).SetState("cas3", ServerState.Disabled).Publish();
        Assert.That(lab.Send(Syn("192.0.2.1", 1000), 0).Verdict, Is.EqualTo(ForwardVerdict.NoServer));
    }

    [Test]
    public void DecisionWithoutServiceReadsMinusOne()
    {
        var lab = new TestLab().Add(TestLab.Service("rr", Vip, SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        var r = lab.Send(TestFrames.Tcp("192.0.2.1", 1, "203.0.113.1", 443, TcpFlags.Syn), 0);
        Assert.That(r.Verdict, Is.EqualTo(ForwardVerdict.NotOurs));
        Assert.That((r.Decision.ServiceId, r.Decision.ServerId, r.Decision.IsDecision), Is.EqualTo((-1, -1, false)));
    }

    [Test]
    public void WeightedRoundRobinThroughTheEngine()
    {
        var service = TestLab.Service("wrr", Vip, SchedulerKind.WeightedRoundRobin, ["cas1", "cas2"], 443) with
        {
            Members = [new ServiceMember("cas1", 3), new ServiceMember("cas2", 1)],
        };
        var lab = new TestLab().Add(service);
        lab.Publish();
        var targets = Enumerable.Range(1, 8).Select(i => lab.Target(Syn($"192.0.2.{i}", 1000), 0)).ToList();
        Assert.That(targets.Count(t => t == "cas1"), Is.EqualTo(6));
        Assert.That(targets.Count(t => t == "cas2"), Is.EqualTo(2));
    }

    [Test]
    public void FloodOfNewSourcesKeepsActiveClientsPersisted()
    {
        var lab = new TestLab().Add(Persistent(SchedulerKind.RoundRobin) with { PersistenceTableSize = 64 });
        lab.Publish();
        var servers = new Dictionary<int, int>();
        for (var i = 1; i <= 10; i++)
        {
            servers[i] = lab.Send(Syn($"192.0.2.{i}", 1000), 0).Decision.ServerId;
            lab.Send(Seg($"192.0.2.{i}", 1000, TcpFlags.Ack), 0);
        }

        for (var i = 0; i < 5000; i++)
        {
            lab.Send(Syn($"10.9.{i / 250}.{(i % 250) + 1}", 1000), Time.Seconds(1));
        }

        for (var i = 1; i <= 10; i++)
        {
            var d = lab.Send(Syn($"192.0.2.{i}", 2000), Time.Seconds(2)).Decision;
            Assert.That(d.Reason, Is.EqualTo(DecisionReason.Persisted), $"client {i}");
            Assert.That(d.ServerId, Is.EqualTo(servers[i]));
        }

        var counters = new EngineCountersSnapshot();
        lab.Engine.CopyCountersTo(counters);
        // The flood's own entries hold SYN_RECV connections, so once the table is full of them, adds are refused.
        Assert.That(counters.Event(EngineEvent.PersistenceEvictions) + counters.Event(EngineEvent.PersistenceRejections), Is.GreaterThanOrEqualTo(5000 - 54));
    }
}
