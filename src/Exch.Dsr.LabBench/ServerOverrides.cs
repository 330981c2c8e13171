using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.LabBench;

/// <summary>
/// Run-time state that differs from the configuration: health and operator actions, as events (replay) or, live,
/// health checks and the control socket set them. A change is followed by a new snapshot from
/// <see cref="RoutingSnapshotFactory"/>, published to the engine.
/// </summary>
/// <remarks>
/// Two layers. Server-wide events (no service named) set the server's state in every service it is in, and a
/// server-wide <c>weight</c> replaces its weight everywhere. Service-scoped events change one member only: <c>down</c>,
/// <c>up</c>, <c>disable</c> and <c>drain</c> (LVS's quiescent member: no new clients) its health and admin state there
/// (health checks run per service: a CAS can fail its OWA check while RPC answers), <c>weight</c> its weight there,
/// <c>enable</c> clears that service's <c>disable</c> and <c>drain</c> but keeps a weight set on purpose. Each layer is cleared only by events of its own
/// scope; in a service the more restrictive state of the two applies (disabled, then down, then drained, then up).
/// Not thread-safe: one writer (the replay loop, or the control plane's update task) owns it.
/// </remarks>
public sealed class ServerOverrides
{
    private readonly Dictionary<string, ServerFlags> _servers = new(StringComparer.Ordinal);
    private readonly Dictionary<MemberKey, MemberFlags> _members = [];

    /// <summary>The engine's view of one server: its state, and the weight that replaces its weight in every service.</summary>
    public ServerStatus StatusOf(string server)
    {
        if (!_servers.TryGetValue(server, out var flags))
        {
            return new ServerStatus(ServerState.Up);
        }

        // Disabled outranks down (an operator's decision outlives a health flip), and both outrank drained.
        var state = flags.Disabled ? ServerState.Disabled
            : flags.Down ? ServerState.Down
            : flags.Drained ? ServerState.Drained
            : ServerState.Up;
        return new ServerStatus(state, flags.Weight);
    }

    /// <summary>
    /// The server's status in one service: the more restrictive of its server-wide state and the service-scoped
    /// one, with the server-wide weight override (a scoped weight is in <see cref="WeightOf"/>).
    /// </summary>
    public ServerStatus StatusOf(string service, string server)
    {
        var status = StatusOf(server);
        if (!_members.TryGetValue(new MemberKey(service, server), out var flags))
        {
            return status;
        }

        var scoped = flags.Disabled ? ServerState.Disabled
            : flags.Down ? ServerState.Down
            : flags.Drained ? ServerState.Drained
            : ServerState.Up;
        return Rank(scoped) > Rank(status.State) ? status with { State = scoped } : status;
    }

    /// <summary>The member's weight in one service: a service-scoped override, else the configured weight.</summary>
    public int WeightOf(VirtualServiceConfig service, Configuration.ServiceMember member) =>
        _members.TryGetValue(new MemberKey(service.Name, member.Server.Name), out var flags) && flags.Weight is { } weight
            ? weight
            : member.Weight;

    /// <summary>Every server whose status is not plain Up, for the snapshot builder.</summary>
    public IReadOnlyDictionary<string, ServerStatus> ServerStatuses() =>
        _servers.Keys.ToDictionary(name => name, StatusOf, StringComparer.Ordinal);

    /// <summary>
    /// Every member with a service-scoped state (down, disabled or drained in that service), merged with its server-wide
    /// status as <see cref="StatusOf(string, string)"/> does, for the snapshot builder, where it replaces the
    /// server-wide status in that service.
    /// </summary>
    public IReadOnlyDictionary<MemberKey, ServerStatus> MemberStatuses() =>
        _members.Where(m => m.Value.Down || m.Value.Disabled || m.Value.Drained)
            .ToDictionary(m => m.Key, m => StatusOf(m.Key.Service, m.Key.Server));

    /// <summary>Applies a validated event (see <see cref="Validate"/>).</summary>
    /// <returns>Whether anything changed.</returns>
    public bool Apply(ExchDsrConfig config, ServerEvent change)
    {
        if (change.Service is not null)
        {
            var service = config.Services.Single(s => string.Equals(s.Name, change.Service, StringComparison.Ordinal));
            var member = service.Members.Single(m => string.Equals(m.Server.Name, change.Server, StringComparison.Ordinal));
            var key = new MemberKey(service.Name, member.Server.Name);
            var before = (WeightOf(service, member), StatusOf(key.Service, key.Server));
            var old = _members.GetValueOrDefault(key);
            var flags = change.Action switch
            {
                ServerEventAction.Down => old with { Down = true },
                ServerEventAction.Up => old with { Down = false },
                ServerEventAction.Disable => old with { Disabled = true },
                ServerEventAction.Drain => old with { Drained = true },
                ServerEventAction.Enable => old with { Disabled = false, Drained = false },
                ServerEventAction.Weight => old with { Weight = change.Weight },
                _ => throw new ArgumentOutOfRangeException(nameof(change), change.Action, "unknown action"),
            };
            if (flags == default)
            {
                _members.Remove(key);
            }
            else
            {
                _members[key] = flags;
            }

            return (WeightOf(service, member), StatusOf(key.Service, key.Server)) != before;
        }

        var oldServer = _servers.GetValueOrDefault(change.Server);
        var serverFlags = change.Action switch
        {
            ServerEventAction.Down => oldServer with { Down = true },
            ServerEventAction.Up => oldServer with { Down = false },
            ServerEventAction.Drain => oldServer with { Drained = true },
            ServerEventAction.Disable => oldServer with { Disabled = true },
            ServerEventAction.Enable => oldServer with { Disabled = false, Drained = false },
            ServerEventAction.Weight => oldServer with { Weight = change.Weight },
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Action, "unknown action"),
        };
        if (serverFlags == default)
        {
            _servers.Remove(change.Server);
        }
        else
        {
            _servers[change.Server] = serverFlags;
        }

        return serverFlags != oldServer;
    }

    /// <summary>
    /// Checks events against a configuration: the server exists and is a member (of the named service, if one is
    /// named). Every error, as <c>file:line: message</c>.
    /// </summary>
    public static IReadOnlyList<string> Validate(ExchDsrConfig config, IReadOnlyList<ServerEvent> events, string sourceName)
    {
        var errors = new List<string>();
        foreach (var change in events)
        {
            var server = config.Servers.FirstOrDefault(s => string.Equals(s.Name, change.Server, StringComparison.Ordinal));
            var service = change.Service is null
                ? null
                : config.Services.FirstOrDefault(s => string.Equals(s.Name, change.Service, StringComparison.Ordinal));
            string? error = null;
            if (server is null)
            {
                error = $"no server '{change.Server}' in the configuration (servers: {string.Join(", ", config.Servers.Select(s => s.Name))})";
            }
            else if (change.Service is not null && service is null)
            {
                error = $"no service '{change.Service}' in the configuration (services: {string.Join(", ", config.Services.Select(s => s.Name))})";
            }
            else if (service is not null && !service.Members.Any(m => m.Server.Name == server.Name))
            {
                error = $"server '{change.Server}' is not a member of service '{service.Name}'";
            }
            else if (!config.Services.Any(s => s.Members.Any(m => m.Server.Name == server.Name) || s.SorryServer?.Name == server.Name))
            {
                error = $"server '{change.Server}' is in no service";
            }

            if (error is not null)
            {
                errors.Add($"{sourceName}:{change.Line}: {error}");
            }
        }

        return errors;
    }

    /// <summary>Most restrictive last: the order in which states outrank each other.</summary>
    private static int Rank(ServerState state) => state switch
    {
        ServerState.Up => 0,
        ServerState.Drained => 1,
        ServerState.Down => 2,
        _ => 3,
    };

    private readonly record struct ServerFlags(bool Down, bool Disabled, bool Drained, int? Weight);

    private readonly record struct MemberFlags(bool Down, bool Disabled, bool Drained, int? Weight);
}
