using System.Diagnostics;
using System.Text.Json;
using Exch.Dsr.Capture.Files;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.LabBench;

/// <summary>Told of every decision the engine makes (a new flow or a persistence decision), as it happens.</summary>
public interface IDecisionObserver
{
    /// <param name="snapshot">The snapshot the decision was made with, to name its service and server ids.</param>
    void OnDecision(long unixNanoseconds, in ForwardDecision decision, RoutingSnapshot snapshot);
}

/// <summary>
/// One replay: a <see cref="ForwardingEngine"/> routed by the configuration, frames fed in time order with their own
/// timestamps as the clock, events applied as that clock passes them (rebuild the snapshot, publish it, exactly as the
/// health side does live). Forwarded frames go to the output; the rest are only counted, through the engine's counters.
/// </summary>
public sealed class ReplaySession
{
    private const int ProgressInterval = 8192;

    private readonly ExchDsrConfig _config;
    private readonly RoutingSnapshotFactory _factory;
    private readonly ServerOverrides _overrides = new();
    private readonly ForwardingEngine _engine;
    private readonly ServerEvent[] _events;
    private readonly List<AppliedEvent> _applied = [];
    private readonly HashSet<(int Service, int Server, IpAddress128 Client)> _clients = [];
    private readonly List<IDecisionObserver> _observers = [];
    private JsonEncodedText[] _serviceNames = [];
    private JsonEncodedText[] _serverNames = [];
    private DecisionLogWriter? _decisionLog;
    private long _decisions;

    public ReplaySession(ExchDsrConfig config, IReadOnlyList<ServerEvent> events)
    {
        _config = config;
        _factory = RoutingSnapshotFactory.ForReplay(config);
        var (applianceMac, applianceNote) = RoutingSnapshotFactory.ReplayApplianceMac(config);
        _engine = new ForwardingEngine(applianceMac, new ForwardingEngineOptions { ConnectionCapacity = config.Appliance.Connections });
        _events = [.. events];
        AddressNotes = [applianceNote, .. _factory.AddressNotes];
        Publish();
    }

    /// <summary>The appliance's MAC, then every server's, each saying where it came from.</summary>
    public IReadOnlyList<string> AddressNotes { get; }

    public MacAddress ApplianceMac => _engine.ApplianceMac;

    /// <summary>The name of a server id in the engine's decisions.</summary>
    public string ServerName(int serverId) => _engine.Current?.Servers.FirstOrDefault(s => s.Id == serverId)?.Name ?? $"#{serverId}";

    /// <summary>Writes every decision to <paramref name="log"/> as a JSON line (the log stays the caller's).</summary>
    public void WriteDecisionsTo(DecisionLogWriter log) => _decisionLog = log;

    public void Observe(IDecisionObserver observer) => _observers.Add(observer);

    /// <summary>Replays every frame of <paramref name="source"/>; forwarded frames are written to <paramref name="output"/>.</summary>
    /// <param name="progress">Called now and then with <see cref="IFrameSource.Position"/>.</param>
    public ReplayReport Run(IFrameSource source, PcapFileWriter? output, Action<long>? progress = null)
    {
        var stopwatch = Stopwatch.StartNew();
        long framesRead = 0, first = 0, last = 0;
        var nextEvent = 0;
        long[] eventTimes = [];
        while (source.TryReadNext(out var frame))
        {
            var now = frame.TimestampNs;
            if (framesRead == 0)
            {
                first = now;
                eventTimes = ScheduleEvents(first);
            }

            while (nextEvent < _events.Length && eventTimes[nextEvent] <= now)
            {
                Apply(_events[nextEvent], eventTimes[nextEvent]);
                nextEvent++;
            }

            framesRead++;
            last = now;
            var verdict = _engine.Process(frame.Data, now, out var decision);
            if (verdict == ForwardVerdict.Forwarded)
            {
                output?.Write(frame.Data, now, frame.OriginalLength);
            }

            if (decision.IsDecision)
            {
                Record(now, decision);
            }

            if (progress is not null && framesRead % ProgressInterval == 0)
            {
                progress(source.Position);
            }
        }

        stopwatch.Stop();
        output?.Flush();
        _decisionLog?.Flush();
        return Report(framesRead, first, last, stopwatch.Elapsed, source.Error, _events.Length - nextEvent);
    }

    /// <summary>Event times in replay-clock order; a relative time counts from the first frame.</summary>
    private long[] ScheduleEvents(long firstFrame)
    {
        var times = _events.Select(e => e.Time.Resolve(firstFrame)).ToArray();
        // Stable, so events at the same time apply in file order.
        var order = Enumerable.Range(0, _events.Length).OrderBy(i => times[i]).ToArray();
        var sortedEvents = order.Select(i => _events[i]).ToArray();
        var sortedTimes = order.Select(i => times[i]).ToArray();
        sortedEvents.CopyTo(_events, 0);
        return sortedTimes;
    }

    private void Apply(ServerEvent change, long time)
    {
        var changed = _overrides.Apply(_config, change);
        if (changed)
        {
            Publish();
        }

        _applied.Add(new AppliedEvent(time, change, changed));
    }

    private void Publish()
    {
        var snapshot = _factory.Build(_overrides);
        _engine.Publish(snapshot);
        if (_serviceNames.Length < snapshot.ServiceIdCapacity || _serverNames.Length < snapshot.ServerIdCapacity)
        {
            _serviceNames = new JsonEncodedText[snapshot.ServiceIdCapacity];
            _serverNames = new JsonEncodedText[snapshot.ServerIdCapacity];
            foreach (var service in snapshot.Services)
            {
                _serviceNames[service.Id] = JsonEncodedText.Encode(service.Name);
            }

            foreach (var server in snapshot.Servers)
            {
                _serverNames[server.Id] = JsonEncodedText.Encode(server.Name);
            }
        }
    }

    private void Record(long now, in ForwardDecision decision)
    {
        _decisions++;
        var snapshot = _engine.Current!;
        var client = snapshot.GetService(decision.ServiceId) is { IsPersistent: true } ? decision.PersistenceKey : decision.Client;
        _clients.Add((decision.ServiceId, decision.ServerId, client));
        _decisionLog?.Write(now, decision.Client, _serviceNames[decision.ServiceId], decision.DestinationPort, _serverNames[decision.ServerId], decision.Reason);
        foreach (var observer in _observers)
        {
            observer.OnDecision(now, decision, snapshot);
        }
    }

    private ReplayReport Report(long framesRead, long first, long last, TimeSpan elapsed, CaptureFileError? inputError, int eventsNotReached)
    {
        _engine.AdoptPublished();
        var counters = new EngineCountersSnapshot();
        _engine.CopyCountersTo(counters);
        var snapshot = _engine.Current!;

        var servers = new List<ServerTraffic>();
        foreach (var service in snapshot.Services)
        {
            var ids = service.Members.Select(m => m.ServerId).ToList();
            if (service.SorryServerId >= 0)
            {
                ids.Add(service.SorryServerId);
            }

            foreach (var id in ids)
            {
                long Member(MemberCounter counter) => counters.Member(service.Id, id, counter);
                var isSorry = id == service.SorryServerId;
                if (isSorry && Member(MemberCounter.Frames) == 0)
                {
                    continue;
                }

                var name = snapshot.Servers.Single(s => s.Id == id).Name;
                servers.Add(new ServerTraffic(
                    service.Name,
                    isSorry ? $"{name} (sorry)" : name,
                    Member(MemberCounter.Frames),
                    Member(MemberCounter.Bytes),
                    _clients.Count(c => c.Service == service.Id && c.Server == id),
                    Member(MemberCounter.NewConnections),
                    Member(MemberCounter.NewPersistenceEntries),
                    Member(MemberCounter.Redispatches)));
            }
        }

        var dropped = new List<KeyValuePair<string, long>>();
        foreach (var verdict in Enum.GetValues<ForwardVerdict>())
        {
            if (verdict is ForwardVerdict.Forwarded or ForwardVerdict.Malformed || counters.Verdict(verdict) == 0)
            {
                continue;
            }

            dropped.Add(new(VerdictName(verdict), counters.Verdict(verdict)));
        }

        foreach (var reason in Enum.GetValues<MalformedReason>())
        {
            if (counters.Malformed(reason) > 0)
            {
                dropped.Add(new($"malformed: {reason}", counters.Malformed(reason)));
            }
        }

        dropped.Sort((a, b) => b.Value.CompareTo(a.Value));
        return new ReplayReport
        {
            FramesRead = framesRead,
            FramesForwarded = counters.Verdict(ForwardVerdict.Forwarded),
            BytesForwarded = servers.Sum(s => s.Bytes),
            FirstFrameUnixNanoseconds = first,
            LastFrameUnixNanoseconds = last,
            Servers = servers,
            Dropped = dropped,
            Events = [.. _applied],
            EventsNotReached = eventsNotReached,
            Decisions = _decisions,
            Elapsed = elapsed,
            InputError = inputError,
        };
    }

    private static string VerdictName(ForwardVerdict verdict) => verdict switch
    {
        ForwardVerdict.NotOurs => "not ours: no service for its address, protocol and port",
        ForwardVerdict.LoopGuard => "loop guard: sent by us or already to a real server",
        ForwardVerdict.NoServer => "no server: no usable member and no sorry server",
        ForwardVerdict.MidStreamNoState => "mid-stream TCP without state (not sloppy)",
        ForwardVerdict.FragmentNoState => "fragment without state",
        ForwardVerdict.ConnectionTableFull => "connection table full",
        ForwardVerdict.ArpRequestForVip => "ARP request for a VIP (answered, not forwarded)",
        ForwardVerdict.EchoRequestForVip => "echo request to a VIP (answered, not forwarded)",
        ForwardVerdict.NeighborSolicitationForVip => "neighbour solicitation for a VIP (answered, not forwarded)",
        ForwardVerdict.IcmpErrorNoState => "ICMP error about a flow without state",
        _ => verdict.ToString(),
    };
}
