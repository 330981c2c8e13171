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

    /// <summary>Frames per receive batch in the batched benchmark (a ring hands the worker up to a few dozen at a time).</summary>
    public const int RxBatch = 32;

    // 100 ns a frame: ten million frames per simulated second, so no entry can time out during a run
    // (established connections live an hour, persistence entries four hours, as in the shipped configuration).
    internal const long FrameIntervalNs = 100;

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

    /// <summary>Huge pages over the connection table, as the live forwarder asks for them (false: 4 KiB pages).</summary>
    [Params(false, true)]
    public bool HugePages { get; set; }

    /// <summary>2026-11-24T08:00:00Z.</summary>
    internal static long StartNs => new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    [GlobalSetup]
    public void Setup()
    {
        // The timed frames: one ACK per client, laid out in a random client order.
        (_engine, _frames) = SetUpKnownClients(Clients, EngineLab.Shuffled(Clients, seed: 1124), ref _nowNs, HugePages);
        _engine.CopyCountersTo(_counters);
        _forwardedBefore = _counters.Verdict(ForwardVerdict.Forwarded);
        _newConnectionsBefore = _counters.Event(EngineEvent.NewConnections);
    }

    /// <summary>
    /// An engine in which <paramref name="clients"/> clients each have an ESTABLISHED connection and a persistence
    /// entry, and a ring with one ACK per slot from client <paramref name="slotClients"/>[slot], every one of them
    /// validated (forwarded on its existing flow, MACs rewritten) before anything is timed.
    /// </summary>
    internal static (ForwardingEngine Engine, InMemoryFrameRing Frames) SetUpKnownClients(int clients, int[] slotClients, ref long nowNs, bool hugePages = false, int connections = EngineLab.TableCapacity, bool ipv6 = false)
    {
        var timeouts = ConnectionTimeouts.Lvs with { TcpEstablished = TimeSpan.FromHours(1) };
        var engine = EngineLab.CreateEngine(EngineLab.OwaHttps(TimeSpan.FromHours(4), timeouts, ipv6), hugePages, connections);
        var vip = ipv6 ? EngineLab.IPv6Vip : EngineLab.Vip;
        Func<int, IpAddress128> clientAddress = ipv6 ? EngineLab.IPv6Client : EngineLab.Client;

        // Every client's handshake: the SYN schedules it and creates its persistence entry, the ACK establishes it.
        var handshake = new InMemoryFrameRing(2, EngineLab.Appliance, EngineLab.Router, ipv6);
        for (var client = 0; client < clients; client++)
        {
            var address = clientAddress(client);
            var port = EngineLab.ClientPort(client);
            handshake.ComposeTcp(0, address, port, vip, EngineLab.HttpsPort, TcpFlags.Syn, (uint)client);
            handshake.ComposeTcp(1, address, port, vip, EngineLab.HttpsPort, TcpFlags.Ack, (uint)client + 1);
            var verdict = engine.Process(handshake.Frame(0), nowNs += FrameIntervalNs, out var decision);
            EngineLab.Expect(engine, handshake.Frame(0), verdict, decision, DecisionReason.New, client);
            verdict = engine.Process(handshake.Frame(1), nowNs += FrameIntervalNs, out decision);
            EngineLab.Expect(engine, handshake.Frame(1), verdict, decision, DecisionReason.ExistingFlow, client);
        }

        var frames = new InMemoryFrameRing(slotClients.Length, EngineLab.Appliance, EngineLab.Router, ipv6);
        for (var slot = 0; slot < slotClients.Length; slot++)
        {
            var client = slotClients[slot];
            frames.ComposeTcp(slot, clientAddress(client), EngineLab.ClientPort(client), vip, EngineLab.HttpsPort, TcpFlags.Ack, (uint)client + 1);
        }

        // Validation: every timed frame is forwarded on its existing flow, MACs rewritten.
        for (var slot = 0; slot < slotClients.Length; slot++)
        {
            var frame = frames.Frame(slot);
            var verdict = engine.Process(frame, nowNs += FrameIntervalNs, out var decision);
            EngineLab.Expect(engine, frame, verdict, decision, DecisionReason.ExistingFlow, slot);
            frames.Restore(slot);
        }

        var serviceId = engine.Current!.Services[0].Id;
        if (engine.ConnectionCount != clients || engine.ListPersistence(serviceId).Count != clients)
        {
            throw new InvalidOperationException($"expected {clients} connections and persistence entries, found {engine.ConnectionCount} and {engine.ListPersistence(serviceId).Count}");
        }

        return (engine, frames);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "known client (ACK)")]
    public int KnownClient()
    {
        var forwarded = _frames.Process(_engine, Batch, FrameIntervalNs, ref _nowNs, ref _cursor);
        _timedFrames += Batch;
        return forwarded;
    }

    /// <summary>The same frames in receive batches of <see cref="RxBatch"/> through ProcessBatch, as the forwarding thread runs them.</summary>
    [Benchmark(OperationsPerInvoke = Batch, Description = "known client (ACK), ProcessBatch of 32")]
    public int KnownClientBatched()
    {
        var forwarded = _frames.ProcessBatches(_engine, Batch, RxBatch, FrameIntervalNs, ref _nowNs, ref _cursor);
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
/// What the million-known-client benchmarks below share: an engine and ring from
/// <see cref="KnownClientBenchmarks.SetUpKnownClients"/>, the clock and ring cursor, and the check after the run that
/// every timed frame was forwarded.
/// </summary>
public abstract class MillionKnownClients
{
    public const int Clients = 1_000_000;

    private readonly EngineCountersSnapshot _counters = new();
    private ForwardingEngine _engine = null!;
    private InMemoryFrameRing _frames = null!;
    private long _nowNs = KnownClientBenchmarks.StartNs;
    private int _cursor;
    private long _timedFrames;
    private long _forwardedBefore;

    private protected void SetUp(int[] slotClients, bool hugePages = false, int connections = EngineLab.TableCapacity, bool ipv6 = false)
    {
        (_engine, _frames) = KnownClientBenchmarks.SetUpKnownClients(Clients, slotClients, ref _nowNs, hugePages, connections, ipv6);
        _engine.CopyCountersTo(_counters);
        _forwardedBefore = _counters.Verdict(ForwardVerdict.Forwarded);
    }

    private protected int ProcessOneByOne()
    {
        _timedFrames += KnownClientBenchmarks.Batch;
        return _frames.Process(_engine, KnownClientBenchmarks.Batch, KnownClientBenchmarks.FrameIntervalNs, ref _nowNs, ref _cursor);
    }

    private protected int ProcessBatched()
    {
        _timedFrames += KnownClientBenchmarks.Batch;
        return _frames.ProcessBatches(_engine, KnownClientBenchmarks.Batch, KnownClientBenchmarks.RxBatch, KnownClientBenchmarks.FrameIntervalNs, ref _nowNs, ref _cursor);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.CopyCountersTo(_counters);
        var forwarded = _counters.Verdict(ForwardVerdict.Forwarded) - _forwardedBefore;
        if (forwarded != _timedFrames)
        {
            throw new InvalidOperationException($"timed {_timedFrames} frames: {forwarded} forwarded (expected all)");
        }
    }
}

/// <summary>
/// The same million known clients in uniformly random order, batched, on huge pages, with the connection table four
/// times the default (<c>[appliance] connections = 4194304</c>, 512 MiB a thread): at a load of 0.12 instead of 0.48,
/// 94 % of the flows sit in their home slot instead of 76 %, so fewer lookups read a second line. The price of memory
/// for speed at many clients.
/// </summary>
[MemoryDiagnoser]
public class RoomyTableBenchmarks : MillionKnownClients
{
    public const int Connections = 4 * EngineLab.TableCapacity;

    [GlobalSetup]
    public void Setup() => SetUp(EngineLab.Shuffled(Clients, seed: 1124), hugePages: true, Connections);

    [Benchmark(OperationsPerInvoke = KnownClientBenchmarks.Batch, Description = "known client (ACK), 1M, ProcessBatch of 32, huge pages, connections = 4194304")]
    public int KnownClientBatched() => ProcessBatched();
}

/// <summary>
/// The million known clients of <see cref="KnownClientBenchmarks"/> over IPv6 (VIP 2001:db8::10, clients in
/// 2001:db8:c::/48), batched, on huge pages: their connections live in the 64-byte entries, one a line, whose lookups
/// <see cref="ForwardingEngine.ProcessBatch"/> carries on with probe passes.
/// </summary>
[MemoryDiagnoser]
public class IPv6ClientBenchmarks : MillionKnownClients
{
    [GlobalSetup]
    public void Setup() => SetUp(EngineLab.Shuffled(Clients, seed: 1124), hugePages: true, ipv6: true);

    [Benchmark(OperationsPerInvoke = KnownClientBenchmarks.Batch, Description = "known IPv6 client (ACK), 1M, ProcessBatch of 32, huge pages")]
    public int KnownClientBatched() => ProcessBatched();
}

/// <summary>
/// Known clients with locality: the same 1,000,000 clients and tables as <see cref="KnownClientBenchmarks"/>, but the
/// timed frames come from a Zipf(1) popularity over the clients (the most active client sends about 1 frame in 14,
/// the top 1 % of clients about two thirds of the frames), the popular clients scattered over the table. Real traffic
/// sits between this and the uniform random order.
/// </summary>
[MemoryDiagnoser]
public class ZipfClientBenchmarks : MillionKnownClients
{
    public const int Frames = 1 << 20;

    [GlobalSetup]
    public void Setup() => SetUp(ZipfSample(Clients, Frames, seed: 2026));

    [Benchmark(OperationsPerInvoke = KnownClientBenchmarks.Batch, Description = "known client (ACK), Zipf(1) over 1M")]
    public int KnownClient() => ProcessOneByOne();

    [Benchmark(OperationsPerInvoke = KnownClientBenchmarks.Batch, Description = "known client (ACK), Zipf(1) over 1M, ProcessBatch of 32")]
    public int KnownClientBatched() => ProcessBatched();

    /// <summary>
    /// <paramref name="count"/> clients drawn with probability proportional to 1 / rank, ranks mapped to clients
    /// through a fixed shuffle so that the popular ones are spread over the table.
    /// </summary>
    private static int[] ZipfSample(int clients, int count, int seed)
    {
        var cumulative = new double[clients];
        var sum = 0.0;
        for (var rank = 0; rank < clients; rank++)
        {
            sum += 1.0 / (rank + 1);
            cumulative[rank] = sum;
        }

        var clientOfRank = EngineLab.Shuffled(clients, seed);
        var random = new Random(seed);
        var sample = new int[count];
        for (var i = 0; i < count; i++)
        {
            var rank = Array.BinarySearch(cumulative, random.NextDouble() * sum);
            sample[i] = clientOfRank[rank < 0 ? Math.Min(~rank, clients - 1) : rank];
        }

        return sample;
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

    /// <summary>The same SYNs in receive batches of <see cref="KnownClientBenchmarks.RxBatch"/> through ProcessBatch, as the forwarding thread runs them.</summary>
    [Benchmark(OperationsPerInvoke = Batch, Description = "new client (SYN, 1M in tables), ProcessBatch of 32")]
    public int NewClientBatched()
    {
        var forwarded = _frames.ProcessBatches(_engine, Batch, KnownClientBenchmarks.RxBatch, FrameIntervalNs, ref _nowNs, ref _cursor);
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
