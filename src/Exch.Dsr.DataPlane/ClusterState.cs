using System.Collections.Concurrent;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Health;
using Exch.Dsr.Health.Probes;
using Exch.Dsr.LabBench;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// The control side's one owner of the running cluster: the configuration, the operator's overrides (drain, disable,
/// enable, weight), the health monitor and its snapshot, the servers' MACs; and the one publisher of routing
/// snapshots, to every forwarding engine.
/// </summary>
/// <remarks>
/// <para>One thread, "exch-dsr-control", owns all of it. It wakes every 100 ms, or when woken: it asks for ARP
/// resolution on schedule, adopts MACs the forwarding threads observed, rebuilds and publishes a snapshot when a MAC
/// or a health state changed, and runs control work queued with <see cref="InvokeAsync{T}"/> (admin actions, reloads).
/// The health monitor's probing loops never build or publish: a change only sets a flag and wakes this thread. So no
/// lock guards the builder, the overrides or the configuration, and snapshots are published in one order.</para>
/// <para>Readers on other threads (status) see <see cref="Config"/>, <see cref="Published"/> and
/// <see cref="HealthOf"/> through volatile references to immutable objects.</para>
/// <para>Before <see cref="Start"/> and after <see cref="Stop"/>, queued work runs on the caller's thread under a lock,
/// so the one-owner rule still holds.</para>
/// </remarks>
public sealed class ClusterState : IDisposable
{
    private readonly NeighbourTable _neighbours;
    private readonly LiveRoutingSnapshots _snapshots;
    private readonly IReadOnlyList<ForwardingEngine> _engines;
    private readonly DataPlaneOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Action _requestResolution;
    private readonly TimeProvider _time;
    private readonly Func<HealthCheckConfig, IHealthProbe>? _probeFactory;
    private readonly ConcurrentQueue<IControlWork> _work = new();
    private readonly AutoResetEvent _wake = new(initialState: false);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _excluded = new(StringComparer.Ordinal);
    private readonly Lock _inline = new();
    private ServerOverrides _overrides = new();
    private List<ServerEvent> _adminEvents = [];
    private ExchDsrConfig _config;
    private DateTimeOffset _configLoadedAt;
    private RoutingSnapshot? _published;
    private HealthMonitor? _health;
    private bool _healthRunning;
    private bool _firstPublish = true;
    private int _healthDirty;
    private Thread? _thread;
    private volatile bool _running;

    /// <param name="engines">Every forwarding thread's engine; each snapshot is published to all of them.</param>
    /// <param name="requestResolution">Asks the forwarding threads to send ARP requests and neighbour solicitations for the watched servers.</param>
    /// <param name="probeFactory">The health monitor's probes; <see cref="HealthProbes.Create"/> unless replaced (tests).</param>
    public ClusterState(
        ExchDsrConfig config,
        NeighbourTable neighbours,
        IReadOnlyList<ForwardingEngine> engines,
        DataPlaneOptions options,
        ILoggerFactory loggers,
        Action requestResolution,
        TimeProvider? time = null,
        Func<HealthCheckConfig, IHealthProbe>? probeFactory = null)
    {
        _config = config;
        _neighbours = neighbours;
        _snapshots = new LiveRoutingSnapshots(config, neighbours);
        _engines = engines;
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Exch.Dsr.DataPlane");
        _requestResolution = requestResolution;
        _time = time ?? TimeProvider.System;
        _probeFactory = probeFactory;
        _configLoadedAt = _time.GetUtcNow();
        _health = NewMonitor(config);
    }

    /// <summary>The running configuration; replaced as a whole by a reload.</summary>
    public ExchDsrConfig Config => Volatile.Read(ref _config);

    /// <summary>When the running configuration was loaded or last reloaded, UTC.</summary>
    public DateTimeOffset ConfigLoadedAt => _configLoadedAt;

    /// <summary>The snapshot last published to the engines.</summary>
    public RoutingSnapshot? Published => Volatile.Read(ref _published);

    /// <summary>Completes with the error when the control thread ends on one.</summary>
    public Task<Exception> Failed => _failed.Task;

    /// <summary>
    /// The health of <paramref name="server"/> in <paramref name="service"/> as the monitor sees it (after a reload
    /// that restarted the monitor, an unchanged check starts from the state the previous monitor had). Null when the
    /// service has no check. Any thread.
    /// </summary>
    public ServerHealth? HealthOf(string service, string server) => Volatile.Read(ref _health)?.Snapshot.Get(service, server);

    /// <summary>Publishes the first snapshot and starts the control thread.</summary>
    public void Start()
    {
        lock (_inline)
        {
            Publish();
        }

        _running = true;
        _thread = new Thread(Run) { Name = "exch-dsr-control", IsBackground = true };
        _thread.Start();
    }

    /// <summary>Starts probing (the health monitor of the running configuration); a reload then restarts it as needed.</summary>
    public Task StartHealthAsync() => InvokeAsync(() =>
    {
        _healthRunning = true;
        if (_health is { } monitor)
        {
            monitor.Start();
            ClusterLog.HealthStarted(_logger, _config.Services.Where(s => s.Check.Kind != HealthCheckKind.None).Sum(s => s.Members.Count + (s.SorryServer is null ? 0 : 1)));
        }

        return true;
    });

    /// <summary>Stops probing and waits for probes in flight; the last health view stays readable.</summary>
    public async Task StopHealthAsync()
    {
        var monitor = await InvokeAsync(() =>
        {
            bool wasRunning = _healthRunning;
            _healthRunning = false;
            return wasRunning ? _health : null;
        }).ConfigureAwait(false);
        if (monitor is not null)
        {
            await monitor.StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the control thread and returns its result: how the control socket and reloads
    /// change state the control thread owns.
    /// </summary>
    public Task<T> InvokeAsync<T>(Func<T> work)
    {
        var item = new ControlWork<T>(work);
        _work.Enqueue(item);
        if (_running)
        {
            _wake.Set();
        }
        else
        {
            lock (_inline)
            {
                DrainWork();
            }
        }

        return item.Result;
    }

    /// <summary>Drains, disables or enables a server everywhere or in one service, and publishes the result.</summary>
    public Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service)
    {
        var (eventAction, verb) = action switch
        {
            AdminAction.Drain => (ServerEventAction.Drain, "drain"),
            AdminAction.Disable => (ServerEventAction.Disable, "disable"),
            AdminAction.Enable => (ServerEventAction.Enable, "enable"),
            _ => throw new ArgumentOutOfRangeException(nameof(action), action, "unknown action"),
        };
        return InvokeAsync(() => ApplyAdmin(new ServerEvent(0, default, server, eventAction, 0, service), $"{verb} {server}{Scope(service)}"));
    }

    /// <summary>Sets a server's weight everywhere or in one service, and publishes the result.</summary>
    public Task<ControlResult> SetWeightAsync(string server, int weight, string? service)
    {
        string description = $"weight {server} {weight}{Scope(service)}";
        if (weight is < 0 or > ushort.MaxValue)
        {
            ClusterLog.AdminRefused(_logger, description, "a weight is 0 to 65535");
            return Task.FromResult(ControlResult.Failure($"weight {weight} is out of range: a weight is 0 to 65535 (0 takes no new clients)"));
        }

        return InvokeAsync(() => ApplyAdmin(new ServerEvent(0, default, server, ServerEventAction.Weight, weight, service), description));
    }

    /// <summary>
    /// Applies a validated configuration to the running process: refused as a whole when something in it needs a
    /// restart; otherwise services and servers are added and removed, ids stay stable by name (so unchanged services
    /// keep their persistence entries and connections), operator overrides of servers and services that still exist
    /// are kept, and the health monitor is restarted if any check, member or sorry server it probes changed (each
    /// unchanged check carries its state and rise/fall counts into the new monitor).
    /// </summary>
    public async Task<(ControlResult Result, ConfigurationDiff Diff)> ApplyAsync(ExchDsrConfig next)
    {
        var (result, diff, retired) = await InvokeAsync(() => ApplyOnThread(next)).ConfigureAwait(false);
        if (retired is not null)
        {
            await retired.DisposeAsync().ConfigureAwait(false);
        }

        return (result, diff);
    }

    /// <summary>Stops the control thread (bounded wait). Call after the health monitor is stopped. Idempotent.</summary>
    public void Stop()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
        _wake.Dispose();
    }

    private static string Scope(string? service) => service is null ? string.Empty : $" in service {service}";

    private HealthMonitor? NewMonitor(ExchDsrConfig config, IReadOnlyDictionary<MemberKey, ServerHealth>? carried = null) =>
        config.Services.Any(s => s.Check.Kind != HealthCheckKind.None)
            ? new HealthMonitor(config, _time, _loggers.CreateLogger<HealthMonitor>(), OnHealthChange, _probeFactory,
                (service, server) => carried?.GetValueOrDefault(new MemberKey(service, server)))
            : null;

    /// <summary>Why an admin action on this server (and service) cannot apply to <paramref name="config"/>; null when it can.</summary>
    private static string? Check(ExchDsrConfig config, string server, string? service)
    {
        if (!config.Servers.Any(s => s.Name == server))
        {
            return NameSuggestions.Unknown("server", server, config.Servers.Select(s => s.Name));
        }

        if (service is not null)
        {
            var found = config.Services.FirstOrDefault(s => s.Name == service);
            if (found is null)
            {
                return NameSuggestions.Unknown("service", service, config.Services.Select(s => s.Name));
            }

            return found.Members.Any(m => m.Server.Name == server)
                ? null
                : $"server '{server}' is not a member of service '{service}' (its members: {string.Join(", ", found.Members.Select(m => m.Server.Name))})";
        }

        return config.Services.Any(s => s.Members.Any(m => m.Server.Name == server) || s.SorryServer?.Name == server)
            ? null
            : $"server '{server}' is in no service";
    }

    private ControlResult ApplyAdmin(ServerEvent change, string description)
    {
        var config = _config;
        if (Check(config, change.Server, change.Service) is { } error)
        {
            ClusterLog.AdminRefused(_logger, description, error);
            return ControlResult.Failure(error);
        }

        bool changed = _overrides.Apply(config, change);
        _adminEvents.Add(change);
        Publish();
        ClusterLog.AdminApplied(_logger, changed ? description : $"{description} (no change: already so)");
        return ControlResult.Success(changed ? $"{description}: done" : $"{description}: already so, nothing changed");
    }

    private (ControlResult Result, ConfigurationDiff Diff, HealthMonitor? Retired) ApplyOnThread(ExchDsrConfig next)
    {
        var running = _config;
        var diff = ConfigurationDiff.Compare(running, next);
        if (diff.RestartNeeded.Count > 0)
        {
            foreach (var reason in diff.RestartNeeded)
            {
                ClusterLog.ReloadRefused(_logger, reason);
            }

            return (ControlResult.Failure($"the running configuration is kept: {diff.RestartNeeded.Count} change{(diff.RestartNeeded.Count == 1 ? " needs" : "s need")} a restart", diff.RestartNeeded), diff, null);
        }

        _configLoadedAt = _time.GetUtcNow();
        if (!diff.HasChanges)
        {
            return (ControlResult.Success("no changes"), diff, null);
        }

        // Replaying the operator's actions that still name existing servers and services rebuilds exactly their state.
        var kept = _adminEvents.Where(e => Check(next, e.Server, e.Service) is null).ToList();
        var overrides = new ServerOverrides();
        foreach (var change in kept)
        {
            overrides.Apply(next, change);
        }

        HealthMonitor? retired = null;
        if (diff.HealthChecksChanged)
        {
            retired = _health;
            var carried = new Dictionary<MemberKey, ServerHealth>();
            foreach (var service in next.Services.Where(s => s.Check.Kind != HealthCheckKind.None))
            {
                if (running.Services.FirstOrDefault(s => s.Name == service.Name) is not { } old || !ConfigurationDiff.SameProbing(old, service))
                {
                    continue;
                }

                foreach (var server in service.Members.Select(m => m.Server.Name).Append(service.SorryServer?.Name).OfType<string>())
                {
                    if (HealthOf(service.Name, server) is { State: not HealthState.Unknown } health)
                    {
                        carried[new MemberKey(service.Name, server)] = health;
                    }
                }
            }

            var monitor = NewMonitor(next, carried);
            Volatile.Write(ref _health, monitor);
            if (_healthRunning && monitor is not null)
            {
                monitor.Start();
            }
        }

        // Before the snapshot is built: servers that keep name and address keep their MACs, a new auto server is
        // asked for now instead of at the next refresh.
        _neighbours.Watch(next.Servers);
        if (next.Servers.Any(s => s.Mac is null && !running.Servers.Contains(s)))
        {
            _requestResolution();
        }

        Volatile.Write(ref _config, next);
        _snapshots.Config = next;
        _overrides = overrides;
        _adminEvents = kept;
        Publish();
        return (ControlResult.Success(diff.Summary()), diff, retired);
    }

    private void Run()
    {
        try
        {
            var token = _stop.Token;
            var nextRequest = DateTime.UtcNow;
            while (!token.IsCancellationRequested)
            {
                var now = DateTime.UtcNow;
                if (now >= nextRequest && _neighbours.HasTargets)
                {
                    _requestResolution();
                    nextRequest = now + (_excluded.Count > 0 ? _options.UnresolvedRetry : _options.NeighbourRefresh);
                }

                if (WaitHandle.WaitAny([token.WaitHandle, _wake], TimeSpan.FromMilliseconds(100)) == 0)
                {
                    break;
                }

                DrainWork();
                bool healthChanged = Interlocked.Exchange(ref _healthDirty, 0) != 0;
                var changes = _neighbours.AdoptObserved();
                if (changes.Count > 0 || healthChanged)
                {
                    foreach (var change in changes)
                    {
                        if (change.Previous is { } previous)
                        {
                            DataPlaneLog.ServerMoved(_logger, change.Server, change.Address, previous.ToString(), change.Current.ToString());
                        }
                    }

                    Publish();
                }
            }
        }
        catch (Exception e)
        {
            ClusterLog.ControlThreadFailed(_logger, e.Message, e);
            _failed.TrySetResult(e);
        }
        finally
        {
            lock (_inline)
            {
                _running = false;
                DrainWork();
            }
        }
    }

    private void DrainWork()
    {
        while (_work.TryDequeue(out var work))
        {
            work.Run();
        }
    }

    /// <summary>From a probing loop: must not block, so it only marks the snapshot stale and wakes the control thread.</summary>
    private void OnHealthChange(HealthChange change)
    {
        Volatile.Write(ref _healthDirty, 1);
        _wake.Set();
    }

    private void Publish()
    {
        var config = _config;
        var down = new HashSet<MemberKey>();
        foreach (var service in config.Services.Where(s => s.Check.Kind != HealthCheckKind.None))
        {
            foreach (var server in service.Members.Select(m => m.Server.Name).Append(service.SorryServer?.Name).OfType<string>())
            {
                if (HealthOf(service.Name, server)?.State == HealthState.Down)
                {
                    down.Add(new MemberKey(service.Name, server));
                }
            }
        }

        var snapshot = _snapshots.Build(_overrides, down, out var excluded);
        foreach (var engine in _engines)
        {
            engine.Publish(snapshot);
        }

        Volatile.Write(ref _published, snapshot);
        DataPlaneLog.SnapshotPublished(_logger, config.Servers.Count - excluded.Count, config.Servers.Count);
        var now = excluded.ToHashSet(StringComparer.Ordinal);
        foreach (var server in config.Servers)
        {
            bool wasOut = _firstPublish || _excluded.Contains(server.Name);
            if (now.Contains(server.Name) && !_excluded.Contains(server.Name))
            {
                DataPlaneLog.ServerUnresolved(_logger, server.Name, server.Address);
            }
            else if (!now.Contains(server.Name) && wasOut && server.Mac is null && _snapshots.MacOf(server) is { } mac)
            {
                DataPlaneLog.ServerResolved(_logger, server.Name, server.Address, mac.ToString());
            }
        }

        _firstPublish = false;
        _excluded.Clear();
        _excluded.UnionWith(now);
    }

    private interface IControlWork
    {
        void Run();
    }

    private sealed class ControlWork<T>(Func<T> work) : IControlWork
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Result => _result.Task;

        public void Run()
        {
            try
            {
                _result.TrySetResult(work());
            }
            catch (Exception e)
            {
                _result.TrySetException(e);
            }
        }
    }
}
