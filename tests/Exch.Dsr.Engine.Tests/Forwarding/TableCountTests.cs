using System.Net;
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
    private const string UdpVip = "198.51.100.2";
    private const int Steps = 20_000;
    private const int StepsPerCheck = 10;
    private const int Clients = 120;

    private static readonly ServerState[] States = Enum.GetValues<ServerState>();

    [Test]
    public void CountsEqualAFullScanThroughRandomTraffic([Values(2026, 1124, 7)] int seed)
    {
        var random = new Random(seed);
        var lab = new TestLab(servers: 3, new ForwardingEngineOptions { ConnectionCapacity = 128, FragmentCapacity = 64 });
        lab.Add(TestLab.Service("web", Vip, SchedulerKind.WeightedLeastConnection, ["cas1", "cas2", "cas3"], 80, 443) with
        {
            PersistenceTimeout = TimeSpan.FromSeconds(120),
            PersistenceTableSize = 8,
            OnDown = OnDownBehavior.ShutdownSessions,
            Timeouts = ConnectionTimeouts.Lvs with { TcpEstablished = TimeSpan.FromSeconds(60) },
        });
        lab.Add(TestLab.Service("rpc", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 135) with
        {
            PersistenceTimeout = TimeSpan.FromSeconds(60),
            PersistencePrefixLength = 24,
            PersistenceTableSize = 4,
            OnDown = OnDownBehavior.QuiesceExpire,
            Sloppy = true,
        });
        lab.Add(TestLab.Service("dns", UdpVip, SchedulerKind.SourceHash, ["cas2", "cas3"], 53) with
        {
            Protocol = TransportProtocol.Udp,
            SorryServer = "cas1",
            Timeouts = ConnectionTimeouts.Lvs with { Udp = TimeSpan.FromSeconds(30) },
        });
        lab.Publish();

        var counters = new EngineCountersSnapshot();
        var now = Time.Second;
        for (var step = 1; step <= Steps; step++)
        {
            if (step == Steps / 4)
            {
                // Grows the server dimension while every table holds entries.
                lab.Servers.Add(new RealServer("cas4", IPAddress.Parse("10.0.1.4"), TestAddresses.Server(4)));
                lab.Servers.Add(new RealServer("cas5", IPAddress.Parse("10.0.1.5"), TestAddresses.Server(5)));
                Replace(lab, "web", s => s with { Members = [.. s.Members, new ServiceMember("cas4"), new ServiceMember("cas5")] });
                lab.Publish();
            }
            else if (step == Steps / 2)
            {
                // Grows the service dimension.
                lab.Add(TestLab.Service("smtp", UdpVip, SchedulerKind.WeightedRoundRobin, ["cas3", "cas4", "cas5"], 25) with
                {
                    PersistenceTimeout = TimeSpan.FromSeconds(90),
                    PersistenceTableSize = 8,
                    OnDown = OnDownBehavior.ShutdownSessions,
                });
                lab.Publish();
            }
            else
            {
                now = RandomStep(lab, random, now);
            }

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

    private static long RandomStep(TestLab lab, Random random, long now)
    {
        var roll = random.Next(1000);
        var clientIndex = random.Next(Clients);
        var client = $"10.9.{clientIndex / 200}.{(clientIndex % 200) + 1}";
        var clientPort = (ushort)(40000 + random.Next(4));
        var tcpPort = random.Next(3) switch { 0 => (ushort)80, 1 => (ushort)443, _ => (ushort)135 };
        switch (roll)
        {
            case < 350:
                lab.Send(TestFrames.Tcp(client, clientPort, Vip, tcpPort, TcpFlags.Syn), now);
                break;
            case < 550:
                lab.Send(TestFrames.Tcp(client, clientPort, Vip, tcpPort, TcpFlags.Ack), now);
                break;
            case < 620:
                lab.Send(TestFrames.Tcp(client, clientPort, Vip, tcpPort, TcpFlags.Fin | TcpFlags.Ack), now);
                break;
            case < 660:
                lab.Send(TestFrames.Tcp(client, clientPort, Vip, tcpPort, TcpFlags.Rst), now);
                break;
            case < 780:
                lab.Send(TestFrames.Udp(client, clientPort, UdpVip, random.Next(2) == 0 ? (ushort)53 : (ushort)25), now);
                break;
            case < 900:
                return now + random.NextInt64(Time.Seconds(0.5));
            case < 905:
                return now + Time.Seconds(30) + random.NextInt64(Time.Seconds(200));
            case < 935:
                lab.SetState(RandomServer(lab, random), RandomState(random)).Publish();
                break;
            case < 965:
                var service = lab.Services[random.Next(lab.Services.Count)];
                lab.SetState(service.Name, service.Members[random.Next(service.Members.Count)].Server, RandomState(random)).Publish();
                break;
            case < 980:
                ChangeMembers(lab, random);
                lab.Publish();
                break;
            case < 995:
                ChangePersistence(lab, random);
                lab.Publish();
                break;
            default:
                ToggleService(lab, random);
                lab.Publish();
                break;
        }

        return now;
    }

    // Up half the time, so most services keep a server to schedule on.
    private static ServerState RandomState(Random random) => random.Next(2) == 0 ? ServerState.Up : States[random.Next(States.Length)];

    private static string RandomServer(TestLab lab, Random random) => lab.Servers[random.Next(lab.Servers.Count)].Name;

    /// <summary>Removes a member (its flows and persistent clients are re-dispatched) or adds one; moves the sorry server.</summary>
    private static void ChangeMembers(TestLab lab, Random random)
    {
        var name = lab.Services[random.Next(lab.Services.Count)].Name;
        var server = RandomServer(lab, random);
        switch (random.Next(3))
        {
            case 0:
                Replace(lab, name, s => s.Members.Count > 1 ? s with { Members = [.. s.Members.Where(m => m.Server != server)] } : s);
                break;
            case 1:
                Replace(lab, name, s => s.Members.Any(m => m.Server == server) ? s : s with { Members = [.. s.Members, new ServiceMember(server)] });
                break;
            default:
                Replace(lab, name, s => s with { SorryServer = random.Next(2) == 0 ? null : server });
                break;
        }
    }

    /// <summary>A new table size replaces the table, no timeout drops it, a new timeout keeps it.</summary>
    private static void ChangePersistence(TestLab lab, Random random)
    {
        var name = lab.Services[random.Next(lab.Services.Count)].Name;
        switch (random.Next(3))
        {
            case 0:
                Replace(lab, name, s => s with { PersistenceTableSize = 4 + random.Next(9) });
                break;
            case 1:
                Replace(lab, name, s => s with { PersistenceTimeout = s.PersistenceTimeout is null ? TimeSpan.FromSeconds(60) : null });
                break;
            default:
                Replace(lab, name, s => s with { PersistenceTimeout = TimeSpan.FromSeconds(20 + random.Next(200)) });
                break;
        }
    }

    /// <summary>Takes the rpc service out (its flows become not ours and expire) or puts it back.</summary>
    private static void ToggleService(TestLab lab, Random random)
    {
        var rpc = lab.Services.FindIndex(s => s.Name == "rpc");
        if (rpc >= 0)
        {
            lab.Services.RemoveAt(rpc);
        }
        else
        {
            lab.Add(TestLab.Service("rpc", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 135) with
            {
                PersistenceTimeout = TimeSpan.FromSeconds(60 + random.Next(60)),
                PersistencePrefixLength = 24,
                PersistenceTableSize = 4,
                OnDown = OnDownBehavior.QuiesceExpire,
            });
        }
    }

    private static void Replace(TestLab lab, string name, Func<VirtualService, VirtualService> change)
    {
        var index = lab.Services.FindIndex(s => s.Name == name);
        if (index >= 0)
        {
            lab.Services[index] = change(lab.Services[index]);
        }
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
