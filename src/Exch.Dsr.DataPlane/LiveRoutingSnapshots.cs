using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Health;
using Exch.Dsr.LabBench;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// Snapshots for the live data plane: the configuration mapped as <see cref="RoutingSnapshotFactory"/> maps it (its
/// public <see cref="RoutingSnapshotFactory.ToService"/>), with each server's MAC taken from the
/// <see cref="NeighbourTable"/> at build time. <see cref="RoutingSnapshotFactory"/> itself fixes every MAC once, in its
/// constructor, so it cannot follow a server whose MAC changes; this wrapper keeps one long-lived builder instead, so
/// server and service ids stay stable across snapshots (the engine's connection and persistence entries hold them).
/// </summary>
/// <remarks>
/// A server whose MAC is unknown is left out of the snapshot altogether: out of the server list, out of every
/// service's members, and not used as a sorry server. The engine then treats it as removed (its flows and persistent
/// clients are re-dispatched on their next packet). Control thread only.
/// </remarks>
public sealed class LiveRoutingSnapshots
{
    private readonly ExchDsrConfig _config;
    private readonly NeighbourTable _neighbours;
    private readonly RoutingSnapshotBuilder _builder = new();
    private readonly ServerOverrides _overrides = new();

    public LiveRoutingSnapshots(ExchDsrConfig config, NeighbourTable neighbours)
    {
        _config = config;
        _neighbours = neighbours;
    }

    /// <summary>A snapshot with every server whose MAC is known; <paramref name="excluded"/> names the others.</summary>
    public RoutingSnapshot Build(out IReadOnlyList<string> excluded) => Build(null, out excluded);

    /// <summary>
    /// As <see cref="Build(out IReadOnlyList{string})"/>, with each member that <paramref name="health"/> shows Down in
    /// a service published as <see cref="ServerState.Down"/> in that service only (checks run per service: a CAS can
    /// fail its OWA check while RPC answers). Unknown counts as up: the <see cref="HealthPolicy"/> lets the first probe
    /// decide either way, so Unknown lasts at most one interval, and treating it as down would black-hole every
    /// service for that interval at start-up. Services without a check are absent from the snapshot: always up.
    /// </summary>
    public RoutingSnapshot Build(HealthSnapshot? health, out IReadOnlyList<string> excluded)
    {
        var servers = new List<RealServer>(_config.Servers.Count);
        var missing = new List<string>();
        for (int i = 0; i < _config.Servers.Count; i++)
        {
            var server = _config.Servers[i];
            if (_neighbours.MacOf(i) is { } mac)
            {
                servers.Add(new RealServer(server.Name, server.Address, mac));
            }
            else
            {
                missing.Add(server.Name);
            }
        }

        var known = servers.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var services = _config.Services.Select(s =>
        {
            var service = RoutingSnapshotFactory.ToService(s, _overrides);
            return service with
            {
                Members = [.. service.Members.Where(m => known.Contains(m.Server))],
                SorryServer = service.SorryServer is { } sorry && known.Contains(sorry) ? sorry : null,
            };
        }).ToList();

        var memberStatus = new Dictionary<MemberKey, ServerStatus>();
        if (health is not null)
        {
            foreach (var (service, members) in health.Services)
            {
                foreach (var (server, state) in members)
                {
                    if (state.State == HealthState.Down && known.Contains(server))
                    {
                        memberStatus[new MemberKey(service, server)] = new ServerStatus(ServerState.Down, null);
                    }
                }
            }
        }

        excluded = missing;
        return _builder.Build(servers, services, new Dictionary<string, ServerStatus>(StringComparer.Ordinal), memberStatus);
    }
}
