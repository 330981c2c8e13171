using System.Net.NetworkInformation;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using EngineMember = Exch.Dsr.Engine.Routing.ServiceMember;
using EngineOnDown = Exch.Dsr.Engine.Routing.OnDownBehavior;
using EngineProtocol = Exch.Dsr.Engine.Routing.TransportProtocol;
using EngineScheduler = Exch.Dsr.Engine.Scheduling.SchedulerKind;
using EngineTimeouts = Exch.Dsr.Engine.Routing.ConnectionTimeouts;

namespace Exch.Dsr.LabBench;

/// <summary>
/// The configuration-to-engine mapping: real servers, services, members and weights, persistence, timeouts,
/// on-down, sorry server and sloppy TCP become the engine's definitions once, and every health or operator change
/// becomes a new <see cref="RoutingSnapshot"/> from the same long-lived builder, so server and service ids (which
/// the engine's connection and persistence entries hold) stay stable. Replay uses it now; the live forwarder's
/// control plane will use it the same way.
/// </summary>
/// <remarks>
/// A MAC of <c>auto</c> cannot be resolved without a network: the caller says how to fill it in
/// (<see cref="LabMacAddresses"/> for a replay, ARP and NDP live) and each filled-in address is described in
/// <see cref="AddressNotes"/>.
/// </remarks>
public sealed class RoutingSnapshotFactory
{
    private readonly ExchDsrConfig _config;
    private readonly RoutingSnapshotBuilder _builder = new();

    /// <param name="resolveMac">The MAC of a server configured as <c>auto</c>, and a description of where it came from.</param>
    public RoutingSnapshotFactory(ExchDsrConfig config, Func<RealServerConfig, (MacAddress Mac, string Source)> resolveMac)
    {
        _config = config;
        var notes = new List<string>();
        var servers = new List<RealServer>(config.Servers.Count);
        foreach (var server in config.Servers)
        {
            MacAddress mac;
            if (server.Mac is { } configured)
            {
                mac = FromPhysical(configured);
                notes.Add($"{server.Name} {server.Address} mac {mac} (configured)");
            }
            else
            {
                (mac, var source) = resolveMac(server);
                notes.Add($"{server.Name} {server.Address} mac {mac} ({source})");
            }

            servers.Add(new RealServer(server.Name, server.Address, mac));
        }

        Servers = servers;
        AddressNotes = notes;
    }

    /// <summary>For a replay: <c>auto</c> MACs derived from each server's address with <see cref="LabMacAddresses"/>.</summary>
    public static RoutingSnapshotFactory ForReplay(ExchDsrConfig config) => new(config, server =>
    {
        Span<byte> mac = stackalloc byte[MacAddress.Length];
        LabMacAddresses.DeriveFromAddress(server.Address.GetAddressBytes(), mac);
        return (MacAddress.Read(mac), "derived from its IP: mac = auto");
    });

    /// <summary>The engine's real servers, in configuration order, with their MACs filled in.</summary>
    public IReadOnlyList<RealServer> Servers { get; }

    /// <summary>One line per server: "CAS1 10.0.0.11 mac 02:00:0a:00:00:0b (derived from its IP: mac = auto)".</summary>
    public IReadOnlyList<string> AddressNotes { get; }

    /// <summary>
    /// The appliance's source MAC for a replay: the configured one, or for <c>auto</c> (no interface to read it
    /// from) <see cref="LabMacAddresses.ReplayAppliance"/>; the string says which.
    /// </summary>
    public static (MacAddress Mac, string Note) ReplayApplianceMac(ExchDsrConfig config) => config.Appliance.Mac is { } mac
        ? (FromPhysical(mac), $"appliance mac {FromPhysical(mac)} (configured)")
        : (MacAddress.Read(LabMacAddresses.ReplayAppliance), $"appliance mac {MacAddress.Read(LabMacAddresses.ReplayAppliance)} (fixed for replay: mac = auto)");

    /// <summary>A snapshot of the configuration as changed by <paramref name="overrides"/>.</summary>
    /// <exception cref="InvalidOperationException">The engine refused the definitions; the loader's validation should make this impossible.</exception>
    public RoutingSnapshot Build(ServerOverrides overrides) =>
        _builder.Build(Servers, [.. _config.Services.Select(s => ToService(s, overrides))], overrides.ServerStatuses(), overrides.MemberStatuses());

    /// <summary>One configured service as the engine defines it, member weights as <paramref name="overrides"/> leave them.</summary>
    public static VirtualService ToService(VirtualServiceConfig service, ServerOverrides overrides) => new()
    {
        Name = service.Name,
        Vip = service.Vip,
        Protocol = service.Protocol == Configuration.TransportProtocol.Udp ? EngineProtocol.Udp : EngineProtocol.Tcp,
        Ports = [.. service.Ports.Select(p => (ushort)p)],
        Scheduler = service.Scheduler switch
        {
            SchedulerKind.RoundRobin => EngineScheduler.RoundRobin,
            SchedulerKind.WeightedRoundRobin => EngineScheduler.WeightedRoundRobin,
            SchedulerKind.LeastConnection => EngineScheduler.LeastConnection,
            SchedulerKind.WeightedLeastConnection => EngineScheduler.WeightedLeastConnection,
            SchedulerKind.SourceHash => EngineScheduler.SourceHash,
            SchedulerKind.MaglevHash => EngineScheduler.Maglev,
            _ => throw new ArgumentOutOfRangeException(nameof(service), service.Scheduler, "unknown scheduler"),
        },
        PersistenceTimeout = service.Persistence?.Timeout,
        PersistencePrefixLength = service.Persistence?.PrefixLength,
        PersistenceTableSize = service.Persistence?.TableSize ?? VirtualService.DefaultPersistenceTableSize,
        Members = [.. service.Members.Select(m => new EngineMember(m.Server.Name, overrides.WeightOf(service, m)))],
        OnDown = service.OnDown switch
        {
            OnDownAction.Quiesce => EngineOnDown.Quiesce,
            OnDownAction.QuiesceExpire => EngineOnDown.QuiesceExpire,
            OnDownAction.ShutdownSessions => EngineOnDown.ShutdownSessions,
            _ => throw new ArgumentOutOfRangeException(nameof(service), service.OnDown, "unknown on-down action"),
        },
        Timeouts = ToTimeouts(service.Timeouts),
        Sloppy = service.Sloppy,
        SorryServer = service.SorryServer?.Name,
    };

    /// <summary>
    /// The configuration names the timeouts ipvsadm --set and keepalived expose; the engine has LVS's full table.
    /// A DR balancer sees only the client's side, so after a SYN the flow sits in SYN_RECV: "tcp-syn" is that state's.
    /// </summary>
    public static EngineTimeouts ToTimeouts(Configuration.ConnectionTimeouts timeouts) => EngineTimeouts.Lvs with
    {
        TcpEstablished = timeouts.TcpEstablished,
        TcpSynReceived = timeouts.TcpSyn,
        TcpFinWait = timeouts.TcpFinWait,
        TcpClose = timeouts.TcpClose,
        Udp = timeouts.Udp,
    };

    private static MacAddress FromPhysical(PhysicalAddress mac) => MacAddress.Read(mac.GetAddressBytes());
}
