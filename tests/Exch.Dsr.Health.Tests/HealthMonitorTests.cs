using System.Diagnostics;
using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Health.Probes;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Health.Tests;

[CancelAfter(10_000)]
public sealed class HealthMonitorTests
{
    private static RealServerConfig Server(string name, int last) => new() { Name = name, Address = IPAddress.Parse($"127.0.0.{last}") };

    private static ExchDsrConfig Config(HealthCheckConfig check, params RealServerConfig[] servers) => new()
    {
        Servers = servers,
        Services =
        [
            new VirtualServiceConfig
            {
                Name = "owa-https",
                Vip = IPAddress.Parse("192.0.2.10"),
                Ports = [443],
                Members = servers.Select(s => new ServiceMember(s, 1)).ToList(),
                Check = check,
            },
            new VirtualServiceConfig
            {
                Name = "unchecked",
                Vip = IPAddress.Parse("192.0.2.11"),
                Ports = [25],
                Members = servers.Select(s => new ServiceMember(s, 1)).ToList(),
            },
        ],
    };

    private static readonly HealthCheckConfig HttpsCheck = new()
    {
        Kind = HealthCheckKind.Https,
        Port = 443,
        Path = "/owa",
        Expect = "utlook",
        Interval = TimeSpan.FromSeconds(2),
        Rise = 2,
        Fall = 3,
    };

    /// <summary>A probe whose answer per address the test sets; it counts calls.</summary>
    private sealed class ScriptedProbe : IHealthProbe
    {
        public readonly Dictionary<IPAddress, ProbeResult> Results = [];
        public readonly List<IPAddress> Calls = [];

        public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken)
        {
            lock (Calls)
            {
                Calls.Add(target.Address);
                return ValueTask.FromResult(Results[target.Address]);
            }
        }

        public int CallCount
        {
            get
            {
                lock (Calls)
                {
                    return Calls.Count;
                }
            }
        }
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(3))
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Delay(5);
        }
    }

    [Test]
    public async Task Probes_are_staggered_and_repeat_every_interval_on_the_injected_clock()
    {
        var time = new ManualTimeProvider();
        var probe = new ScriptedProbe();
        var cas1 = Server("CAS1", 1);
        var cas2 = Server("CAS2", 2);
        probe.Results[cas1.Address] = new ProbeResult(true, "status 200");
        probe.Results[cas2.Address] = new ProbeResult(true, "status 200");
        await using var monitor = new HealthMonitor(Config(HttpsCheck, cas1, cas2), time, new ListLogger(), probeFactory: _ => probe);
        monitor.Start();

        // CAS1 starts at once, CAS2 half an interval later; nothing else runs until the clock moves.
        await Eventually(() => probe.CallCount == 1 && time.ActiveTimers == 2, "the first probe");
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually(() => probe.CallCount == 2 && time.ActiveTimers == 2, "the staggered second probe");
        Assert.That(probe.Calls, Is.EqualTo(new[] { cas1.Address, cas2.Address }));

        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually(() => probe.CallCount == 3 && time.ActiveTimers == 2, "CAS1's second probe");
        Assert.That(probe.Calls[2], Is.EqualTo(cas1.Address));
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.LastProbe, Is.EqualTo(time.GetUtcNow()));
        Assert.That(monitor.Snapshot.Services.Keys, Is.EqualTo(new[] { "owa-https" }), "a service without a check is not monitored");
    }

    [Test]
    public async Task Transitions_follow_fall_and_rise_and_are_published_with_their_reason()
    {
        var time = new ManualTimeProvider();
        var probe = new ScriptedProbe();
        var cas1 = Server("CAS1", 1);
        var sorry = Server("SORRY", 9);
        probe.Results[cas1.Address] = new ProbeResult(true, "status 200");
        probe.Results[sorry.Address] = new ProbeResult(true, "status 200");
        var config = Config(HttpsCheck, cas1);
        config = config with { Services = [config.Services[0] with { SorryServer = sorry }] };
        var changes = new List<HealthChange>();
        var logger = new ListLogger();
        await using var monitor = new HealthMonitor(config, time, logger, change => { lock (changes) { changes.Add(change); } }, _ => probe);
        var snapshotBefore = monitor.Snapshot;
        monitor.Start();

        async Task Tick(int calls)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            await Eventually(() => probe.CallCount == calls && time.ActiveTimers == 2, $"probe {calls}");
        }

        await Eventually(() => probe.CallCount == 1 && time.ActiveTimers == 2, "the first probe");
        time.Advance(TimeSpan.FromSeconds(1)); // the sorry server's staggered start
        await Eventually(() => probe.CallCount == 2 && time.ActiveTimers == 2, "the sorry server's first probe");
        Assert.That(monitor.Snapshot.Get("owa-https", "SORRY")!.State, Is.EqualTo(HealthState.Up));
        time.Advance(TimeSpan.FromSeconds(1)); // back in step with CAS1
        await Eventually(() => probe.CallCount == 3 && time.ActiveTimers == 2, "CAS1's second probe");

        probe.Results[cas1.Address] = new ProbeResult(false, "body lacks 'utlook'");
        var calls = 3;
        for (var failure = 1; failure <= 2; failure++)
        {
            await Tick(calls += 2);
            Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Up), $"after failure {failure}");
        }

        await Tick(calls += 2);
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1"), Is.EqualTo(
            new ServerHealth(HealthState.Down, 0, 3, "body lacks 'utlook'", time.GetUtcNow())
            {
                LastReason = "https /owa 127.0.0.1:443: body lacks 'utlook'",
            }));

        probe.Results[cas1.Address] = new ProbeResult(true, "status 200");
        await Tick(calls += 2);
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Down), "after one success");
        await Tick(calls += 2);
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Up));

        Assert.That(changes.Where(c => c.Server == "CAS1").Select(c => c.ToString()), Is.EqualTo(new[]
        {
            "owa-https/CAS1 UP: https /owa 127.0.0.1:443: status 200 (first probe)",
            "owa-https/CAS1 DOWN: https /owa 127.0.0.1:443: body lacks 'utlook' (3 of 3)",
            "owa-https/CAS1 UP: https /owa 127.0.0.1:443: status 200 (2 of 2)",
        }));
        Assert.That(logger.Lines(LogLevel.Information).Concat(logger.Lines(LogLevel.Warning)), Does.Contain(
            "owa-https/CAS1 DOWN: https /owa 127.0.0.1:443: body lacks 'utlook' (3 of 3)"));
        Assert.That(logger.Entries.Count(e => e.Level >= LogLevel.Information && e.Message.Contains("CAS1", StringComparison.Ordinal)),
            Is.EqualTo(3), "one line per transition, none per probe");
        Assert.That(snapshotBefore.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Unknown), "a published snapshot never changes");
    }

    [Test]
    public async Task A_probe_that_throws_counts_as_a_failure_and_the_loop_goes_on()
    {
        var time = new ManualTimeProvider();
        var cas1 = Server("CAS1", 1);
        var calls = 0;
        var probe = new ThrowingProbe(() => Interlocked.Increment(ref calls));
        await using var monitor = new HealthMonitor(Config(HttpsCheck with { Fall = 1 }, cas1), time, new ListLogger(), probeFactory: _ => probe);
        monitor.Start();
        await Eventually(() => Volatile.Read(ref calls) == 1 && time.ActiveTimers == 1, "the first probe");
        time.Advance(TimeSpan.FromSeconds(2));
        await Eventually(() => Volatile.Read(ref calls) == 2 && time.ActiveTimers == 1, "the second probe");
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1"), Is.EqualTo(
            new ServerHealth(HealthState.Down, 0, 2, "probe error: InvalidOperationException", time.GetUtcNow())
            {
                LastReason = "https /owa 127.0.0.1:443: probe error: InvalidOperationException",
            }));
    }

    private sealed class ThrowingProbe(Action onCall) : IHealthProbe
    {
        public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken)
        {
            onCall();
            throw new InvalidOperationException("bug");
        }
    }

    [Test]
    public async Task A_stopped_server_goes_down_and_comes_back_up_on_real_sockets()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        var check = new HealthCheckConfig
        {
            Kind = HealthCheckKind.Tcp,
            Port = server.Port,
            Interval = TimeSpan.FromMilliseconds(100),
            Timeout = TimeSpan.FromMilliseconds(80),
            Rise = 2,
            Fall = 3,
        };
        var cas1 = new RealServerConfig { Name = "CAS1", Address = IPAddress.Loopback };
        var changes = new List<(HealthChange Change, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        var monitor = new HealthMonitor(Config(check, cas1), TimeProvider.System, new ListLogger(),
            change => { lock (changes) { changes.Add((change, clock.Elapsed)); } });
        monitor.Start();
        int Count() { lock (changes) { return changes.Count; } }

        await Eventually(() => Count() == 1, "the first UP");
        await server.StopAsync();
        var stoppedAt = clock.Elapsed;
        await Eventually(() => Count() == 2, "DOWN");
        server.Restart();
        var restartedAt = clock.Elapsed;
        await Eventually(() => Count() == 3, "UP again");

        var stopping = Stopwatch.StartNew();
        await monitor.DisposeAsync();
        Assert.That(stopping.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(500)), "StopAsync returns promptly");

        lock (changes)
        {
            Assert.That(changes.Select(c => c.Change.ToString()), Is.EqualTo(new[]
            {
                $"owa-https/CAS1 UP: tcp 127.0.0.1:{server.Port}: connected (first probe)",
                $"owa-https/CAS1 DOWN: tcp 127.0.0.1:{server.Port}: connect refused (3 of 3)",
                $"owa-https/CAS1 UP: tcp 127.0.0.1:{server.Port}: connected (2 of 2)",
            }));
            // fall × interval plus one interval of phase, with scheduling slack.
            Assert.That(changes[1].At - stoppedAt, Is.LessThan(TimeSpan.FromMilliseconds(400 + 200)));
            Assert.That(changes[1].At - stoppedAt, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(200)), "not before three failures");
            Assert.That(changes[2].At - restartedAt, Is.LessThan(TimeSpan.FromMilliseconds(300 + 200)));
            Assert.That(changes[2].At - restartedAt, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(100)), "not before two successes");
        }

        var countAtStop = Count();
        await Task.Delay(300);
        Assert.That(Count(), Is.EqualTo(countAtStop), "no loop runs after stopping");
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Up));
    }

    [Test]
    public async Task Stopping_cancels_a_probe_in_flight()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        var check = new HealthCheckConfig
        {
            Kind = HealthCheckKind.SendExpect,
            Port = server.Port,
            Send = "PING\r\n",
            Expect = "PONG",
            Interval = TimeSpan.FromSeconds(10),
            Timeout = TimeSpan.FromSeconds(5),
        };
        var monitor = new HealthMonitor(Config(check, new RealServerConfig { Name = "CAS1", Address = IPAddress.Loopback }),
            TimeProvider.System, new ListLogger());
        monitor.Start();
        await Task.Delay(200); // the probe is now waiting on the hung server
        var stopping = Stopwatch.StartNew();
        await monitor.StopAsync();
        Assert.That(stopping.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(500)));
        await monitor.DisposeAsync();
        await monitor.DisposeAsync(); // a host may stop, then dispose, more than once
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.State, Is.EqualTo(HealthState.Unknown), "the cancelled probe counted as nothing");
    }
}

/// <summary>Collects formatted log lines.</summary>
internal sealed class ListLogger : ILogger<HealthMonitor>
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToList();
            }
        }
    }

    public IEnumerable<string> Lines(LogLevel level) => Entries.Where(e => e.Level == level).Select(e => e.Message);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
