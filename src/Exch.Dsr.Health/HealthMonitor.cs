using System.Collections.Immutable;
using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Health.Probes;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Health;

/// <summary>
/// Probes every member (and sorry server) of every service that has a check, one async loop per target on the
/// injected <see cref="TimeProvider"/>, and keeps an immutable <see cref="Snapshot"/> that the control side reads to
/// rebuild the routing snapshot. Loops hold no thread while waiting; starts are staggered across the interval so
/// targets do not fire together. A check with <c>dsr-probe</c> probes the VIP through each server's MAC: the policy
/// routes for that (<see cref="DsrProbeRoutes"/>) are installed by <see cref="Start"/> and removed by
/// <see cref="StopAsync"/>; a server whose route cannot be installed is probed at its own address, and the log says why.
/// So is every server of a VIP while that VIP is an address of this host (<c>own-vips = false</c> on the active
/// appliance of a pair): the host's local route would take the probe.
/// </summary>
public sealed partial class HealthMonitor : IAsyncDisposable
{
    private readonly DsrProbeRoutes _routes;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Action<HealthChange>? _onChange;
    private readonly Lock _writeLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Target[] _targets;
    private readonly LocalAddresses _localAddresses;
    private readonly Dictionary<IPAddress, bool> _vipIsLocal = [];
    private HealthSnapshot _snapshot;
    private Task[] _loops = [];
    private int _started;
    private int _routesInstalled;

    /// <param name="onChange">
    /// Called once per state flip, from the probing loop, after the snapshot already shows it; it must not block.
    /// </param>
    /// <param name="probeFactory">Builds each service's probe; <see cref="HealthProbes.Create"/> unless replaced (tests).</param>
    /// <param name="startingHealth">
    /// The health a (service, server) starts from, or null for <see cref="ServerHealth.Initial"/>: after a reload, the
    /// state and the rise/fall counts of a check that did not change, so its next probe counts on from them instead
    /// of deciding alone (a server that was failing keeps needing <c>rise</c> successes).
    /// </param>
    public HealthMonitor(
        ExchDsrConfig config,
        TimeProvider timeProvider,
        ILogger<HealthMonitor> logger,
        Action<HealthChange>? onChange = null,
        Func<HealthCheckConfig, IHealthProbe>? probeFactory = null,
        Func<string, string, ServerHealth?>? startingHealth = null)
        : this(config, timeProvider, logger, new DsrProbeRoutes(config.Appliance.Interface), onChange, probeFactory, startingHealth)
    {
    }

    /// <param name="routes">Where DSR-path routes go; tests give one bound to a network namespace of their own.</param>
    /// <param name="localAddresses">This host's addresses; the interfaces' unless replaced (tests).</param>
    internal HealthMonitor(
        ExchDsrConfig config,
        TimeProvider timeProvider,
        ILogger<HealthMonitor> logger,
        DsrProbeRoutes routes,
        Action<HealthChange>? onChange = null,
        Func<HealthCheckConfig, IHealthProbe>? probeFactory = null,
        Func<string, string, ServerHealth?>? startingHealth = null,
        LocalAddresses? localAddresses = null)
    {
        _routes = routes;
        _localAddresses = localAddresses ?? new LocalAddresses(timeProvider);
        _timeProvider = timeProvider;
        _logger = logger;
        _onChange = onChange;
        probeFactory ??= HealthProbes.Create;

        var targets = new List<Target>();
        var services = ImmutableDictionary.CreateBuilder<string, ImmutableDictionary<string, ServerHealth>>();
        foreach (var service in config.Services.Where(s => s.Check.Kind != HealthCheckKind.None))
        {
            var probe = probeFactory(service.Check);
            var servers = service.Members.Select(m => m.Server).ToList();
            if (service.SorryServer is { } sorry)
            {
                servers.Add(sorry);
            }

            foreach (var server in servers)
            {
                var target = new ProbeTarget(server.Address, service.Check.Port, service.Vip);
                var description = HealthProbes.Describe(service.Check, target, server.Name);
                targets.Add(new Target(service.Name, server.Name, service.Check, description, probe, target, description));
            }

            services[service.Name] = servers.ToImmutableDictionary(s => s.Name, s => startingHealth?.Invoke(service.Name, s.Name) ?? ServerHealth.Initial);
        }

        _targets = [.. targets];
        _snapshot = new HealthSnapshot(services.ToImmutable());
    }

    /// <summary>The latest health of every monitored server; a new object after each probe, never mutated.</summary>
    public HealthSnapshot Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>
    /// Installs the DSR-path routes (a few <c>ip</c> commands, run before returning, so the first probes find them)
    /// and starts the probing loops.
    /// </summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("the monitor has already started");
        }

        RouteDsrProbes();
        _loops = _targets
            .Select((target, i) => RunAsync(target, target.Check.Interval * i / _targets.Length, _stopping.Token))
            .ToArray();
    }

    /// <summary>Cancels every loop, including probes in flight, and waits for them to end.</summary>
    public async Task StopAsync()
    {
        // IsCancellationRequested stays readable after disposal, so stopping twice (or after disposal) is harmless.
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_loops).ConfigureAwait(false);

        // After the loops: no probe is left to send a marked SYN into a table that is gone.
        if (Interlocked.Exchange(ref _routesInstalled, 0) != 0)
        {
            _routes.Release();
            Log.DsrRoutesRemoved(_logger);
        }
    }

    /// <summary>
    /// Installs the DSR-path routes and points each target that got one at the VIP with its mark. The others keep
    /// probing the server's own address, and each service says so once, with the reason.
    /// </summary>
    private void RouteDsrProbes()
    {
        var requests = _targets.Where(t => t.Check.DsrProbe)
            .Select(t => new DsrRouteRequest(t.Server, t.ProbeTarget.Address, t.ProbeTarget.Vip))
            .Distinct()
            .ToList();
        if (requests.Count == 0)
        {
            return;
        }

        var outcome = _routes.Install(requests);
        Volatile.Write(ref _routesInstalled, 1);
        if (outcome.StaleRulesRemoved > 0)
        {
            Log.DsrStaleRoutesRemoved(_logger, outcome.StaleRulesRemoved);
        }

        if (outcome.Marks.Count > 0)
        {
            Log.DsrRoutesInstalled(_logger, outcome.Marks.Values.Distinct().Count(), outcome.Marks.Count,
                DsrProbeRoutes.RulePriority, DsrProbeRoutes.Hex(DsrProbeRoutes.FirstMark), DsrProbeRoutes.FirstTable);
        }

        var fallbacks = new Dictionary<string, List<(string Server, string Reason)>>();
        for (var i = 0; i < _targets.Length; i++)
        {
            var target = _targets[i];
            if (!target.Check.DsrProbe)
            {
                continue;
            }

            var key = (target.Server, target.ProbeTarget.Vip);
            if (outcome.Marks.TryGetValue(key, out var mark))
            {
                var probeTarget = target.ProbeTarget with { DsrMark = mark };
                _targets[i] = target with
                {
                    ProbeTarget = probeTarget,
                    Description = HealthProbes.Describe(target.Check, probeTarget, target.Server),
                };
            }
            else if (outcome.Failures.TryGetValue(key, out var reason))
            {
                if (!fallbacks.TryGetValue(target.Service, out var reasons))
                {
                    fallbacks[target.Service] = reasons = [];
                }

                reasons.Add((target.Server, reason));
            }
        }

        foreach (var (service, reasons) in fallbacks)
        {
            // Most often one reason for all (no CAP_NET_ADMIN): say it once rather than per server.
            var servers = string.Join(", ", reasons.Select(r => r.Server));
            var distinct = reasons.Select(r => r.Reason).Distinct().ToList();
            Log.DsrProbeFallback(_logger, service, servers,
                distinct.Count == 1 ? distinct[0] : string.Join("; ", reasons.Select(r => $"{r.Server}: {r.Reason}")));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task RunAsync(Target target, TimeSpan firstDelay, CancellationToken cancellationToken)
    {
        // Yield at once so Start never runs a probe on the caller's thread.
        await Task.Yield();
        try
        {
            await Task.Delay(firstDelay, _timeProvider, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var started = _timeProvider.GetTimestamp();
                var (probeTarget, description) = Aimed(target, fresh: false);
                var result = await ProbeAsync(target, probeTarget, cancellationToken).ConfigureAwait(false);

                // The VIP may have arrived since the host's addresses were last read (keepalived just made this
                // appliance active), and the host's local route took the probe: ask again, now, at the right place.
                if (!result.Healthy && probeTarget.DsrMark != 0 && Aimed(target, fresh: true) is { Target.DsrMark: 0 } own)
                {
                    (probeTarget, description) = own;
                    result = await ProbeAsync(target, probeTarget, cancellationToken).ConfigureAwait(false);
                }

                Record(target, description, result);

                // Interval is from probe start to probe start, as HAProxy's inter; a slow probe shortens the wait.
                var wait = target.Check.Interval - _timeProvider.GetElapsedTime(started);
                await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _timeProvider, cancellationToken)
                    .ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// Where this probe goes: through the VIP on the DSR path, unless the VIP is an address of this host now, then at
    /// the server's own address. Each change of a VIP's place is logged once.
    /// </summary>
    private (ProbeTarget Target, string Description) Aimed(Target target, bool fresh)
    {
        var probeTarget = target.ProbeTarget;
        if (probeTarget.DsrMark == 0)
        {
            return (probeTarget, target.Description);
        }

        var vip = probeTarget.Vip;
        var local = _localAddresses.Contains(vip, fresh);
        bool moved;
        lock (_vipIsLocal)
        {
            moved = _vipIsLocal.TryGetValue(vip, out var was) ? was != local : local;
            _vipIsLocal[vip] = local;
        }

        if (moved)
        {
            if (local)
            {
                Log.VipIsLocal(_logger, vip.ToString());
            }
            else
            {
                Log.VipLeft(_logger, vip.ToString());
            }
        }

        if (!local)
        {
            return (probeTarget, target.Description);
        }

        return (probeTarget with { DsrMark = 0 }, target.OwnAddressDescription);
    }

    private async ValueTask<ProbeResult> ProbeAsync(Target target, ProbeTarget probeTarget, CancellationToken cancellationToken)
    {
        try
        {
            return await target.Probe.ProbeAsync(probeTarget, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A probe bug must not end the loop and freeze the server's state; it counts as a failure.
            Log.ProbeCrashed(_logger, target.Service, target.Server, ex);
            return new ProbeResult(false, $"probe error: {ex.GetType().Name}");
        }
    }

    private void Record(Target target, string description, ProbeResult result)
    {
        Log.Probed(_logger, target.Service, target.Server, result);
        HealthChange? change = null;

        // Loops of different targets record concurrently; the lock only orders writers, readers never take it.
        lock (_writeLock)
        {
            var snapshot = _snapshot;
            var servers = snapshot.Table[target.Service];
            var current = servers[target.Server];
            var applied = HealthPolicy.Apply(current, result, target.Check.Rise, target.Check.Fall,
                _timeProvider.GetUtcNow(), out var changed);
            var next = applied with { LastReason = $"{description}: {result.Detail}" };
            var newServices = snapshot.Table.SetItem(target.Service, servers.SetItem(target.Server, next));
            Volatile.Write(ref _snapshot, new HealthSnapshot(newServices));
            if (changed)
            {
                change = new HealthChange(target.Service, target.Server, current.State, next.State,
                    $"{description}: {result.Detail} ({Count(current, next, target.Check)})");
            }
        }

        if (change is not null)
        {
            Log.Changed(_logger, change);
            try
            {
                _onChange?.Invoke(change);
            }
            catch (Exception ex)
            {
                Log.ObserverFailed(_logger, target.Service, target.Server, ex);
            }
        }
    }

    private static string Count(ServerHealth previous, ServerHealth next, HealthCheckConfig check) =>
        previous.State == HealthState.Unknown ? "first probe"
        : next.State == HealthState.Down ? $"{next.ConsecutiveFailures} of {check.Fall}"
        : $"{next.ConsecutiveSuccesses} of {check.Rise}";

    /// <param name="OwnAddressDescription">How a probe of the server's own address reads, for the times a DSR-path target probes it.</param>
    private sealed record Target(
        string Service, string Server, HealthCheckConfig Check, string Description, IHealthProbe Probe, ProbeTarget ProbeTarget,
        string OwnAddressDescription);
}
