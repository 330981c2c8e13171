using System.Net;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// Seeded random traffic and configuration changes for engine tests: SYN/ACK/FIN/RST and UDP from 120 clients (every
/// fourth of them IPv6 for TCP, so both families of the connection table fill, share its capacity and expire), time
/// that jumps past timeouts, server and member states, members, sorry servers, persistence tables, a port and a
/// service that come and go, with servers and a service added at fixed steps. Each step is drawn once and can then be applied
/// to several labs alike, so two engines can be fed exactly the same history.
/// </summary>
internal sealed class RandomTraffic(int seed)
{
    public const int Steps = 20_000;
    public const string Vip = "198.51.100.1";
    public const string UdpVip = "198.51.100.2";
    public const string IPv6Vip = "2001:db8::1";
    private const int Clients = 120;

    private static readonly ServerState[] States = Enum.GetValues<ServerState>();

    private readonly Random _random = new(seed);

    /// <summary>A lab with the services the steps address, published.</summary>
    public static TestLab NewLab()
    {
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
        lab.Add(TestLab.Service("web6", IPv6Vip, SchedulerKind.WeightedLeastConnection, ["cas1", "cas2", "cas3"], 80, 443) with
        {
            PersistenceTimeout = TimeSpan.FromSeconds(90),
            PersistencePrefixLength = 64,
            PersistenceTableSize = 8,
            OnDown = OnDownBehavior.ShutdownSessions,
        });
        lab.Add(TestLab.Service("dns", UdpVip, SchedulerKind.SourceHash, ["cas2", "cas3"], 53) with
        {
            Protocol = TransportProtocol.Udp,
            SorryServer = "cas1",
            Timeouts = ConnectionTimeouts.Lvs with { Udp = TimeSpan.FromSeconds(30) },
        });
        lab.Publish();
        return lab;
    }

    /// <summary>Step <paramref name="step"/> (1 to <see cref="Steps"/>).</summary>
    public TrafficStep Next(int step)
    {
        if (step == Steps / 4)
        {
            // Grows the server dimension while every table holds entries.
            return Change(lab =>
            {
                lab.Servers.Add(new RealServer("cas4", IPAddress.Parse("10.0.1.4"), TestAddresses.Server(4)));
                lab.Servers.Add(new RealServer("cas5", IPAddress.Parse("10.0.1.5"), TestAddresses.Server(5)));
                Replace(lab, "web", s => s with { Members = [.. s.Members, new ServiceMember("cas4"), new ServiceMember("cas5")] });
            });
        }

        if (step == Steps / 2)
        {
            // Grows the service dimension.
            return Change(lab => lab.Add(TestLab.Service("smtp", UdpVip, SchedulerKind.WeightedRoundRobin, ["cas3", "cas4", "cas5"], 25) with
            {
                PersistenceTimeout = TimeSpan.FromSeconds(90),
                PersistenceTableSize = 8,
                OnDown = OnDownBehavior.ShutdownSessions,
            }));
        }

        var roll = _random.Next(1000);
        var clientIndex = _random.Next(Clients);
        var client = $"10.9.{clientIndex / 200}.{(clientIndex % 200) + 1}";
        var (tcpClient, tcpVip) = clientIndex % 4 == 3 ? ($"2001:db8:9:{clientIndex % 3}::{clientIndex:x}", IPv6Vip) : (client, Vip);
        var clientPort = (ushort)(40000 + _random.Next(4));
        var tcpPort = _random.Next(3) switch { 0 => (ushort)80, 1 => (ushort)443, _ => (ushort)135 };
        var servers = step < Steps / 4 ? 3 : 5;
        var services = step < Steps / 2 ? ["web", "web6", "rpc", "dns"] : new[] { "web", "web6", "rpc", "dns", "smtp" };
        return roll switch
        {
            < 350 => new TrafficStep(TestFrames.Tcp(tcpClient, clientPort, tcpVip, tcpPort, TcpFlags.Syn), 0, null),
            < 550 => new TrafficStep(TestFrames.Tcp(tcpClient, clientPort, tcpVip, tcpPort, TcpFlags.Ack), 0, null),
            < 620 => new TrafficStep(TestFrames.Tcp(tcpClient, clientPort, tcpVip, tcpPort, TcpFlags.Fin | TcpFlags.Ack), 0, null),
            < 660 => new TrafficStep(TestFrames.Tcp(tcpClient, clientPort, tcpVip, tcpPort, TcpFlags.Rst), 0, null),
            < 780 => new TrafficStep(TestFrames.Udp(client, clientPort, UdpVip, _random.Next(2) == 0 ? (ushort)53 : (ushort)25), 0, null),
            < 900 => new TrafficStep(null, _random.NextInt64(Time.Seconds(0.5)), null),
            < 905 => new TrafficStep(null, Time.Seconds(30) + _random.NextInt64(Time.Seconds(200)), null),
            < 935 => SetServerState(RandomServer(servers), RandomState()),
            < 965 => SetMemberState(services[_random.Next(services.Length)]),
            < 980 => ChangeMembers(services[_random.Next(services.Length)], RandomServer(servers)),
            < 990 => ChangePersistence(services[_random.Next(services.Length)]),
            < 995 => TogglePort80(),
            _ => ToggleService(60 + _random.Next(60)),
        };
    }

    private static TrafficStep Change(Action<TestLab> change) => new(null, 0, change);

    private TrafficStep SetServerState(string server, ServerState state) => Change(lab => lab.SetState(server, state));

    private TrafficStep SetMemberState(string service)
    {
        var member = _random.Next(16);
        var state = RandomState();
        return Change(lab =>
        {
            if (lab.Services.Find(s => s.Name == service) is { } found)
            {
                lab.SetState(service, found.Members[member % found.Members.Count].Server, state);
            }
        });
    }

    /// <summary>Removes a member (its flows and persistent clients are re-dispatched) or adds one; moves the sorry server.</summary>
    private TrafficStep ChangeMembers(string service, string server)
    {
        var sorry = _random.Next(2) == 0 ? null : server;
        return _random.Next(3) switch
        {
            0 => Change(lab => Replace(lab, service, s => s.Members.Count > 1 ? s with { Members = [.. s.Members.Where(m => m.Server != server)] } : s)),
            1 => Change(lab => Replace(lab, service, s => s.Members.Any(m => m.Server == server) ? s : s with { Members = [.. s.Members, new ServiceMember(server)] })),
            _ => Change(lab => Replace(lab, service, s => s with { SorryServer = sorry })),
        };
    }

    /// <summary>A new table size replaces the table, no timeout drops it, a new timeout keeps it.</summary>
    private TrafficStep ChangePersistence(string service)
    {
        var size = 4 + _random.Next(9);
        var timeout = TimeSpan.FromSeconds(20 + _random.Next(200));
        return _random.Next(3) switch
        {
            0 => Change(lab => Replace(lab, service, s => s with { PersistenceTableSize = size })),
            1 => Change(lab => Replace(lab, service, s => s with { PersistenceTimeout = s.PersistenceTimeout is null ? TimeSpan.FromSeconds(60) : null })),
            _ => Change(lab => Replace(lab, service, s => s with { PersistenceTimeout = timeout })),
        };
    }

    /// <summary>Web stops or starts serving port 80: its connections there are no longer its own (then not ours).</summary>
    private static TrafficStep TogglePort80()
        => Change(lab => Replace(lab, "web", s => s with { Ports = s.Ports.Contains((ushort)80) ? [443] : [80, 443] }));

    /// <summary>Takes the rpc service out (its flows become not ours and expire) or puts it back.</summary>
    private static TrafficStep ToggleService(int persistenceSeconds) => Change(lab =>
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
                PersistenceTimeout = TimeSpan.FromSeconds(persistenceSeconds),
                PersistencePrefixLength = 24,
                PersistenceTableSize = 4,
                OnDown = OnDownBehavior.QuiesceExpire,
            });
        }
    });

    // Up half the time, so most services keep a server to schedule on.
    private ServerState RandomState() => _random.Next(2) == 0 ? ServerState.Up : States[_random.Next(States.Length)];

    private string RandomServer(int servers) => $"cas{_random.Next(servers) + 1}";

    private static void Replace(TestLab lab, string name, Func<VirtualService, VirtualService> change)
    {
        var index = lab.Services.FindIndex(s => s.Name == name);
        if (index >= 0)
        {
            lab.Services[index] = change(lab.Services[index]);
        }
    }
}

/// <summary>One step: a frame to send, a jump in time, or a configuration change to publish.</summary>
internal sealed record TrafficStep(byte[]? Frame, long Advance, Action<TestLab>? Change)
{
    /// <summary>Applies the step to <paramref name="lab"/> at <paramref name="now"/>; returns the time after it.</summary>
    public long ApplyTo(TestLab lab, long now)
    {
        if (Frame is not null)
        {
            lab.Send(Frame, now);
        }

        PublishChange(lab);
        return now + Advance;
    }

    /// <summary>Applies the step's configuration change, if it has one, to each lab in turn and publishes it there.</summary>
    public void PublishChange(params TestLab[] labs)
    {
        if (Change is null)
        {
            return;
        }

        foreach (var lab in labs)
        {
            Change(lab);
            lab.Publish();
        }
    }
}
