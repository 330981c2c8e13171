using System.Net;
using BenchmarkDotNet.Attributes;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// One <see cref="IScheduler.Select"/> per operation, per scheduler kind, over 8 members with weights 1-4 and
/// uneven connection counts (lc/wlc scan them all; sh/mh hash 1,024 different clients). The scheduler alone, without
/// the tables around it.
/// </summary>
[MemoryDiagnoser]
public class SchedulerBenchmarks
{
    public const int Batch = 1_024;
    private const int Members = 8;

    private readonly IpAddress128[] _clients = new IpAddress128[Batch];
    private ServiceRoute _service = null!;
    private int[] _active = [];
    private int[] _inactive = [];
    private SchedulerCursor _cursor;

    /// <summary>The LVS name, as in the configuration.</summary>
    [Params("rr", "wrr", "lc", "wlc", "sh", "mh")]
    public string Scheduler { get; set; } = "rr";

    [GlobalSetup]
    public void Setup()
    {
        if (!Schedulers.TryParse(Scheduler, out var kind))
        {
            throw new InvalidOperationException($"unknown scheduler '{Scheduler}'");
        }

        var servers = Enumerable.Range(1, Members)
            .Select(i => new RealServer($"CAS{i}", IPAddress.Parse($"192.0.2.{10 + i}"), MacAddress.FromUInt64(0x02_00_00_00_10_00UL + (ulong)i)))
            .ToArray();
        var service = new VirtualService
        {
            Name = "owa-https",
            Vip = IPAddress.Parse("192.0.2.10"),
            Ports = [443],
            Scheduler = kind,
            Members = [.. servers.Select((s, i) => new ServiceMember(s.Name, 1 + (i % 4)))],
        };
        var snapshot = new RoutingSnapshotBuilder().Build(servers, [service]);
        _service = snapshot.Services[0];

        var random = new Random(135);
        _active = new int[snapshot.ServerIdCapacity];
        _inactive = new int[snapshot.ServerIdCapacity];
        for (var id = 0; id < _active.Length; id++)
        {
            _active[id] = random.Next(1_000, 2_000);
            _inactive[id] = random.Next(0, 5_000);
        }

        for (var i = 0; i < Batch; i++)
        {
            _clients[i] = EngineLab.Client(random.Next(1_000_000));
        }

        // Validation: every pick is one of the service's candidates.
        var cursor = default(SchedulerCursor);
        for (var i = 0; i < Batch; i++)
        {
            var server = _service.Scheduler.Select(_service, new SchedulingInput(_clients[i], _active, _inactive), ref cursor);
            if (!_service.Candidates.Contains(server))
            {
                throw new InvalidOperationException($"{Scheduler}: pick {i} returned server id {server}, not a candidate");
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "scheduler Select")]
    public int Select()
    {
        var service = _service;
        var scheduler = service.Scheduler;
        var clients = _clients;
        var active = _active;
        var inactive = _inactive;
        var sum = 0;
        for (var i = 0; i < clients.Length; i++)
        {
            sum += scheduler.Select(service, new SchedulingInput(clients[i], active, inactive), ref _cursor);
        }

        return sum;
    }
}
