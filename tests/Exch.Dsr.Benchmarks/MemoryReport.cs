using System.Runtime.CompilerServices;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Tables;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// <c>--memory</c>: bytes per persistence entry and per connection entry with 1,000,000 of them, measured around
/// building and filling each table (managed heap retained, <see cref="GC.GetTotalMemory"/> after a full collection;
/// resident memory, the process's working set, which counts only the pages the entries touched; and bytes allocated
/// on this thread), plus the struct sizes and a whole engine holding 1,000,000 clients.
/// Not a BenchmarkDotNet benchmark: a one-shot, deterministic count.
/// </summary>
internal static class MemoryReport
{
    private const int Entries = 1_000_000;

    private static readonly List<object> s_kept = [];

    public static int Run()
    {
        var clients = new IpAddress128[Entries];
        for (var i = 0; i < Entries; i++)
        {
            clients[i] = EngineLab.Client(i);
        }

        var now = KnownClientBenchmarks.StartNs;
        var rows = new List<(string Name, int StructSize, long Retained, long Resident, long Allocated)>();

        rows.Add(Measure("PersistenceEntry", "persistence table, capacity 1,000,000, filled", () =>
        {
            var table = new PersistenceTable(Entries, TimeSpan.FromHours(4).Ticks * 100);
            for (var i = 0; i < Entries; i++)
            {
                if (table.Add(clients[i], i & 1, now) < 0)
                {
                    throw new InvalidOperationException($"persistence add {i} refused");
                }
            }

            return table.Count == Entries ? table : throw new InvalidOperationException($"persistence table holds {table.Count}");
        }));

        var vip = EngineLab.Vip;
        rows.Add(Measure("IPv4ConnectionEntry", "connection table, capacity 1,000,000, filled with IPv4 flows", () =>
        {
            var table = new ConnectionTable(Entries, new PersistenceTableSet());
            table.EnsureServerCapacity(2);
            for (var i = 0; i < Entries; i++)
            {
                var key = new FlowKey(clients[i], vip, EngineLab.ClientPort(i), EngineLab.HttpsPort, IpProtocols.Tcp);
                if (table.Add(key, 0, i & 1, ConnectionState.Established, now + 1, -1, now) < 0)
                {
                    throw new InvalidOperationException($"connection add {i} refused");
                }
            }

            return table.Count == Entries ? table : throw new InvalidOperationException($"connection table holds {table.Count}");
        }));

        // A whole engine after 1,000,000 handshakes through Process: one connection and one persistence entry each,
        // with both tables sized 1,000,000 (the shipped configuration's persistence table-size).
        var handshake = new InMemoryFrameRing(2, EngineLab.Appliance, EngineLab.Router);
        rows.Add(Measure(null, "engine, 1,000,000 clients (1 connection + 1 persistence entry each)", () =>
        {
            var service = EngineLab.OwaHttps(TimeSpan.FromHours(4), ConnectionTimeouts.Lvs) with { PersistenceTableSize = Entries };
            var snapshot = new RoutingSnapshotBuilder().Build(EngineLab.Servers, [service]);
            var engine = new ForwardingEngine(EngineLab.Appliance, new ForwardingEngineOptions { ConnectionCapacity = Entries });
            engine.Publish(snapshot);
            var t = now;
            for (var i = 0; i < Entries; i++)
            {
                handshake.ComposeTcp(0, clients[i], EngineLab.ClientPort(i), vip, EngineLab.HttpsPort, TcpFlags.Syn, (uint)i);
                if (engine.Process(handshake.Frame(0), t += 100, out _) != ForwardVerdict.Forwarded)
                {
                    throw new InvalidOperationException($"SYN {i} not forwarded");
                }
            }

            return engine.ConnectionCount == Entries ? engine : throw new InvalidOperationException($"engine holds {engine.ConnectionCount} connections");
        }));

        Console.WriteLine($"exch-dsr table memory, {Entries:#,0} entries, {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine("| what | struct size (B) | retained heap (B) | retained / entry (B) | resident / entry (B) | allocated / entry (B) |");
        Console.WriteLine("|------|----------------:|------------------:|---------------------:|---------------------:|----------------------:|");
        foreach (var (name, size, retained, resident, allocated) in rows)
        {
            Console.WriteLine($"| {name} | {(size > 0 ? size.ToString() : "-")} | {retained:#,0} | {(double)retained / Entries:0.0} | {(double)resident / Entries:0.0} | {(double)allocated / Entries:0.0} |");
        }

        // The client addresses must outlive the last measurement, or their collection would be subtracted from it.
        GC.KeepAlive(clients);
        GC.KeepAlive(handshake);

        return 0;
    }

    private static (string, int, long, long, long) Measure(string? entryType, string what, Func<object> build)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var residentBefore = Environment.WorkingSet;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var built = build();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        var resident = Environment.WorkingSet - residentBefore;

        // Kept to the end, so that no later measurement is built in pages this one made resident.
        s_kept.Add(built);
        return (what, entryType is null ? 0 : SizeOf(entryType), retained, resident, allocated);
    }

    /// <summary>Unsafe.SizeOf of an engine-internal entry struct, found by name.</summary>
    private static int SizeOf(string entryType)
    {
        var type = typeof(PersistenceTable).Assembly.GetType($"Exch.Dsr.Engine.Tables.{entryType}", throwOnError: true)!;
        return (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
    }
}
