using BenchmarkDotNet.Attributes;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// <see cref="ForwardingEngine.Process"/> per frame for clients the engine already knows: 1,000,000 clients, each
/// with an ESTABLISHED connection and a persistence entry, send one ACK each, in a random order over the million so
/// every frame's connection lookup misses the CPU caches as it would in production (the tables are 64 MiB and 48 MiB).
/// One benchmark operation is one frame; an invocation processes <see cref="Batch"/> frames of the ring.
/// The 1,000-client case is the reference with every table line in cache: the difference between the two is what
/// the memory accesses of a million-client table cost.
/// </summary>
[MemoryDiagnoser]
public class KnownClientBenchmarks
{
    public const int Batch = 65_536;

    // 100 ns a frame: ten million frames per simulated second, so no entry can time out during a run
    // (established connections live an hour, persistence entries four hours, as in the shipped configuration).
    private const long FrameIntervalNs = 100;

    private readonly EngineCountersSnapshot _counters = new();
    private ForwardingEngine _engine = null!;
    private InMemoryFrameRing _frames = null!;
    private long _nowNs = StartNs;
    private int _cursor;
    private long _timedFrames;
    private long _forwardedBefore;
    private long _newConnectionsBefore;

    [Params(1_000, 1_000_000)]
    public int Clients { get; set; }

    /// <summary>2026-11-24T08:00:00Z.</summary>
    internal static long StartNs => new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    [GlobalSetup]
    public void Setup()
    {
        var timeouts = ConnectionTimeouts.Lvs with { TcpEstablished = TimeSpan.FromHours(1) };
        _engine = EngineLab.CreateEngine(EngineLab.OwaHttps(TimeSpan.FromHours(4), timeouts));

        // Every client's handshake: the SYN schedules it and creates its persistence entry, the ACK establishes it.
        var handshake = new InMemoryFrameRing(2, EngineLab.Appliance, EngineLab.Router);
        for (var client = 0; client < Clients; client++)
        {
            var address = EngineLab.Client(client);
            var port = EngineLab.ClientPort(client);
            handshake.ComposeTcp(0, address, port, EngineLab.Vip, EngineLab.HttpsPort, TcpFlags.Syn, (uint)client);
            handshake.ComposeTcp(1, address, port, EngineLab.Vip, EngineLab.HttpsPort, TcpFlags.Ack, (uint)client + 1);
            var verdict = _engine.Process(handshake.Frame(0), _nowNs += FrameIntervalNs, out var decision);
            EngineLab.Expect(_engine, handshake.Frame(0), verdict, decision, DecisionReason.New, client);
            verdict = _engine.Process(handshake.Frame(1), _nowNs += FrameIntervalNs, out decision);
            EngineLab.Expect(_engine, handshake.Frame(1), verdict, decision, DecisionReason.ExistingFlow, client);
        }

        // The timed frames: one ACK per client, laid out in a random client order.
        var order = EngineLab.Shuffled(Clients, seed: 1124);
        _frames = new InMemoryFrameRing(Clients, EngineLab.Appliance, EngineLab.Router);
        for (var slot = 0; slot < Clients; slot++)
        {
            var client = order[slot];
            _frames.ComposeTcp(slot, EngineLab.Client(client), EngineLab.ClientPort(client), EngineLab.Vip, EngineLab.HttpsPort, TcpFlags.Ack, (uint)client + 1);
        }

        // Validation: every timed frame is forwarded on its existing flow, MACs rewritten.
        for (var slot = 0; slot < Clients; slot++)
        {
            var frame = _frames.Frame(slot);
            var verdict = _engine.Process(frame, _nowNs += FrameIntervalNs, out var decision);
            EngineLab.Expect(_engine, frame, verdict, decision, DecisionReason.ExistingFlow, slot);
            _frames.Restore(slot);
        }

        var serviceId = _engine.Current!.Services[0].Id;
        if (_engine.ConnectionCount != Clients || _engine.ListPersistence(serviceId).Count != Clients)
        {
            throw new InvalidOperationException($"expected {Clients} connections and persistence entries, found {_engine.ConnectionCount} and {_engine.ListPersistence(serviceId).Count}");
        }

        _engine.CopyCountersTo(_counters);
        _forwardedBefore = _counters.Verdict(ForwardVerdict.Forwarded);
        _newConnectionsBefore = _counters.Event(EngineEvent.NewConnections);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "known client (ACK)")]
    public int KnownClient()
    {
        var forwarded = _frames.Process(_engine, Batch, FrameIntervalNs, ref _nowNs, ref _cursor);
        _timedFrames += Batch;
        return forwarded;
    }

    /// <summary>Checks, from the engine's own counters, that every timed frame took the path named above.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.CopyCountersTo(_counters);
        var forwarded = _counters.Verdict(ForwardVerdict.Forwarded) - _forwardedBefore;
        var created = _counters.Event(EngineEvent.NewConnections) - _newConnectionsBefore;
        if (forwarded != _timedFrames || created != 0)
        {
            throw new InvalidOperationException($"timed {_timedFrames} frames: {forwarded} forwarded, {created} new connections (expected all forwarded, none new)");
        }
    }
}

/// <summary>
/// <see cref="ForwardingEngine.Process"/> per frame for clients the engine has never seen: every frame is a SYN from a
/// client with no connection and no persistence entry, so each one runs the whole decision (service lookup, connection
/// miss, persistence miss, wlc over the members, a new persistence entry, a new connection) against full tables.
/// <para>
/// How the tables stay full of other clients without an [IterationSetup]: the SYNs come from a pool of 2,000,000
/// clients replayed in a ring, 1 µs of simulated time apart. A persistence entry lives 1 s (1,000,000 frames) and
/// a SYN_RECV connection 0.5 s, so in steady state the persistence table holds the last ~1,000,000 clients and the
/// connection table the last ~500,000-630,000 connections (plus what its 8-slots-a-frame sweep has not yet reached),
/// while a client comes round again only after 2 s, when both of its entries have expired and been swept.
/// The time measured therefore also includes the steady-state cost of expiring one connection and one persistence
/// entry per frame (the sweeps), which is what a balancer taking new clients at full tables pays.
/// </para>
/// </summary>
[MemoryDiagnoser]
public class NewClientBenchmarks
{
    public const int Pool = 2_000_000;
    public const int Batch = 65_536;

    private const long FrameIntervalNs = 1_000;

    private readonly EngineCountersSnapshot _counters = new();
    private ForwardingEngine _engine = null!;
    private InMemoryFrameRing _frames = null!;
    private long _nowNs = KnownClientBenchmarks.StartNs;
    private int _cursor;
    private long _timedFrames;
    private long _forwardedBefore;
    private long _newConnectionsBefore;
    private long _newPersistenceBefore;

    [GlobalSetup]
    public void Setup()
    {
        var timeouts = ConnectionTimeouts.Lvs with { TcpSynReceived = TimeSpan.FromMilliseconds(500) };
        _engine = EngineLab.CreateEngine(EngineLab.OwaHttps(TimeSpan.FromSeconds(1), timeouts));

        var order = EngineLab.Shuffled(Pool, seed: 2411);
        _frames = new InMemoryFrameRing(Pool, EngineLab.Appliance, EngineLab.Router);
        for (var slot = 0; slot < Pool; slot++)
        {
            var client = order[slot];
            _frames.ComposeTcp(slot, EngineLab.Client(client), EngineLab.ClientPort(client), EngineLab.Vip, EngineLab.HttpsPort, TcpFlags.Syn, (uint)client);
        }

        // The first lap fills the tables; the second, in steady state, is the validation: every SYN must be a new
        // client (a new connection and a new persistence entry), never a persisted, rejected or dropped one.
        for (var lap = 0; lap < 2; lap++)
        {
            for (var slot = 0; slot < Pool; slot++)
            {
                var frame = _frames.Frame(slot);
                var verdict = _engine.Process(frame, _nowNs += FrameIntervalNs, out var decision);
                EngineLab.Expect(_engine, frame, verdict, decision, DecisionReason.New, slot);
                if (!decision.NewConnection || !decision.NewPersistence)
                {
                    throw new InvalidOperationException($"frame {slot}: new connection {decision.NewConnection}, new persistence {decision.NewPersistence}");
                }

                _frames.Restore(slot);
            }
        }

        var persisted = _engine.ListPersistence(_engine.Current!.Services[0].Id).Count;
        Console.WriteLine($"// steady state: {persisted:#,0} persistence entries, {_engine.ConnectionCount:#,0} connections");
        if (persisted < 900_000)
        {
            throw new InvalidOperationException($"expected about 1,000,000 persistence entries in steady state, found {persisted}");
        }

        _engine.CopyCountersTo(_counters);
        _forwardedBefore = _counters.Verdict(ForwardVerdict.Forwarded);
        _newConnectionsBefore = _counters.Event(EngineEvent.NewConnections);
        _newPersistenceBefore = _counters.Event(EngineEvent.NewPersistenceEntries);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "new client (SYN, 1M in tables)")]
    public int NewClient()
    {
        var forwarded = _frames.Process(_engine, Batch, FrameIntervalNs, ref _nowNs, ref _cursor);
        _timedFrames += Batch;
        return forwarded;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.CopyCountersTo(_counters);
        var forwarded = _counters.Verdict(ForwardVerdict.Forwarded) - _forwardedBefore;
        var connections = _counters.Event(EngineEvent.NewConnections) - _newConnectionsBefore;
        var persistence = _counters.Event(EngineEvent.NewPersistenceEntries) - _newPersistenceBefore;
        if (forwarded != _timedFrames || connections != _timedFrames || persistence != _timedFrames)
        {
            throw new InvalidOperationException($"timed {_timedFrames} frames: {forwarded} forwarded, {connections} new connections, {persistence} new persistence entries (expected all three equal)");
        }
    }
}
