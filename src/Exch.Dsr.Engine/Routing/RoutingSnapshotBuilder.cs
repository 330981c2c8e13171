using System.Collections.Immutable;
using System.Net.Sockets;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.Engine.Routing;

/// <summary>
/// Builds <see cref="RoutingSnapshot"/>s from definitions plus health and admin state. Long-lived: it remembers the id
/// it gave every server and service name, so ids stay stable across rebuilds (config reload, health flip) and the
/// engines' connection and persistence entries, which hold ids, survive them. Ids are never reused.
/// Not thread-safe: one control-plane thread owns a builder.
/// </summary>
public sealed class RoutingSnapshotBuilder
{
    public const int MaxServiceIds = ushort.MaxValue;

    private readonly Dictionary<string, int> _serverIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _serviceIds = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Validates everything and collects every problem rather than stopping at the first.</summary>
    /// <param name="status">Per server, for every service it is in; a server not listed is Up.</param>
    public bool TryBuild(
        IReadOnlyList<RealServer> servers,
        IReadOnlyList<VirtualService> services,
        IReadOnlyDictionary<string, ServerStatus>? status,
        out RoutingSnapshot? snapshot,
        out IReadOnlyList<string> errors)
        => TryBuild(servers, services, status, memberStatus: null, out snapshot, out errors);

    /// <summary>
    /// As the per-server overload, plus a status per (service, server): where given it replaces the server's status
    /// in that one service (its members and its sorry server), so the caller merges the two layers (the lab bench's
    /// <c>ServerOverrides</c> takes the more restrictive state). Entries for servers that are neither a member nor
    /// the sorry server of the named service are ignored. The snapshot's <see cref="RoutingSnapshot.Servers"/> keep
    /// the per-server state; <see cref="ServiceRoute.Members"/> show the state each service uses.
    /// </summary>
    public bool TryBuild(
        IReadOnlyList<RealServer> servers,
        IReadOnlyList<VirtualService> services,
        IReadOnlyDictionary<string, ServerStatus>? status,
        IReadOnlyDictionary<MemberKey, ServerStatus>? memberStatus,
        out RoutingSnapshot? snapshot,
        out IReadOnlyList<string> errors)
    {
        var problems = Validate(servers, services, status, memberStatus);
        var newServiceNames = services.Select(s => s.Name).Where(n => n is not null && !_serviceIds.ContainsKey(n)).Distinct(StringComparer.Ordinal).Count();
        if (_serviceIds.Count + newServiceNames > MaxServiceIds)
        {
            // Connection entries hold the service id in 16 bits.
            problems.Add($"More than {MaxServiceIds} distinct service names over this builder's lifetime.");
        }

        errors = problems;
        snapshot = null;
        if (problems.Count > 0)
        {
            return false;
        }

        foreach (var server in servers)
        {
            IdFor(_serverIds, server.Name);
        }

        foreach (var service in services)
        {
            IdFor(_serviceIds, service.Name);
        }

        var serverViews = servers
            .Select(s =>
            {
                var st = StatusOf(status, s.Name);
                return new ServerView(_serverIds[s.Name], s.Name, IpAddress128.FromIPAddress(s.Address), s.Mac, st.State, st.WeightOverride);
            })
            .ToImmutableArray();

        var routes = ImmutableArray.CreateBuilder<ServiceRoute>(services.Count);
        foreach (var service in services)
        {
            routes.Add(BuildRoute(service, status, memberStatus));
        }

        snapshot = new RoutingSnapshot(++_version, routes.MoveToImmutable(), serverViews, _serverIds.Count, _serviceIds.Count);
        return true;
    }

    /// <summary>As <see cref="TryBuild(IReadOnlyList{RealServer}, IReadOnlyList{VirtualService}, IReadOnlyDictionary{string, ServerStatus}?, out RoutingSnapshot?, out IReadOnlyList{string})"/>, throwing one exception listing every problem.</summary>
    public RoutingSnapshot Build(IReadOnlyList<RealServer> servers, IReadOnlyList<VirtualService> services, IReadOnlyDictionary<string, ServerStatus>? status = null)
        => Build(servers, services, status, memberStatus: null);

    /// <summary>As the <c>TryBuild</c> with per-member status, throwing one exception listing every problem.</summary>
    public RoutingSnapshot Build(
        IReadOnlyList<RealServer> servers,
        IReadOnlyList<VirtualService> services,
        IReadOnlyDictionary<string, ServerStatus>? status,
        IReadOnlyDictionary<MemberKey, ServerStatus>? memberStatus)
        => TryBuild(servers, services, status, memberStatus, out var snapshot, out var errors)
            ? snapshot!
            : throw new InvalidOperationException("Invalid routing definition:" + Environment.NewLine + string.Join(Environment.NewLine, errors));

    private ServiceRoute BuildRoute(VirtualService service, IReadOnlyDictionary<string, ServerStatus>? status, IReadOnlyDictionary<MemberKey, ServerStatus>? memberStatus)
    {
        var dispositions = new MemberDisposition[_serverIds.Count];
        var candidates = new List<int>();
        var weights = new List<int>();
        var names = new List<string>();
        var members = ImmutableArray.CreateBuilder<MemberView>();
        foreach (var member in service.Members)
        {
            var id = _serverIds[member.Server];
            var st = StatusOf(status, memberStatus, service.Name, member.Server);
            var weight = st.WeightOverride ?? member.Weight;
            var disposition = Disposition(st.State, weight, service.OnDown);
            dispositions[id] = disposition;
            members.Add(new MemberView(id, member.Server, weight, st.State, disposition));
            if ((disposition & MemberDisposition.Schedulable) != 0)
            {
                candidates.Add(id);
                weights.Add(weight);
                names.Add(member.Server);
            }
        }

        var sorryId = -1;
        var sorryDisabled = false;
        if (service.SorryServer is { } sorry)
        {
            sorryId = _serverIds[sorry];
            sorryDisabled = StatusOf(status, memberStatus, service.Name, sorry).State == ServerState.Disabled;

            // Flows already on the sorry server stay there until it is disabled, also after members come back.
            if (dispositions[sorryId] == MemberDisposition.None && !sorryDisabled)
            {
                dispositions[sorryId] = MemberDisposition.KeepsConnections;
            }
        }

        var scheduler = Schedulers.Get(service.Scheduler);
        var lookup = scheduler.BuildLookupTable(candidates.ToArray(), weights.ToArray(), names);
        return new ServiceRoute(_serviceIds[service.Name], service, scheduler, [.. candidates], [.. weights], lookup, dispositions, sorryId, sorryDisabled, members.ToImmutable());
    }

    private static MemberDisposition Disposition(ServerState state, int weight, OnDownBehavior onDown)
    {
        const MemberDisposition keeps = MemberDisposition.Member | MemberDisposition.KeepsConnections | MemberDisposition.KeepsPersistence;
        return state switch
        {
            ServerState.Up when weight > 0 => keeps | MemberDisposition.Schedulable,

            // Weight 0 is LVS's quiescent member: no new clients, everything existing stays.
            ServerState.Up or ServerState.Drained => keeps,
            ServerState.Down => onDown switch
            {
                OnDownBehavior.Quiesce => keeps,
                OnDownBehavior.QuiesceExpire => MemberDisposition.Member | MemberDisposition.KeepsConnections | MemberDisposition.ExpiresPersistence,
                _ => MemberDisposition.Member,
            },
            _ => MemberDisposition.Member,
        };
    }

    private static ServerStatus StatusOf(IReadOnlyDictionary<string, ServerStatus>? status, string name)
        => status is not null && status.TryGetValue(name, out var st) ? st : new ServerStatus(ServerState.Up);

    /// <summary>The member's own status where given, else the server's.</summary>
    private static ServerStatus StatusOf(IReadOnlyDictionary<string, ServerStatus>? status, IReadOnlyDictionary<MemberKey, ServerStatus>? memberStatus, string service, string server)
        => memberStatus is not null && memberStatus.TryGetValue(new MemberKey(service, server), out var st) ? st : StatusOf(status, server);

    private static void IdFor(Dictionary<string, int> ids, string name)
    {
        if (!ids.ContainsKey(name))
        {
            ids[name] = ids.Count;
        }
    }

    private static List<string> Validate(
        IReadOnlyList<RealServer> servers,
        IReadOnlyList<VirtualService> services,
        IReadOnlyDictionary<string, ServerStatus>? status,
        IReadOnlyDictionary<MemberKey, ServerStatus>? memberStatus)
    {
        var errors = new List<string>();
        var serverNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var server in servers)
        {
            if (string.IsNullOrEmpty(server.Name))
            {
                errors.Add("A real server has no name.");
            }
            else if (!serverNames.Add(server.Name))
            {
                errors.Add($"Real server '{server.Name}' is defined more than once.");
            }

            if (server.Mac.IsZero || server.Mac.IsMulticast)
            {
                errors.Add($"Real server '{server.Name}' has MAC {server.Mac}, which is not a unicast address.");
            }
        }

        var serviceNames = new HashSet<string>(StringComparer.Ordinal);
        var endpoints = new Dictionary<(IpAddress128, TransportProtocol, ushort), string>();
        foreach (var service in services)
        {
            var name = service.Name;
            if (string.IsNullOrEmpty(name))
            {
                errors.Add("A virtual service has no name.");
            }
            else if (!serviceNames.Add(name))
            {
                errors.Add($"Virtual service '{name}' is defined more than once.");
            }

            if (service.Protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp))
            {
                errors.Add($"Service '{name}': protocol must be tcp or udp.");
            }

            if (service.Ports.Count == 0)
            {
                errors.Add($"Service '{name}' has no ports.");
            }

            var vip = IpAddress128.FromIPAddress(service.Vip);
            foreach (var port in service.Ports)
            {
                if (port == 0)
                {
                    errors.Add($"Service '{name}': port 0 is not a port.");
                }
                else if (!endpoints.TryAdd((vip, service.Protocol, port), name))
                {
                    errors.Add($"Service '{name}': {service.Vip} {service.Protocol} port {port} already belongs to service '{endpoints[(vip, service.Protocol, port)]}'.");
                }
            }

            var maxPrefix = service.Vip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            if (service.PersistencePrefixLength is { } prefix && (prefix < 0 || prefix > maxPrefix))
            {
                errors.Add($"Service '{name}': persistence prefix length {prefix} is outside 0-{maxPrefix}.");
            }

            if (service.PersistenceTimeout is { } timeout && timeout < TimeSpan.Zero)
            {
                errors.Add($"Service '{name}': persistence timeout is negative.");
            }

            if (service.PersistenceTableSize < 1)
            {
                errors.Add($"Service '{name}': persistence table size must be at least 1.");
            }

            if (!Enum.IsDefined(service.Scheduler))
            {
                errors.Add($"Service '{name}': unknown scheduler {service.Scheduler}.");
            }

            var members = new HashSet<string>(StringComparer.Ordinal);
            foreach (var member in service.Members)
            {
                if (!serverNames.Contains(member.Server))
                {
                    errors.Add($"Service '{name}': member '{member.Server}' is not a real server.");
                }

                if (!members.Add(member.Server))
                {
                    errors.Add($"Service '{name}': member '{member.Server}' is listed more than once.");
                }

                if (member.Weight < 0)
                {
                    errors.Add($"Service '{name}': member '{member.Server}' has negative weight {member.Weight}.");
                }
            }

            if (service.SorryServer is { } sorry && !serverNames.Contains(sorry))
            {
                errors.Add($"Service '{name}': sorry server '{sorry}' is not a real server.");
            }
        }

        if (status is not null)
        {
            foreach (var (name, st) in status)
            {
                if (st.WeightOverride is < 0)
                {
                    errors.Add($"Server '{name}': weight override {st.WeightOverride} is negative.");
                }
            }
        }

        if (memberStatus is not null)
        {
            foreach (var (key, st) in memberStatus)
            {
                if (st.WeightOverride is < 0)
                {
                    errors.Add($"Server '{key.Server}' in service '{key.Service}': weight override {st.WeightOverride} is negative.");
                }
            }
        }

        return errors;
    }
}
