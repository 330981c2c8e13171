using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.LabBench;

/// <summary>
/// Run-time state that differs from the configuration: health and operator actions, as events (replay) or, live,
/// health checks and the control socket set them. A change is followed by a new snapshot from
/// <see cref="RoutingSnapshotFactory"/>, published to the engine.
/// </summary>
/// <remarks>
/// The engine keeps health per server (<see cref="ServerState"/> applies to every service the server is in), so
/// <c>down</c>, <c>up</c> and <c>disable</c> are server-wide; a service-scoped <c>weight</c>, <c>drain</c>
/// (weight 0, LVS's quiescent member) or <c>enable</c> changes the member's weight in that one service.
/// Not thread-safe: one writer (the replay loop, or the control plane's update task) owns it.
/// </remarks>
public sealed class ServerOverrides
{
    private readonly Dictionary<string, ServerFlags> _servers = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Service, string Server), int> _memberWeights = [];

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

    /// <summary>The member's weight in one service: a service-scoped override, else the configured weight.</summary>
    public int WeightOf(VirtualServiceConfig service, Configuration.ServiceMember member) =>
        _memberWeights.TryGetValue((service.Name, member.Server.Name), out var weight) ? weight : member.Weight;

    /// <summary>Every server whose status is not plain Up, for the snapshot builder.</summary>
    public IReadOnlyDictionary<string, ServerStatus> ServerStatuses() =>
        _servers.Keys.ToDictionary(name => name, StatusOf, StringComparer.Ordinal);

    /// <summary>Applies a validated event (see <see cref="Validate"/>).</summary>
    /// <returns>Whether anything changed.</returns>
    public bool Apply(ExchDsrConfig config, ServerEvent change)
    {
        if (change.Service is not null)
        {
            var service = config.Services.Single(s => string.Equals(s.Name, change.Service, StringComparison.Ordinal));
            var member = service.Members.Single(m => string.Equals(m.Server.Name, change.Server, StringComparison.Ordinal));
            var key = (service.Name, member.Server.Name);
            var before = WeightOf(service, member);
            switch (change.Action)
            {
                case ServerEventAction.Weight:
                    _memberWeights[key] = change.Weight;
                    break;
                case ServerEventAction.Drain:
                    _memberWeights[key] = 0;
                    break;
                case ServerEventAction.Enable:
                    _memberWeights.Remove(key);
                    break;
                default:
                    throw new ArgumentException($"'{change}' cannot be scoped to a service", nameof(change));
            }

            return WeightOf(service, member) != before;
        }

        var old = _servers.GetValueOrDefault(change.Server);
        var flags = change.Action switch
        {
            ServerEventAction.Down => old with { Down = true },
            ServerEventAction.Up => old with { Down = false },
            ServerEventAction.Drain => old with { Drained = true },
            ServerEventAction.Disable => old with { Disabled = true },
            ServerEventAction.Enable => old with { Disabled = false, Drained = false },
            ServerEventAction.Weight => old with { Weight = change.Weight },
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Action, "unknown action"),
        };
        if (flags == default)
        {
            _servers.Remove(change.Server);
        }
        else
        {
            _servers[change.Server] = flags;
        }

        return flags != old;
    }

    /// <summary>
    /// Checks events against a configuration: the server exists and is a member (of the named service, if one is
    /// named), and a service scope is only used where the engine can honour it. Every error, as <c>file:line: message</c>.
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
            else if (service is not null && change.Action is ServerEventAction.Down or ServerEventAction.Up or ServerEventAction.Disable)
            {
                error = $"'{change.Action.ToString().ToLowerInvariant()}' applies to a server in every service it is in; "
                    + "only weight, drain and enable can name a service";
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

    private readonly record struct ServerFlags(bool Down, bool Disabled, bool Drained, int? Weight);
}
