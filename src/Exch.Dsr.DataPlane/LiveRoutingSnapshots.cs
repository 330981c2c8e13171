using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Health;
using Exch.Dsr.LabBench;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// Snapshots for the live data plane: the configuration mapped as <see cref="RoutingSnapshotFactory"/> maps it (its
/// public <see cref="RoutingSnapshotFactory.ToService"/>), with each server's MAC taken from the
/// <see cref="NeighbourTable"/> at build time. <see cref="RoutingSnapshotFactory"/> itself fixes every MAC once, in its
/// constructor, so it cannot follow a server whose MAC changes; this wrapper keeps one long-lived builder instead, so
/// server and service ids stay stable across snapshots and reloads (the engine's connection and persistence entries
/// hold them, and the builder gives ids by name).
/// </summary>
/// <remarks>
/// A server whose MAC is unknown is left out of the snapshot altogether: out of the server list, out of every
/// service's members, and not used as a sorry server. The engine then treats it as removed (its flows and persistent
/// clients are re-dispatched on their next packet). MACs are looked up by server name and address, so a reloaded
/// configuration may reorder, add or remove servers (the reload hands the neighbour table the new list first, so a new
/// <c>auto</c> server is asked for at once). Control thread only.
/// </remarks>
public sealed class LiveRoutingSnapshots
{
    private readonly NeighbourTable _neighbours;
    private readonly RoutingSnapshotBuilder _builder = new();
    private ExchDsrConfig _config;

    public LiveRoutingSnapshots(ExchDsrConfig config, NeighbourTable neighbours)
    {
        _config = config;
        _neighbours = neighbours;
    }

    /// <summary>The configuration the next snapshot is built from.</summary>
    public ExchDsrConfig Config
    {
        get => _config;
        set => _config = value;
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
        var down = new HashSet<MemberKey>();
        if (health is not null)
        {
            foreach (var (service, members) in health.Services)
            {
                foreach (var (server, state) in members)
                {
                    if (state.State == HealthState.Down)
                    {
                        down.Add(new MemberKey(service, server));
                    }
                }
            }
        }

        return Build(new ServerOverrides(), down, out excluded);
    }

    /// <summary>
    /// The full live view: operator <paramref name="overrides"/> (drain, disable, weight), and the members the health
    /// checks hold <paramref name="down"/>, each Down in its service unless the operator's state there is more
    /// restrictive (disabled outranks down, down outranks drained; a weight override stays).
    /// </summary>
    public RoutingSnapshot Build(ServerOverrides overrides, IReadOnlySet<MemberKey> down, out IReadOnlyList<string> excluded)
    {
        var config = _config;
        var servers = new List<RealServer>(config.Servers.Count);
        var missing = new List<string>();
        foreach (var server in config.Servers)
        {
            if (MacOf(server) is { } mac)
            {
                servers.Add(new RealServer(server.Name, server.Address, mac));
            }
            else
            {
                missing.Add(server.Name);
            }
        }

        var known = servers.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var services = config.Services.Select(s =>
        {
            var service = RoutingSnapshotFactory.ToService(s, overrides);
            return service with
            {
                Members = [.. service.Members.Where(m => known.Contains(m.Server))],
                SorryServer = service.SorryServer is { } sorry && known.Contains(sorry) ? sorry : null,
            };
        }).ToList();

        var memberStatus = new Dictionary<MemberKey, ServerStatus>(overrides.MemberStatuses());
        foreach (var key in down)
        {
            if (!known.Contains(key.Server))
            {
                continue;
            }

            var status = overrides.StatusOf(key.Service, key.Server);
            if (status.State is ServerState.Up or ServerState.Drained)
            {
                memberStatus[key] = status with { State = ServerState.Down };
            }
        }

        excluded = missing;
        return _builder.Build(servers, services, overrides.ServerStatuses(), memberStatus);
    }

    /// <summary>The configured MAC, else the one the neighbour table learned for a watched server of that name and address.</summary>
    public MacAddress? MacOf(RealServerConfig server)
    {
        if (server.Mac is { } configured)
        {
            return MacAddress.Read(configured.GetAddressBytes());
        }

        int index = WatchedIndex(server);
        return index >= 0 ? _neighbours.MacOf(index) : null;
    }

    private int WatchedIndex(RealServerConfig server)
    {
        var watched = _neighbours.Servers;
        for (int i = 0; i < watched.Count; i++)
        {
            if (string.Equals(watched[i].Name, server.Name, StringComparison.Ordinal) && watched[i].Address.Equals(server.Address) && watched[i].Mac is null)
            {
                return i;
            }
        }

        return -1;
    }
}
