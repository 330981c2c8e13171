using System.Net;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.TestSupport;

/// <summary>
/// A small configurable setup: servers cas1..casN (10.0.1.i, MAC <see cref="TestAddresses.Server"/>(i)), a builder that
/// keeps ids stable, and an engine with small tables.
/// </summary>
public sealed class TestLab
{
    private readonly RoutingSnapshotBuilder _builder = new();
    private readonly Dictionary<string, ServerStatus> _status = new(StringComparer.Ordinal);
    private readonly Dictionary<MemberKey, ServerStatus> _memberStatus = [];

    public TestLab(int servers = 3, ForwardingEngineOptions? options = null)
    {
        Servers = [.. Enumerable.Range(1, servers).Select(i => new RealServer($"cas{i}", IPAddress.Parse($"10.0.1.{i}"), TestAddresses.Server(i)))];
        Engine = new ForwardingEngine(TestAddresses.Appliance, options ?? new ForwardingEngineOptions { ConnectionCapacity = 1 << 16, FragmentCapacity = 64 });
    }

    public List<RealServer> Servers { get; }

    public List<VirtualService> Services { get; } = [];

    public ForwardingEngine Engine { get; }

    public RoutingSnapshot Snapshot { get; private set; } = null!;

    public static VirtualService Service(string name, string vip, SchedulerKind scheduler, IEnumerable<string> members, params ushort[] ports)
        => new()
        {
            Name = name,
            Vip = IPAddress.Parse(vip),
            Ports = ports,
            Scheduler = scheduler,
            Members = [.. members.Select(m => new ServiceMember(m))],
        };

    public TestLab Add(VirtualService service)
    {
        Services.Add(service);
        return this;
    }

    public TestLab SetState(string server, ServerState state, int? weight = null)
    {
        _status[server] = new ServerStatus(state, weight);
        return this;
    }

    /// <summary>The server's status in one service only (replaces its per-server status there).</summary>
    public TestLab SetState(string service, string server, ServerState state, int? weight = null)
    {
        _memberStatus[new MemberKey(service, server)] = new ServerStatus(state, weight);
        return this;
    }

    /// <summary>Builds a snapshot from the current definitions and status and publishes it.</summary>
    public RoutingSnapshot Publish()
    {
        Snapshot = _builder.Build(Servers, Services, _status, _memberStatus);
        Engine.Publish(Snapshot);
        Engine.AdoptPublished();
        return Snapshot;
    }

    public int ServerId(string name) => Snapshot.Servers.Single(s => s.Name == name).Id;

    public string ServerName(int id) => Snapshot.Servers.Single(s => s.Id == id).Name;

    /// <summary>Processes a copy of <paramref name="frame"/> and returns the verdict, decision and the frame after.</summary>
    public (ForwardVerdict Verdict, ForwardDecision Decision, byte[] Output) Send(byte[] frame, long nowNs)
    {
        var copy = (byte[])frame.Clone();
        var verdict = Engine.Process(copy, nowNs, out var decision);
        return (verdict, decision, copy);
    }

    /// <summary>The server name a forwarded frame went to, or null.</summary>
    public string? Target(byte[] frame, long nowNs)
    {
        var (verdict, decision, _) = Send(frame, nowNs);
        return verdict == ForwardVerdict.Forwarded ? ServerName(decision.ServerId) : null;
    }
}

public static class Time
{
    public const long Second = 1_000_000_000;

    public static long Seconds(double s) => (long)(s * Second);
}
