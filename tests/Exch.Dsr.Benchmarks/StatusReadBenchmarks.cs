using BenchmarkDotNet.Attributes;
using Exch.Dsr.Engine.Forwarding;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// What a status read (<c>exch-dsr status</c>, the status page every 3 s) costs the forwarding thread it runs on:
/// the engine's counters with the connection and persistence counts per (service, server), at the default table
/// capacity (2M connection slots) with <see cref="Clients"/> established connections and persistence entries. The
/// counts are kept as entries come and go, so this must not grow with the table.
/// </summary>
[MemoryDiagnoser]
public class StatusReadBenchmarks
{
    private readonly EngineCountersSnapshot _counters = new();
    private ForwardingEngine _engine = null!;
    private int _serviceId;

    [Params(1, 100_000)]
    public int Clients { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var nowNs = KnownClientBenchmarks.StartNs;
        (_engine, _) = KnownClientBenchmarks.SetUpKnownClients(Clients, [0], ref nowNs);
        _serviceId = _engine.Current!.Services[0].Id;
        _engine.CopyCountersTo(_counters);
        var members = _engine.Current.Services[0].Members;
        var active = members.Sum(m => _counters.ActiveConnections(_serviceId, m.ServerId));
        var persisted = members.Sum(m => _counters.PersistenceEntries(_serviceId, m.ServerId));
        if (active != Clients || persisted != Clients || _counters.PersistenceEntries(_serviceId) != Clients)
        {
            throw new InvalidOperationException($"expected {Clients} active connections and persistence entries, counted {active} and {persisted}");
        }
    }

    [Benchmark(Description = "status read (counters with per-member table counts)")]
    public int StatusRead()
    {
        _engine.CopyCountersTo(_counters);
        return _counters.ActiveConnections(_serviceId, 0);
    }
}
