using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Exch.Dsr.Capture.LibPcap;
using Exch.Dsr.Capture.PacketRing;
using Exch.Dsr.Capture.Ports;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Health;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.DataPlane;

/// <summary>The start-up checks that failed; the data plane did not start.</summary>
public sealed class DataPlaneStartupException : Exception
{
    public DataPlaneStartupException(IReadOnlyList<StartupCheck> failed)
        : base(string.Join("; ", failed.Select(c => $"{c.Name}: {c.Message}")))
    {
        FailedChecks = failed;
    }

    public DataPlaneStartupException(string message, Exception? inner = null)
        : base(message, inner)
    {
        FailedChecks = [];
    }

    /// <summary>Each failed check, with the command that fixes it where there is one.</summary>
    public IReadOnlyList<StartupCheck> FailedChecks { get; }
}

/// <summary>Totals over the forwarding threads, for the status line.</summary>
/// <param name="Forwarded">Frames rewritten and sent to a real server.</param>
/// <param name="Dropped">Frames for a service that were not forwarded (no server, mid-stream without state, malformed, table full, loop guard, truncated).</param>
/// <param name="Answered">ARP, echo and neighbour-solicitation answers sent for owned VIPs.</param>
/// <param name="NotOurs">Frames the capture delivered that belong to no service.</param>
/// <param name="KernelDropped">Frames the kernel dropped before the forwarder saw them.</param>
/// <param name="SendFailures">Frames the kernel refused to send.</param>
/// <param name="Connections">Tracked connections.</param>
public sealed record DataPlaneStatus(long Forwarded, long Dropped, long Answered, long NotOurs, long KernelDropped, long SendFailures, int Connections);

/// <summary>
/// The live data plane: start-up checks, the capture port, one forwarding thread with its engine, and the neighbour
/// resolver that keeps <c>mac = "auto"</c> servers' MACs current and publishes a new snapshot when one changes, and
/// the <see cref="HealthMonitor"/> whose every <see cref="HealthChange"/> has that same thread publish a new snapshot
/// with the member Down (or back up) in that service.
/// </summary>
/// <remarks>
/// Threads: the forwarding thread owns the port's receive and send side; the resolver thread owns the neighbour
/// table's adopted view and the snapshot builder, and talks to the forwarding thread only through
/// <see cref="ForwardingEngine.Publish"/> (one volatile reference) and the worker's request flags. The health monitor's
/// probing loops never build or publish: a change only sets a flag and wakes the resolver thread, which stays the one
/// publisher, off the packet path. The monitor starts after the port is open and is stopped (and awaited) before the
/// port closes. <see cref="Stop"/> may be called from any thread, once.
/// </remarks>
public sealed class LiveDataPlane : IDisposable
{
    private readonly ExchDsrConfig _config;
    private readonly DataPlaneOptions _options;
    private readonly ILogger _logger;
    private readonly NeighbourTable _neighbours;
    private readonly LiveRoutingSnapshots _snapshots;
    private readonly ForwardingWorker _worker;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _excluded = new(StringComparer.Ordinal);
    private readonly AutoResetEvent _healthChanged = new(initialState: false);
    private HealthMonitor? _health;
    private Thread? _resolver;
    private int _healthDirty;
    private int _stopped;

    private LiveDataPlane(ExchDsrConfig config, DataPlaneOptions options, ILogger logger, IFramePort port, MacAddress ourMac, IpAddress128 arpSender)
    {
        _config = config;
        _options = options;
        _logger = logger;
        _neighbours = new NeighbourTable(config.Servers);
        _snapshots = new LiveRoutingSnapshots(config, _neighbours);
        var engine = new ForwardingEngine(ourMac, new ForwardingEngineOptions { ConnectionCapacity = options.ConnectionCapacity });
        IpAddress128[] vips = [.. config.Services.Select(s => s.Vip).Where(v => v.AddressFamily == AddressFamily.InterNetwork).Distinct().Select(IpAddress128.FromIPAddress)];
        _worker = new ForwardingWorker(port, engine, _neighbours, config.Appliance.OwnVips, arpSender, vips, options.BatchSize)
        {
            Failed = (worker, e) =>
            {
                DataPlaneLog.WorkerFailed(_logger, worker.Port.InterfaceName, e.Message, e);
                _failed.TrySetResult(e);
            },
        };
        MacAddress = ourMac;
    }

    /// <summary>The source MAC of every frame the appliance sends.</summary>
    public MacAddress MacAddress { get; }

    /// <summary>Completes with the error when a forwarding or resolver thread ends on one.</summary>
    public Task<Exception> Failed => _failed.Task;

    /// <summary>
    /// Runs the start-up checks, opens the capture port, publishes the first snapshot and starts forwarding.
    /// </summary>
    /// <exception cref="DataPlaneStartupException">A check failed or the port could not be opened.</exception>
    public static LiveDataPlane Start(ExchDsrConfig config, DataPlaneOptions options, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Exch.Dsr.DataPlane");
        string name = config.Appliance.Interface;
        var checks = InterfaceChecks.RunAll(name);
        var failed = checks.Where(c => c.Status == CheckStatus.Failed).ToList();
        if (failed.Count > 0)
        {
            throw new DataPlaneStartupException(failed);
        }

        foreach (var check in checks)
        {
            if (check.Status == CheckStatus.Ok)
            {
                DataPlaneLog.CheckOk(logger, check.Name, check.Message);
            }
            else
            {
                DataPlaneLog.CheckWarning(logger, check.Name, check.Remedy is null ? check.Message : $"{check.Message} (remedy: {check.Remedy})");
            }
        }

        // 0 asks the data plane to choose, and one thread is its choice today; only an explicit larger number is refused.
        if (config.Appliance.Threads > 1)
        {
            DataPlaneLog.SingleThreadOnly(logger, config.Appliance.Threads);
        }

        MacAddress ourMac;
        if (config.Appliance.Mac is { } configured)
        {
            ourMac = MacAddress.Read(configured.GetAddressBytes());
        }
        else if (InterfaceChecks.TryReadInterface(name, out var info, out string error) && MacAddress.TryParse(info!.MacAddress, out var read))
        {
            ourMac = read;
        }
        else
        {
            throw new DataPlaneStartupException($"cannot read the MAC of {name}: {error}; set mac under [appliance]");
        }

        IFramePort port;
        try
        {
            port = OpenPort(config, logger);
        }
        catch (FramePortException e)
        {
            throw new DataPlaneStartupException($"cannot open {name} with the {config.Appliance.Backend} backend: {e.Message}", e);
        }

        var plane = new LiveDataPlane(config, options, logger, port, ourMac, ArpSenderAddress(name));
        try
        {
            plane.Run(loggers);
        }
        catch (InvalidOperationException e)
        {
            // The builder refused the definitions; the loader's validation should make this impossible.
            plane.Dispose();
            throw new DataPlaneStartupException($"the configuration could not be turned into routes: {e.Message}", e);
        }

        return plane;
    }

    /// <summary>
    /// The BPF expression the pcap backend captures with: each service's VIP and ports, ARP, and for owned VIPs ICMP
    /// echo to the VIP (and ICMPv6 for neighbour solicitations), untagged and inside one 802.1Q tag.
    /// </summary>
    public static string PcapFilter(ExchDsrConfig config)
    {
        var filter = new CaptureFilter { IncludeArp = true, IncludeVlanTagged = false };
        foreach (var service in config.Services)
        {
            var protocol = service.Protocol == TransportProtocol.Udp ? FilterProtocol.Udp : FilterProtocol.Tcp;
            filter.AddService(service.Vip, protocol, [.. service.Ports.Select(p => (ushort)p)]);
        }

        string untagged = filter.Build();
        if (config.Appliance.OwnVips)
        {
            var vips = config.Services.Select(s => s.Vip).Distinct().ToList();
            foreach (var vip in vips.Where(v => v.AddressFamily == AddressFamily.InterNetwork))
            {
                untagged += $" or (icmp and dst host {vip})";
            }

            if (vips.Any(v => v.AddressFamily == AddressFamily.InterNetworkV6))
            {
                untagged += " or icmp6";
            }
        }

        // The tagged alternative comes last: in pcap-filter(7) "vlan" shifts the offsets of everything after it.
        return $"{untagged} or (vlan and ({untagged}))";
    }

    /// <summary>Totals over the forwarding threads and the port; safe from any thread.</summary>
    public DataPlaneStatus ReadStatus()
    {
        var w = _worker;
        long dropped = w.Truncated + w.Verdicts(ForwardVerdict.Malformed) + w.Verdicts(ForwardVerdict.LoopGuard)
            + w.Verdicts(ForwardVerdict.NoServer) + w.Verdicts(ForwardVerdict.MidStreamNoState)
            + w.Verdicts(ForwardVerdict.FragmentNoState) + w.Verdicts(ForwardVerdict.ConnectionTableFull);
        var counters = w.Port.ReadCounters();
        return new DataPlaneStatus(w.Verdicts(ForwardVerdict.Forwarded), dropped, w.Answered, w.Verdicts(ForwardVerdict.NotOurs), counters.KernelDropped, counters.SendFailures, w.Engine.ConnectionCount);
    }

    /// <summary>Stops the threads (bounded waits) and closes the port. Idempotent.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _stop.Cancel();

        // Probes are cancelled with the loops, so this wait is short; the port stays open until they have ended.
        if (_health is { } health && health.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5)))
        {
            _health = null;
        }

        _resolver?.Join(TimeSpan.FromSeconds(5));
        _worker.Stop(TimeSpan.FromSeconds(5));
        _worker.Port.Dispose();
        DataPlaneLog.Stopped(_logger, _worker.Port.InterfaceName);
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
        if (_health is null)
        {
            _healthChanged.Dispose();
        }
    }

    private static IFramePort OpenPort(ExchDsrConfig config, ILogger logger)
    {
        string name = config.Appliance.Interface;
        if (config.Appliance.Backend == CaptureBackend.Pcap)
        {
            if (!PcapPort.IsLibraryAvailable(out string missing))
            {
                throw new DataPlaneStartupException($"the pcap backend needs libpcap: {missing}; or set backend = \"ring\" under [appliance]");
            }

            var port = PcapPort.Open(new PcapPortOptions { InterfaceName = name, Filter = PcapFilter(config) }, out string? warning);
            if (warning is not null)
            {
                DataPlaneLog.PortWarning(logger, warning);
            }

            return port;
        }

        return PacketRingPort.Open(new PacketRingOptions { InterfaceName = name });
    }

    /// <summary>The interface's first IPv4 address, the sender of the resolver's ARP requests; 0.0.0.0 (a probe) when it has none.</summary>
    private static IpAddress128 ArpSenderAddress(string name)
    {
        try
        {
            var address = NetworkInterface.GetAllNetworkInterfaces()
                .FirstOrDefault(n => n.Name == name)?
                .GetIPProperties().UnicastAddresses
                .Select(u => u.Address)
                .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
            return IpAddress128.FromIPAddress(address ?? IPAddress.Any);
        }
        catch (NetworkInformationException)
        {
            return IpAddress128.FromIPAddress(IPAddress.Any);
        }
    }

    private void Run(ILoggerFactory loggers)
    {
        PublishSnapshot(first: true);
        _worker.Start("exch-dsr-forward");
        _health = new HealthMonitor(_config, TimeProvider.System, loggers.CreateLogger<HealthMonitor>(), OnHealthChange);
        _health.Start();
        DataPlaneLog.Started(_logger, _config.Appliance.Interface, _config.Appliance.Backend.ToString().ToLowerInvariant(), MacAddress.ToString(), _config.Services.Count, _config.Servers.Count, _config.Appliance.OwnVips);
        if (_config.Appliance.OwnVips)
        {
            _worker.RequestAnnouncement();
            DataPlaneLog.GratuitousArpSent(_logger, _config.Services.Select(s => s.Vip).Where(v => v.AddressFamily == AddressFamily.InterNetwork).Distinct().Count());
        }

        _resolver = new Thread(ResolveLoop) { Name = "exch-dsr-neighbours", IsBackground = true };
        _resolver.Start();
    }

    /// <summary>
    /// Asks for every watched server's MAC at once, then every <see cref="DataPlaneOptions.NeighbourRefresh"/> (every
    /// <see cref="DataPlaneOptions.UnresolvedRetry"/> while one is unknown); adopts what the forwarding thread learned
    /// every 100 ms, so an answer reaches the engine within about that long.
    /// </summary>
    private void ResolveLoop()
    {
        try
        {
            var token = _stop.Token;
            var nextRequest = DateTime.UtcNow;
            while (!token.IsCancellationRequested)
            {
                var now = DateTime.UtcNow;
                if (now >= nextRequest && _neighbours.ArpTargets.Length > 0)
                {
                    _worker.RequestResolution();
                    nextRequest = now + (_excluded.Count > 0 ? _options.UnresolvedRetry : _options.NeighbourRefresh);
                }

                if (WaitHandle.WaitAny([token.WaitHandle, _healthChanged], TimeSpan.FromMilliseconds(100)) == 0)
                {
                    break;
                }

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

                    PublishSnapshot(first: false);
                }
            }
        }
        catch (Exception e)
        {
            DataPlaneLog.ResolverFailed(_logger, e.Message, e);
            _failed.TrySetResult(e);
        }
    }

    /// <summary>From a probing loop: must not block, so it only marks the snapshot stale and wakes the resolver thread.</summary>
    private void OnHealthChange(HealthChange change)
    {
        Volatile.Write(ref _healthDirty, 1);
        _healthChanged.Set();
    }

    private void PublishSnapshot(bool first)
    {
        // The monitor's snapshot already shows the change that woke us (it is swapped in before the callback).
        var snapshot = _snapshots.Build(_health?.Snapshot, out var excluded);
        _worker.Engine.Publish(snapshot);
        DataPlaneLog.SnapshotPublished(_logger, _config.Servers.Count - excluded.Count, _config.Servers.Count);
        var now = excluded.ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < _config.Servers.Count; i++)
        {
            var server = _config.Servers[i];
            bool wasOut = first || _excluded.Contains(server.Name);
            if (now.Contains(server.Name) && !_excluded.Contains(server.Name))
            {
                if (_neighbours.IsResolvable(i))
                {
                    DataPlaneLog.ServerUnresolved(_logger, server.Name, server.Address);
                }
                else
                {
                    DataPlaneLog.ServerNotResolvable(_logger, server.Name, server.Address);
                }
            }
            else if (!now.Contains(server.Name) && wasOut && server.Mac is null)
            {
                DataPlaneLog.ServerResolved(_logger, server.Name, server.Address, _neighbours.MacOf(i).ToString()!);
            }
        }

        _excluded.Clear();
        _excluded.UnionWith(now);
    }
}
