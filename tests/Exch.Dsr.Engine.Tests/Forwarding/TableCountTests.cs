using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// The connection and persistence counts per (service, server) that <see cref="ForwardingEngine.CopyCountersTo"/>
/// hands the status read are kept incrementally; they must always equal a full scan of the tables. Random traffic
/// (fixed seeds) drives every path an entry is created, changes state or server, or goes: new flows, FIN/RST, expiry
/// by time, eviction from small persistence tables, a full connection table, re-dispatch after a member goes down,
/// is disabled or removed, shutdown-sessions, quiesce-expire, persistence tables replaced or dropped, servers and
/// services added (the counts grow with live entries in them) and removed.
/// </summary>
public sealed class TableCountTests
{
    private const string Vip = "198.51.100.1";
    private const int StepsPerCheck = 10;

    [Test]
    public void CountsEqualAFullScanThroughRandomTraffic([Values(2026, 1124, 7)] int seed)
    {
        var traffic = new RandomTraffic(seed);
        var lab = RandomTraffic.NewLab();
        var counters = new EngineCountersSnapshot();
        var now = Time.Second;
        for (var step = 1; step <= RandomTraffic.Steps; step++)
        {
            now = traffic.Next(step).ApplyTo(lab, now);
            if (step % StepsPerCheck == 0)
            {
                AssertCountsMatchScan(lab, counters, $"seed {seed}, step {step}");
            }
        }

        // The run went through the paths it is meant to prove.
        lab.Engine.CopyCountersTo(counters);
        TestContext.Out.WriteLine(string.Join(", ", Enum.GetValues<EngineEvent>().Select(e => $"{e} {counters.Event(e)}")) + $", now {now / Time.Second} s, connections {lab.Engine.ConnectionCount}");
        Assert.Multiple(() =>
        {
            Assert.That(counters.Event(EngineEvent.NewConnections), Is.GreaterThan(500));
            Assert.That(counters.Event(EngineEvent.ConnectionExpirations), Is.GreaterThan(100));
            Assert.That(counters.Event(EngineEvent.ConnectionTableRejections), Is.Positive);
            Assert.That(counters.Event(EngineEvent.Redispatches), Is.Positive);
            Assert.That(counters.Event(EngineEvent.PersistenceEvictions), Is.Positive);
            Assert.That(counters.Event(EngineEvent.PersistenceExpirations), Is.Positive);
            Assert.That(counters.Event(EngineEvent.PersistenceRejections), Is.Positive);
            Assert.That(counters.Event(EngineEvent.SorryForwards), Is.Positive);
            Assert.That(counters.Event(EngineEvent.SnapshotsAdopted), Is.GreaterThan(100));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public void OnAQuietApplianceExpiredConnectionsLeaveTheCountsWithinSeconds(bool sweepAfterQuietGaps)
    {
        // 1,000 half-open connections (SYN_RECV, 60 s), then ten frames a second of other traffic. A sweep of 8 units
        // (lines) a frame needs some 70,000 for a lap of a 65,536-connection table's 393,216 slots (the empty bitmap
        // words at 8 each), about two hours of such frames: replay's pace, nearly all are still counted after 30 s. The
        // live forwarder's sweep may examine more after a gap.
        var lab = ThousandHalfOpenConnections(sweepAfterQuietGaps);
        int Open() => HalfOpen(lab);
        Assert.That(Open(), Is.EqualTo(1000));

        var elsewhere = TestFrames.Tcp("192.0.2.200", 1, "203.0.113.9", 80, TcpFlags.Ack);
        var now = Time.Second;
        while (now < Time.Seconds(60))
        {
            lab.Send(elsewhere, now += Time.Second / 10);
        }

        Assert.That(Open(), Is.EqualTo(1000), "nothing expires before its 60 s");
        while (now < Time.Seconds(90))
        {
            lab.Send(elsewhere, now += Time.Second / 10);
        }

        if (sweepAfterQuietGaps)
        {
            Assert.That((Open(), lab.Engine.ConnectionCount), Is.EqualTo((0, 0)), "30 s of ten frames a second swept the whole table");
        }
        else
        {
            Assert.That(Open(), Is.GreaterThan(900), "at 8 units a frame, 30 s of ten frames a second examined 2,400 units");
        }
    }

    [Test]
    public void OnASilentLinkTheIdleClockExpiresConnectionsWithinSecondsOfTheirTimeout()
    {
        // The same 1,000 half-open connections on a table of the live forwarder's default size (1,048,576 connections), then
        // no frame at all: only the forwarding thread's receive timeouts, ten a second. They expire at 61 s.
        var lab = ThousandHalfOpenConnections(sweepAfterQuietGaps: true, capacity: new ForwardingEngineOptions().ConnectionCapacity);
        var now = Time.Second;
        void IdleUntil(long end)
        {
            while (now < end)
            {
                lab.Engine.Idle(now += Time.Second / 10);
            }
        }

        IdleUntil(Time.Seconds(60));
        Assert.That(HalfOpen(lab), Is.EqualTo(1000), "nothing expires before its 60 s");

        // A lap at 16,384 units a reading takes about 5 s here: some 800,000 units, most of them the empty bitmap
        // words at 8 each (with a million connections in it, about 14 s).
        IdleUntil(Time.Seconds(61 + 6));
        Assert.That((HalfOpen(lab), lab.Engine.ConnectionCount), Is.EqualTo((0, 0)), "6 s after they expired");
    }

    /// <summary>1,000 clients' SYNs at 1 s: half-open connections (SYN_RECV, 60 s), by default on a 131,072-slot table.</summary>
    private static TestLab ThousandHalfOpenConnections(bool sweepAfterQuietGaps, int capacity = 1 << 16)
    {
        var options = new ForwardingEngineOptions { ConnectionCapacity = capacity, FragmentCapacity = 64, SweepAfterQuietGaps = sweepAfterQuietGaps };
        var lab = new TestLab(options: options).Add(TestLab.Service("owa", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443));
        lab.Publish();
        for (var client = 0; client < 1000; client++)
        {
            lab.Send(TestFrames.Tcp($"10.0.{client / 250}.{client % 250}", 40000, Vip, 443, TcpFlags.Syn), Time.Second);
        }

        return lab;
    }

    private static int HalfOpen(TestLab lab)
        => lab.Engine.InactiveConnections(lab.ServerId("cas1")) + lab.Engine.InactiveConnections(lab.ServerId("cas2"));

    [Test]
    public void CountsFollowAFlowThroughItsStates()
    {
        var lab = new TestLab().Add(TestLab.Service("web", Vip, SchedulerKind.RoundRobin, ["cas1"], 80) with { PersistenceTimeout = TimeSpan.FromSeconds(60) });
        lab.Publish();
        var counters = new EngineCountersSnapshot();
        var (service, server) = (lab.Snapshot.Services[0].Id, lab.ServerId("cas1"));
        (int Active, int Inactive, int Persistence, int ServicePersistence) Read()
        {
            lab.Engine.CopyCountersTo(counters);
            return (counters.ActiveConnections(service, server), counters.InactiveConnections(service, server),
                counters.PersistenceEntries(service, server), counters.PersistenceEntries(service));
        }

        lab.Send(TestFrames.Tcp("192.0.2.1", 40000, Vip, 80, TcpFlags.Syn), 0);
        Assert.That(Read(), Is.EqualTo((0, 1, 1, 1)), "SYN: inactive, one persistence entry");
        lab.Send(TestFrames.Tcp("192.0.2.1", 40000, Vip, 80, TcpFlags.Ack), 0);
        Assert.That(Read(), Is.EqualTo((1, 0, 1, 1)), "ACK: established");
        lab.Send(TestFrames.Tcp("192.0.2.1", 40000, Vip, 80, TcpFlags.Fin | TcpFlags.Ack), 0);
        Assert.That(Read(), Is.EqualTo((0, 1, 1, 1)), "FIN: inactive again");
        lab.Send(TestFrames.Tcp("192.0.2.1", 40000, Vip, 80, TcpFlags.Syn), Time.Seconds(3600));
        Assert.That(Read(), Is.EqualTo((0, 1, 1, 1)), "an hour on: the flow and its entry expired on lookup, new ones took their place");
        lab.Send(TestFrames.Tcp("192.0.2.1", 40000, Vip, 80, TcpFlags.Rst), Time.Seconds(3600));
        Assert.That(Read(), Is.EqualTo((0, 1, 1, 1)), "RST: LVS keeps the flow in CLOSE until its timeout");
        Assert.That((counters.ActiveConnections(-1, server), counters.PersistenceEntries(service, 99), counters.PersistenceEntries(99)), Is.EqualTo((0, 0, 0)), "ids out of range");
    }

    private static void AssertCountsMatchScan(TestLab lab, EngineCountersSnapshot counters, string step)
    {
        var engine = lab.Engine;
        engine.CopyCountersTo(counters);
        var connections = engine.ListConnections();
        var services = counters.ServiceIdCapacity;
        var servers = counters.ServerIdCapacity;
        var mismatches = new List<string>();
        mismatches.AddRange(connections.Where(c => c.ServiceId >= services || c.ServerId >= servers).Select(c => $"connection outside the counted ids: {c}"));

        var active = connections.Where(c => c.State == ConnectionState.Established).CountBy(c => (c.ServiceId, c.ServerId)).ToDictionary();
        var inactive = connections.Where(c => c.State != ConnectionState.Established).CountBy(c => (c.ServiceId, c.ServerId)).ToDictionary();
        for (var service = 0; service < services; service++)
        {
            var persistence = engine.ListPersistence(service);
            var byServer = persistence.CountBy(p => p.ServerId).ToDictionary();
            if (counters.PersistenceEntries(service) != persistence.Count)
            {
                mismatches.Add($"service {service}: {counters.PersistenceEntries(service)} persistence entries counted, {persistence.Count} in the table");
            }

            for (var server = 0; server < servers; server++)
            {
                var expected = (active.GetValueOrDefault((service, server)), inactive.GetValueOrDefault((service, server)), byServer.GetValueOrDefault(server));
                var counted = (counters.ActiveConnections(service, server), counters.InactiveConnections(service, server), counters.PersistenceEntries(service, server));
                if (counted != expected)
                {
                    mismatches.Add($"({service}, {server}): counted (active, inactive, persistence) {counted}, scanned {expected}");
                }
            }
        }

        for (var server = 0; server < servers; server++)
        {
            var scanned = (connections.Count(c => c.ServerId == server && c.State == ConnectionState.Established), connections.Count(c => c.ServerId == server && c.State != ConnectionState.Established));
            if ((engine.ActiveConnections(server), engine.InactiveConnections(server)) != scanned)
            {
                mismatches.Add($"server {server}: per-server counts ({engine.ActiveConnections(server)}, {engine.InactiveConnections(server)}), scanned {scanned}");
            }
        }

        Assert.That(mismatches, Is.Empty, step);
    }
}
