using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Exch.Dsr.Configuration;
using Exch.Dsr.Health.Probes;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Health.Tests;

/// <summary>
/// DSR-path probes on real policy routes, in two network namespaces of the test's own on a veth pair: an "appliance"
/// (198.51.100.2) and a "server" (198.51.100.11) holding the VIP 198.51.100.100 on <c>lo</c> with arp_ignore /
/// arp_announce, as a CAS with a loopback adapter. The routes are installed with <c>ip -n</c> into the appliance
/// namespace; a probe socket is made there by a thread that entered it (setns), so the SYN takes the real path.
/// Needs root and iproute2; nothing is done in the host's own namespace.
/// </summary>
[NonParallelizable]
[CancelAfter(20_000)]
public sealed class DsrProbeTests
{
    private const string ServerAddress = "198.51.100.11";
    private const string VipText = "198.51.100.100";
    private static readonly IPAddress Vip = IPAddress.Parse(VipText);
    private static readonly IPAddress Server = IPAddress.Parse(ServerAddress);

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private string Appliance => $"xdsr-hap-{_suffix}";
    private string ServerNs => $"xdsr-hsv-{_suffix}";

    [SetUp]
    public void BuildNamespaces()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore("needs root (network namespaces, policy routes, SO_MARK)");
        }

        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/bin/ip"))
        {
            Assert.Ignore("needs iproute2 (apt-get install iproute2)");
        }

        Ip("netns", "add", Appliance);
        Ip("netns", "add", ServerNs);
        Ip("-n", Appliance, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ServerNs);
        foreach (var (ns, address) in new[] { (Appliance, "198.51.100.2"), (ServerNs, ServerAddress) })
        {
            Ip("-n", ns, "link", "set", "lo", "up");
            Ip("-n", ns, "addr", "add", $"{address}/24", "dev", "eth0");
            Ip("-n", ns, "link", "set", "eth0", "up");
        }

        Ip("-n", ServerNs, "addr", "add", $"{VipText}/32", "dev", "lo");
        Run("ip", "netns", "exec", ServerNs, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2");
    }

    [TearDown]
    public void DeleteNamespaces()
    {
        Run("ip", "netns", "del", Appliance);
        Run("ip", "netns", "del", ServerNs);
    }

    private DsrProbeRoutes Routes(string? ipCommand = null) => new("eth0", Appliance, ipCommand);

    private static DsrRouteRequest[] Cas1 => [new("CAS1", Server, Vip)];

    [Test]
    public void Routes_are_installed_verified_and_removed()
    {
        var routes = Routes();
        var outcome = routes.Install(Cas1);
        Assert.That(outcome.Failures, Is.Empty);
        Assert.That(outcome.Marks[("CAS1", Vip)], Is.EqualTo(DsrProbeRoutes.FirstMark));
        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Contain("20480:\tfrom all fwmark 0x45440000 lookup 20480"));
        Assert.That(Ip("-n", Appliance, "route", "get", VipText, "mark", "0x45440000"), Does.Contain($"via {ServerAddress} dev eth0 table 20480"));
        Assert.That(Ip("-n", Appliance, "route", "get", VipText), Does.Not.Contain("table 20480"), "unmarked traffic is not affected");

        Assert.That(routes.RemoveAll(), Is.EqualTo(1));
        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Not.Contain("20480"));
        Assert.That(Ip("-n", Appliance, "route", "show", "table", "20480"), Is.Empty);
    }

    [Test]
    public void A_monitor_stopping_after_its_successor_started_leaves_the_successors_routes()
    {
        // A reload that starts the new monitor before the old one has stopped.
        var old = Routes();
        var successor = Routes();
        old.Install(Cas1);
        successor.Install(Cas1);
        old.Release();
        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Contain("fwmark 0x45440000 lookup 20480"));
        successor.Release();
        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Not.Contain("20480"));
    }

    [Test]
    public void What_a_crashed_run_left_is_removed_before_installing()
    {
        Ip("-n", Appliance, "rule", "add", "pref", "20480", "fwmark", "0x45440009", "lookup", "20489");
        Ip("-n", Appliance, "rule", "add", "pref", "20480", "fwmark", "0x45440000", "lookup", "20480");
        Ip("-n", Appliance, "route", "add", "192.0.2.99/32", "via", ServerAddress, "dev", "eth0", "onlink", "table", "20489");
        Ip("-n", Appliance, "rule", "add", "pref", "20481", "fwmark", "0x99", "lookup", "100");

        var outcome = Routes().Install(Cas1);
        Assert.That(outcome.StaleRulesRemoved, Is.EqualTo(2));
        var rules = Ip("-n", Appliance, "rule", "show");
        Assert.That(rules.Split('\n').Count(l => l.StartsWith("20480:", StringComparison.Ordinal)), Is.EqualTo(1), rules);
        Assert.That(rules, Does.Contain("20481:\tfrom all fwmark 0x99 lookup 100"), "a rule of someone else's stays");
        Assert.That(Ip("-n", Appliance, "route", "show", "table", "20489"), Is.Empty);
    }

    [Test]
    public void A_vip_local_to_the_appliance_gets_its_route_for_when_it_leaves()
    {
        // own-vips = false on the active appliance: the VIP is an address of this host, and the local table comes
        // before every rule of ours. keepalived may take it away, and then the route must be there.
        Ip("-n", Appliance, "addr", "add", $"{VipText}/32", "dev", "lo");
        var outcome = Routes().Install(Cas1);
        Assert.That(outcome.Failures, Is.Empty);
        Assert.That(outcome.Marks.Keys, Is.EqualTo(new[] { ("CAS1", Vip) }));

        Ip("-n", Appliance, "addr", "del", $"{VipText}/32", "dev", "lo");
        Assert.That(Ip("-n", Appliance, "route", "get", VipText, "mark", DsrProbeRoutes.Hex(outcome.Marks[("CAS1", Vip)])),
            Does.Contain($"via {ServerAddress} dev eth0"), "once the VIP left, the marked probe goes to the server");
    }

    [Test]
    public void Without_iproute2_every_server_falls_back_with_the_reason()
    {
        var outcome = Routes("/nonexistent/ip").Install([.. Cas1, new DsrRouteRequest("CAS2", IPAddress.Parse("198.51.100.12"), Vip)]);
        Assert.That(outcome.Marks, Is.Empty);
        Assert.That(outcome.Failures.Values, Has.Count.EqualTo(2).And.All.StartWith("ip rule add: cannot run /nonexistent/ip"));
    }

    [Test]
    public async Task A_tcp_probe_on_the_dsr_path_catches_a_server_whose_loopback_lost_the_vip()
    {
        using var listener = InNamespace(ServerNs, () =>
        {
            var l = new TcpListener(IPAddress.Any, 0);
            l.Start(16);
            return l;
        });
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var accepting = AcceptForever(listener, stop.Token);

        var routes = Routes();
        var mark = routes.Install(Cas1).Marks[("CAS1", Vip)];
        var probe = HealthProbes.Create(new HealthCheckConfig { Kind = HealthCheckKind.Tcp, Port = port, Timeout = TimeSpan.FromMilliseconds(500) });
        var dsr = new ProbeTarget(Server, port, Vip) { DsrMark = mark };
        var direct = new ProbeTarget(Server, port, Vip);

        Assert.That(await InNamespace(Appliance, () => probe.ProbeAsync(dsr, CancellationToken.None).AsTask()), Is.EqualTo(new ProbeResult(true, "connected")));

        Ip("-n", ServerNs, "addr", "del", $"{VipText}/32", "dev", "lo");
        var clock = Stopwatch.StartNew();
        Assert.That(await InNamespace(Appliance, () => probe.ProbeAsync(dsr, CancellationToken.None).AsTask()),
            Is.EqualTo(new ProbeResult(false, "connect timed out after 500ms")), "the SYN for the VIP reached a server that no longer holds it");
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
        Assert.That(await InNamespace(Appliance, () => probe.ProbeAsync(direct, CancellationToken.None).AsTask()),
            Is.EqualTo(new ProbeResult(true, "connected")), "a probe of its own address sees nothing wrong");

        Ip("-n", ServerNs, "addr", "add", $"{VipText}/32", "dev", "lo");
        Assert.That(await InNamespace(Appliance, () => probe.ProbeAsync(dsr, CancellationToken.None).AsTask()), Is.EqualTo(new ProbeResult(true, "connected")));
        await stop.CancelAsync();
        listener.Stop();
        await accepting;
        routes.RemoveAll();
    }

    [Test]
    public async Task The_monitor_installs_routes_at_start_probes_the_vip_and_removes_them_at_stop()
    {
        var targets = new List<ProbeTarget>();
        var probe = new RecordingProbe(targets);
        var logger = new ListLogger();
        var monitor = new HealthMonitor(Config(dsrProbe: true), TimeProvider.System, logger, Routes(), probeFactory: _ => probe);
        monitor.Start();
        await Eventually(() => monitor.Snapshot.Get("owa-https", "CAS1")?.State == HealthState.Up);

        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Contain("fwmark 0x45440000 lookup 20480"));
        lock (targets)
        {
            Assert.That(targets[0].DsrMark, Is.EqualTo(DsrProbeRoutes.FirstMark));
            Assert.That(targets[0].Destination, Is.EqualTo(Vip));
        }

        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.LastReason, Is.EqualTo($"https /owa VIP {VipText}:443 via CAS1: status 200"));
        Assert.That(logger.Lines(LogLevel.Information), Has.Some.Contains("dsr-probe: policy routes for 1 servers"));
        await monitor.DisposeAsync();
        Assert.That(Ip("-n", Appliance, "rule", "show"), Does.Not.Contain("20480"));
    }

    [Test]
    public async Task While_the_vip_is_an_address_of_this_host_the_monitor_probes_the_own_address_and_says_when_it_comes_and_goes()
    {
        // keepalived putting the VIP on this appliance and taking it away again, as the host's addresses show it.
        var vipHere = true;
        var local = new LocalAddresses(TimeProvider.System, () => Volatile.Read(ref vipHere) ? new HashSet<IPAddress> { Vip } : new HashSet<IPAddress>());
        var targets = new List<ProbeTarget>();
        var logger = new ListLogger();
        var monitor = new HealthMonitor(Config(dsrProbe: true), TimeProvider.System, logger, Routes(), probeFactory: _ => new RecordingProbe(targets), localAddresses: local);
        monitor.Start();
        await Eventually(() => monitor.Snapshot.Get("owa-https", "CAS1")?.State == HealthState.Up);
        string whileHere = monitor.Snapshot.Get("owa-https", "CAS1")!.LastReason!;

        Volatile.Write(ref vipHere, false);
        await Eventually(() => monitor.Snapshot.Get("owa-https", "CAS1")!.LastReason!.Contains("VIP", StringComparison.Ordinal));
        await monitor.DisposeAsync();

        Assert.That(whileHere, Is.EqualTo($"https /owa {ServerAddress}:443: status 200"), "the server's own address while the VIP is here");
        lock (targets)
        {
            Assert.That(targets[0].Destination, Is.EqualTo(Server));
            Assert.That(targets[^1].Destination, Is.EqualTo(Vip), "through the VIP once it left");
            Assert.That(targets[^1].DsrMark, Is.EqualTo(DsrProbeRoutes.FirstMark));
        }

        Assert.That(logger.Lines(LogLevel.Information).Where(l => l.StartsWith("dsr-probe: the VIP", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            $"dsr-probe: the VIP {VipText} is an address of this host (own-vips = false, this appliance holds it): its checks probe each server's own address while it stays",
            $"dsr-probe: the VIP {VipText} is no longer an address of this host: its checks probe through the VIP again",
        }));
        Assert.That(logger.Lines(LogLevel.Warning), Is.Empty, "nothing falls back for good");
    }

    [Test]
    public async Task A_probe_the_arriving_vip_turned_away_is_sent_again_to_the_own_address_and_counts_no_failure()
    {
        // The host's addresses as last read say the VIP is elsewhere (this clock never lets that reading age); the
        // VIP has just arrived, so a probe through it meets the host's own stack and is refused.
        var vipHere = false;
        var local = new LocalAddresses(new FrozenTime(), () => Volatile.Read(ref vipHere) ? new HashSet<IPAddress> { Vip } : new HashSet<IPAddress>());
        var targets = new List<ProbeTarget>();
        var probe = new RecordingProbe(targets, t => !(t.Destination.Equals(Vip) && Volatile.Read(ref vipHere)));
        var changes = new List<HealthChange>();
        var config = Config(dsrProbe: true);
        var monitor = new HealthMonitor(config, TimeProvider.System, new ListLogger(), Routes(), change => { lock (changes) { changes.Add(change); } },
            _ => probe, localAddresses: local);
        monitor.Start();
        await Eventually(() => monitor.Snapshot.Get("owa-https", "CAS1")?.State == HealthState.Up);

        Volatile.Write(ref vipHere, true);
        int before;
        lock (targets)
        {
            before = targets.Count;
        }

        await Eventually(() => { lock (targets) { return targets.Count >= before + 6; } });
        await monitor.DisposeAsync();

        lock (targets)
        {
            var after = targets.Skip(before).ToList();
            Assert.That(after.Take(2).Select(t => t.Destination), Is.EqualTo(new[] { Vip, Server }), "refused through the VIP, then at once the own address");
            Assert.That(after.Skip(2).Select(t => t.Destination), Has.All.EqualTo(Server), "the fresh reading stands");
        }

        Assert.That(changes, Has.Count.EqualTo(1), "only the first UP: the refused probe counted as no failure");
        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.ConsecutiveFailures, Is.Zero);
    }

    [Test]
    public async Task The_monitor_falls_back_to_the_own_address_and_says_so_once_per_service()
    {
        var targets = new List<ProbeTarget>();
        var logger = new ListLogger();
        var monitor = new HealthMonitor(Config(dsrProbe: true), TimeProvider.System, logger, Routes("/nonexistent/ip"),
            probeFactory: _ => new RecordingProbe(targets));
        monitor.Start();
        await Eventually(() => monitor.Snapshot.Get("owa-https", "CAS1")?.State == HealthState.Up);
        await monitor.DisposeAsync();

        lock (targets)
        {
            Assert.That(targets[0].DsrMark, Is.Zero);
        }

        Assert.That(monitor.Snapshot.Get("owa-https", "CAS1")!.LastReason, Is.EqualTo($"https /owa {ServerAddress}:443: status 200"));
        var warnings = logger.Lines(LogLevel.Warning).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.StartWith("owa-https: dsr-probe falls back to probing the own address of CAS1").And.Contain("cannot run /nonexistent/ip"));
    }

    private static ExchDsrConfig Config(bool dsrProbe)
    {
        var cas1 = new RealServerConfig { Name = "CAS1", Address = Server };
        return new ExchDsrConfig
        {
            Servers = [cas1],
            Services =
            [
                new VirtualServiceConfig
                {
                    Name = "owa-https",
                    Vip = Vip,
                    Ports = [443],
                    Members = [new ServiceMember(cas1, 1)],
                    Check = new HealthCheckConfig
                    {
                        Kind = HealthCheckKind.Https, Port = 443, Path = "/owa", DsrProbe = dsrProbe,
                        Interval = TimeSpan.FromMilliseconds(200), Timeout = TimeSpan.FromMilliseconds(100),
                    },
                },
            ],
        };
    }

    private sealed class RecordingProbe(List<ProbeTarget> targets, Func<ProbeTarget, bool>? healthy = null) : IHealthProbe
    {
        public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken)
        {
            lock (targets)
            {
                targets.Add(target);
            }

            return ValueTask.FromResult(healthy?.Invoke(target) == false ? new ProbeResult(false, "connect refused") : new ProbeResult(true, "status 200"));
        }
    }

    /// <summary>A clock that never moves, so a reading of the host's addresses never ages.</summary>
    private sealed class FrozenTime : TimeProvider
    {
        public override long GetTimestamp() => 0;
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "timed out");
            await Task.Delay(10);
        }
    }

    private static async Task AcceptForever(TcpListener listener, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                using var client = await listener.AcceptSocketAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a fresh thread that entered namespace <paramref name="ns"/>: sockets made
    /// synchronously in it belong there for life. The thread ends with the action, so no pooled thread is left inside.
    /// </summary>
    private static T InNamespace<T>(string ns, Func<T> action)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/run/netns/{ns}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns({ns}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = action();
            }
            catch (Exception ex)
            {
                error = ex;
            }
        });
        thread.Start();
        thread.Join();
        return error is null ? result : throw new InvalidOperationException($"in {ns}: {error.Message}", error);
    }

    private const int CloneNewNet = 0x40000000;

    /// <summary>https://man7.org/linux/man-pages/man2/setns.2.html</summary>
    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nstype);

    private static string Ip(params string[] arguments)
    {
        var (exitCode, output) = Run("ip", arguments);
        return exitCode == 0 ? output : throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed: {output}");
    }

    private static (int ExitCode, string Output) Run(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill(entireProcessTree: true);
        }

        process.WaitForExit();
        return (process.ExitCode, output.Result.Trim() + error.Result.Trim());
    }
}
