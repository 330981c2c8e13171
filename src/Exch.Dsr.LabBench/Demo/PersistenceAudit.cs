using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.LabBench.Demo;

/// <summary>What the decisions say about one persistent service's clients.</summary>
/// <param name="Clients">Distinct client keys (masked addresses) that made at least one connection.</param>
/// <param name="ClientsOnEveryPort">Of those, the ones that connected to every port of the service.</param>
/// <param name="Connections">New connections decided for the service.</param>
/// <param name="HeldTogether">Clients whose every connection went to the server their entry held at the time: they changed server only when re-dispatched.</param>
/// <param name="Split">Clients that reached a second server without being re-dispatched (persistence failed them).</param>
/// <param name="Rescheduled">Clients whose entry had expired and that were scheduled afresh (reason "new" again).</param>
/// <param name="Redispatched">Clients moved because their server was no longer usable.</param>
/// <param name="RedispatchedThenHeld">Of those, the ones that stayed on their new server for every later connection.</param>
public sealed record PersistenceFindings(
    string Service,
    IReadOnlyList<ushort> Ports,
    int Clients,
    int ClientsOnEveryPort,
    long Connections,
    int HeldTogether,
    int Split,
    int Rescheduled,
    int Redispatched,
    int RedispatchedThenHeld);

/// <summary>
/// Counts, from the engine's decisions alone, whether persistence held: for each client of a service, the server
/// of every new connection is compared with the server its previous connections used. A change is legitimate
/// only when the decision says why (re-dispatched, or scheduled anew after the entry expired); anything else is a
/// split. Nothing is assumed from the configuration.
/// </summary>
public sealed class PersistenceAudit : IDecisionObserver
{
    private readonly Dictionary<int, ServiceTally> _services = [];

    public void OnDecision(long unixNanoseconds, in ForwardDecision decision, RoutingSnapshot snapshot)
    {
        if (!decision.NewConnection || snapshot.GetService(decision.ServiceId) is not { } service)
        {
            return;
        }

        if (!_services.TryGetValue(service.Id, out var tally))
        {
            _services[service.Id] = tally = new ServiceTally(service.Name, service.Ports);
        }

        var key = service.IsPersistent ? decision.PersistenceKey : decision.Client;
        tally.Record(key, decision.DestinationPort, decision.ServerId, decision.Reason);
    }

    /// <summary>The findings for one service, or null when it saw no connection.</summary>
    public PersistenceFindings? FindingsFor(string service) =>
        _services.Values.FirstOrDefault(s => s.Name == service)?.Findings();

    /// <summary>Connections and distinct servers of one client key in one service (e.g. a NAT address).</summary>
    public (long Connections, IReadOnlyList<int> ServerIds) ClientIn(string service, IpAddress128 client)
    {
        var tally = _services.Values.FirstOrDefault(s => s.Name == service);
        return tally is not null && tally.Clients.TryGetValue(client, out var track)
            ? (track.Connections, track.Servers)
            : (0, []);
    }

    private sealed class ServiceTally(string name, IReadOnlyList<ushort> ports)
    {
        public string Name { get; } = name;

        public Dictionary<IpAddress128, ClientTrack> Clients { get; } = [];

        public long Connections { get; private set; }

        public void Record(IpAddress128 client, ushort port, int serverId, DecisionReason reason)
        {
            Connections++;
            if (!Clients.TryGetValue(client, out var track))
            {
                Clients[client] = track = new ClientTrack();
            }

            var portIndex = IndexOf(port);
            if (portIndex is >= 0 and < 64)
            {
                track.Ports |= 1UL << portIndex;
            }

            track.Connections++;
            if (!track.Servers.Contains(serverId))
            {
                track.Servers.Add(serverId);
            }

            if (track.Server >= 0 && track.Server != serverId)
            {
                switch (reason)
                {
                    case DecisionReason.Redispatched:
                        track.Redispatched = true;
                        break;
                    case DecisionReason.New:
                        track.Rescheduled = true;
                        break;
                    default:
                        track.Split = true;
                        if (track.Redispatched)
                        {
                            track.SplitAfterRedispatch = true;
                        }

                        break;
                }
            }
            else if (reason == DecisionReason.Redispatched)
            {
                // Re-dispatched to the server it already had: its entry and the flow both moved back, nothing split.
                track.Redispatched = true;
            }

            track.Server = serverId;
        }

        public PersistenceFindings Findings()
        {
            var everyPort = ports.Count >= 64 ? ulong.MaxValue : (1UL << ports.Count) - 1;
            var tracks = Clients.Values;
            return new PersistenceFindings(
                Name,
                ports,
                Clients.Count,
                tracks.Count(t => t.Ports == everyPort),
                Connections,
                tracks.Count(t => !t.Split),
                tracks.Count(t => t.Split),
                tracks.Count(t => t.Rescheduled),
                tracks.Count(t => t.Redispatched),
                tracks.Count(t => t.Redispatched && !t.SplitAfterRedispatch));
        }

        private int IndexOf(ushort port)
        {
            for (var i = 0; i < ports.Count; i++)
            {
                if (ports[i] == port)
                {
                    return i;
                }
            }

            return -1;
        }
    }

    private sealed class ClientTrack
    {
        public int Server { get; set; } = -1;

        public ulong Ports { get; set; }

        public long Connections { get; set; }

        public List<int> Servers { get; } = [];

        public bool Split { get; set; }

        public bool SplitAfterRedispatch { get; set; }

        public bool Rescheduled { get; set; }

        public bool Redispatched { get; set; }
    }
}
