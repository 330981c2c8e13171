using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using Exch.Dsr.Capture.LibPcap;
using Exch.Dsr.Capture.Memory;
using Exch.Dsr.Capture.PacketRing;
using Exch.Dsr.Capture.Ports;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
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
public sealed record DataPlaneStatus(long Forwarded, long Dropped, long Answered, long NotOurs, long KernelDropped, long SendFailures, int Connections)
{
    /// <summary>Connections the forwarding threads track at most, together (<c>[appliance] connections</c> each).</summary>
    public long ConnectionCapacity { get; init; }

    /// <summary>The reasons behind <see cref="Dropped"/> that are not zero, e.g. "no server 2, mid-stream without state 1"; empty when nothing was dropped.</summary>
    public string DropReasons { get; init; } = string.Empty;
}

/// <summary>
/// The live data plane: start-up checks, the capture port, the forwarding threads with their engines (one today), and
/// the <see cref="ClusterState"/> that owns the running configuration, the operator's overrides, the health monitor and
/// the neighbour resolver, and alone publishes routing snapshots to every engine. <see cref="Control"/> is the
/// <see cref="IClusterControl"/> the control socket and SIGHUP use.
/// </summary>
/// <remarks>
/// Threads: each forwarding thread owns its port's receive and send side; the control thread ("exch-dsr-control")
/// owns the neighbour table's adopted view, the snapshot builder and the overrides, and talks to the forwarding
/// threads only through <see cref="ForwardingEngine.Publish"/> (one volatile reference), the workers' request flags and
/// <see cref="ForwardingWorker.InvokeOnThreadAsync{T}"/>. The health monitor is started by the host after the port is
/// open (<see cref="StartHealthAsync"/>) and stopped before it closes. <see cref="Stop"/> may be called from any thread.
/// </remarks>
public sealed class LiveDataPlane : IDisposable
{
    private static readonly (ForwardVerdict Verdict, string Name)[] DroppedVerdicts =
    [
        (ForwardVerdict.NoServer, "no server"),
        (ForwardVerdict.MidStreamNoState, "mid-stream without state"),
        (ForwardVerdict.FragmentNoState, "fragment without state"),
        (ForwardVerdict.ConnectionTableFull, "connection table full"),
        (ForwardVerdict.Malformed, "malformed"),
        (ForwardVerdict.LoopGuard, "loop guard"),
    ];

    private readonly ExchDsrConfig _config;
    private readonly ILogger _logger;
    private readonly NeighbourTable _neighbours;
    private readonly ForwardingWorker[] _workers;
    private readonly ClusterState _cluster;
    private readonly ClusterControl _control;
    private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stopped;

    private LiveDataPlane(ExchDsrConfig config, DataPlaneOptions options, ILoggerFactory loggers, ILogger logger, IFramePort[] ports, MacAddress ourMac, (IpAddress128 Arp, IpAddress128 Ndp) senders)
    {
        _config = config;
        _logger = logger;
        _neighbours = new NeighbourTable(config.Servers);
        _workers = CreateWorkers(config, options, ports, ourMac, senders);
        _cluster = new ClusterState(config, _neighbours, [.. _workers.Select(w => w.Engine)], options, loggers, RequestResolution);
        _cluster.Failed.ContinueWith(t => _failed.TrySetResult(t.Result), TaskScheduler.Default);
        string file = options.ConfigFile ?? "(none)";
        _control = new ClusterControl(
            _cluster,
            [.. _workers.Select(w => new WorkerThread(w))],
            ReadStatus,
            file,
            options.LoadConfiguration ?? (() => ConfigurationLoad.FromFile(file)),
            logger);
        MacAddress = ourMac;
    }

    /// <summary>The source MAC of every frame the appliance sends.</summary>
    public MacAddress MacAddress { get; }

    /// <summary>Completes with the error when a forwarding thread or the control thread ends on one.</summary>
    public Task<Exception> Failed => _failed.Task;

    /// <summary>The running configuration, the overrides and the health view; the one publisher of snapshots.</summary>
    public ClusterState Cluster => _cluster;

    /// <summary>Status, tables, admin actions and reload, for the control socket and SIGHUP.</summary>
    public ClusterControl Control => _control;

    /// <summary>
    /// Runs the start-up checks, opens the capture port, publishes the first snapshot and starts forwarding. Health
    /// checks start with <see cref="StartHealthAsync"/>.
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

        // 0: one thread per core with the ring; libpcap cannot join a fanout group, so pcap always runs one.
        int threads = config.Appliance.Threads == 0 ? Environment.ProcessorCount : config.Appliance.Threads;
        if (config.Appliance.Backend == CaptureBackend.Pcap && threads > 1)
        {
            if (config.Appliance.Threads > 1)
            {
                DataPlaneLog.SingleThreadOnly(logger, config.Appliance.Threads);
            }

            threads = 1;
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

        IFramePort[] ports;
        try
        {
            ports = OpenPorts(config, threads, logger);
        }
        catch (FramePortException e)
        {
            throw new DataPlaneStartupException($"cannot open {name} with the {config.Appliance.Backend} backend: {e.Message}", e);
        }

        var plane = new LiveDataPlane(config, options, loggers, logger, ports, ourMac, SenderAddresses(name));
        try
        {
            plane.Run();
        }
        catch (InvalidOperationException e)
        {
            // The builder refused the definitions; the loader's validation should make this impossible.
            plane.Dispose();
            throw new DataPlaneStartupException($"the configuration could not be turned into routes: {e.Message}", e);
        }

        return plane;
    }

    /// <summary>Starts the health monitor (after forwarding has started, so probes never wait for the port).</summary>
    public Task StartHealthAsync() => _cluster.StartHealthAsync();

    /// <summary>Stops the health monitor and waits for probes in flight.</summary>
    public Task StopHealthAsync() => _cluster.StopHealthAsync();

    /// <summary>
    /// The BPF expression the pcap backend captures with: each service's VIP and ports, ARP, ICMP to the VIPs, and
    /// ICMPv6 when a VIP or an <c>auto</c> server is IPv6, untagged and inside one 802.1Q tag.
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

        // ICMP to a VIP always: errors (fragmentation needed) follow the flow they quote to its server, and echo is
        // answered when we own the VIPs. ICMPv6 for the same, and for the neighbour advertisements of IPv6 servers.
        var vips = config.Services.Select(s => s.Vip).Distinct().ToList();
        foreach (var vip in vips.Where(v => v.AddressFamily == AddressFamily.InterNetwork))
        {
            untagged += $" or (icmp and dst host {vip})";
        }

        if (vips.Any(v => v.AddressFamily == AddressFamily.InterNetworkV6)
            || config.Servers.Any(s => s.Address.AddressFamily == AddressFamily.InterNetworkV6 && s.Mac is null))
        {
            untagged += " or icmp6";
        }

        // The tagged alternative comes last: in pcap-filter(7) "vlan" shifts the offsets of everything after it.
        return $"{untagged} or (vlan and ({untagged}))";
    }

    /// <summary>Totals over the forwarding threads and their ports; safe from any thread.</summary>
    public DataPlaneStatus ReadStatus()
    {
        long forwarded = 0, answered = 0, notOurs = 0, kernelDropped = 0, sendFailures = 0, truncated = 0;
        var dropped = new long[DroppedVerdicts.Length];
        int connections = 0;
        long capacity = 0;
        foreach (var w in _workers)
        {
            forwarded += w.Verdicts(ForwardVerdict.Forwarded);
            for (int i = 0; i < DroppedVerdicts.Length; i++)
            {
                dropped[i] += w.Verdicts(DroppedVerdicts[i].Verdict);
            }

            truncated += w.Truncated;
            answered += w.Answered;
            notOurs += w.Verdicts(ForwardVerdict.NotOurs);
            var counters = w.Port.ReadCounters();
            kernelDropped += counters.KernelDropped;
            sendFailures += counters.SendFailures;
            connections += w.Engine.ConnectionCount;
            capacity += w.Engine.ConnectionCapacity;
        }

        // Named in the status line so an operator can tell a dead member (no server) from a restart's orphans (mid-stream).
        var reasons = DroppedVerdicts.Select((d, i) => (d.Name, Count: dropped[i])).Append((Name: "truncated by the capture", Count: truncated)).Where(r => r.Count > 0);
        return new DataPlaneStatus(forwarded, dropped.Sum() + truncated, answered, notOurs, kernelDropped, sendFailures, connections)
        {
            DropReasons = string.Join(", ", reasons.Select(r => $"{r.Name} {r.Count}")),
            ConnectionCapacity = capacity,
        };
    }

    /// <summary>
    /// Stops the rate sampler, the health monitor if it still runs, the control thread and the forwarding threads
    /// (bounded waits), then closes the ports. Idempotent.
    /// </summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _control.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));

        // Probes are cancelled with the loops, so this wait is short; the port stays open until they have ended.
        _cluster.StopHealthAsync().Wait(TimeSpan.FromSeconds(5));
        _cluster.Stop();
        foreach (var worker in _workers)
        {
            worker.Stop(TimeSpan.FromSeconds(5));
        }

        foreach (var worker in _workers)
        {
            worker.Port.Dispose();
            DataPlaneLog.Stopped(_logger, worker.Port.InterfaceName);
        }
    }

    public void Dispose()
    {
        Stop();
        _cluster.Dispose();
    }

    /// <summary>
    /// The ports, one per forwarding thread: one pcap port, or <paramref name="threads"/> ring ports in one
    /// PACKET_FANOUT group keyed on the client address cut to the widest persistence netmask of all services, so every
    /// connection of one persistence key reaches the same thread. All are open before any thread starts; if one fails
    /// the others are closed.
    /// </summary>
    private static IFramePort[] OpenPorts(ExchDsrConfig config, int threads, ILogger logger)
    {
        if (config.Appliance.Backend == CaptureBackend.Pcap || threads == 1)
        {
            return [OpenPort(config, logger, fanout: null)];
        }

        int Widest(AddressFamily family, int whole) => config.Services
            .Where(s => s.Vip.AddressFamily == family && s.Persistence is not null)
            .Select(s => s.Persistence!.PrefixLength)
            .DefaultIfEmpty(whole)
            .Min();
        var group = new FanoutGroup(FanoutGroup.IdForThisProcess(), Widest(AddressFamily.InterNetwork, 32), Widest(AddressFamily.InterNetworkV6, 128));
        var ports = new List<IFramePort>(threads);
        try
        {
            for (int i = 0; i < threads; i++)
            {
                ports.Add(OpenPort(config, logger, group));
            }

            return [.. ports];
        }
        catch
        {
            foreach (var port in ports)
            {
                port.Dispose();
            }

            throw;
        }
    }

    private static IFramePort OpenPort(ExchDsrConfig config, ILogger logger, FanoutGroup? fanout)
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

        var receive = config.Appliance.RingReceive == RingReceive.Block ? RingReceiveMode.Block : RingReceiveMode.Frame;
        return PacketRingPort.Open(new PacketRingOptions { InterfaceName = name, ReceiveMode = receive, Fanout = fanout });
    }

    /// <summary>
    /// The resolver's source addresses: the interface's first IPv4 address for ARP requests (0.0.0.0, a probe, when it
    /// has none) and its IPv6 link-local address for neighbour solicitations (:: when it has none).
    /// </summary>
    private static (IpAddress128 Arp, IpAddress128 Ndp) SenderAddresses(string name)
    {
        try
        {
            var addresses = NetworkInterface.GetAllNetworkInterfaces()
                .FirstOrDefault(n => n.Name == name)?
                .GetIPProperties().UnicastAddresses
                .Select(u => u.Address)
                .ToList() ?? [];
            var v4 = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
            var linkLocal = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6 && a.IsIPv6LinkLocal);
            return (IpAddress128.FromIPAddress(v4 ?? IPAddress.Any), IpAddress128.FromIPAddress(linkLocal ?? IPAddress.IPv6Any));
        }
        catch (NetworkInformationException)
        {
            return (IpAddress128.FromIPAddress(IPAddress.Any), IpAddress128.FromIPAddress(IPAddress.IPv6Any));
        }
    }

    /// <summary>
    /// The forwarding threads, one per port: today one thread on one port. A fanout builds one worker (and engine)
    /// per ring here; everything else already works over the list.
    /// </summary>
    private ForwardingWorker[] CreateWorkers(ExchDsrConfig config, DataPlaneOptions options, IFramePort[] ports, MacAddress ourMac, (IpAddress128 Arp, IpAddress128 Ndp) senders)
    {
        IpAddress128[] vips = [.. config.Services.Select(s => s.Vip).Where(v => v.AddressFamily == AddressFamily.InterNetwork).Distinct().Select(IpAddress128.FromIPAddress)];
        return
        [
            .. ports.Select(port => new ForwardingWorker(
                port,
                new ForwardingEngine(ourMac, new ForwardingEngineOptions
                {
                    ConnectionCapacity = config.Appliance.Connections,

                    // A seed nobody outside knows, so no sender can aim its flows at one probe cluster or chain.
                    TableHashSeed = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(sizeof(ulong))),

                    // Lookups at many clients read random lines of this table: 2 MiB pages spare them the page walks.
                    ConnectionTableMemory = static (address, length) => HugePages.Request(address, length),

                    // The thread is idle between receives on a quiet link: it may sweep more after a gap.
                    SweepAfterQuietGaps = true,
                }),
                _neighbours,
                config.Appliance.OwnVips,
                senders.Arp,
                vips,
                options.BatchSize)
            {
                NdpSenderIp = senders.Ndp,
                Failed = (worker, e) =>
                {
                    DataPlaneLog.WorkerFailed(_logger, worker.Port.InterfaceName, e.Message, e);
                    _failed.TrySetResult(e);
                },
            }),
        ];
    }

    private void RequestResolution()
    {
        // One request is enough: whichever thread receives the answer records it in the shared neighbour table.
        _workers[0].RequestResolution();
    }

    private void Run()
    {
        _cluster.Start();
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i].Start(_workers.Length == 1 ? "exch-dsr-forward" : $"exch-dsr-fwd{i}");
        }

        _control.Start();
        DataPlaneLog.Started(_logger, _config.Appliance.Interface, _config.Appliance.Backend.ToString().ToLowerInvariant(), MacAddress.ToString(), _config.Services.Count, _config.Servers.Count, _config.Appliance.OwnVips);
        if (_config.Appliance.OwnVips)
        {
            // One worker announces: a gratuitous ARP needs to go out once, not once per thread.
            _workers[0].RequestAnnouncement();
            DataPlaneLog.GratuitousArpSent(_logger, _config.Services.Select(s => s.Vip).Where(v => v.AddressFamily == AddressFamily.InterNetwork).Distinct().Count());
        }
    }
}
