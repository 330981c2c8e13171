using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Health;
using Exch.Dsr.Health.Probes;
using Exch.Dsr.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exch.Dsr.DataPlane.Tests;

/// <summary>
/// <see cref="ClusterState"/> with its real control thread, publishing to a real <see cref="ForwardingEngine"/> that the
/// test drives with real frames (the test thread plays the forwarding thread).
/// </summary>
public sealed class ClusterStateTests
{
    private const string Cas1Mac = "02:00:00:00:00:11";
    private const string Cas2Mac = "02:00:00:00:00:12";
    private const string Cas3Mac = "02:00:00:00:00:13";

    [Test]
    public async Task Drain_keeps_a_persistent_client_on_its_server_while_new_clients_go_elsewhere()
    {
        using var lab = new Bench(Config());
        string first = lab.Send("198.51.100.1", 40000, 135) ?? "nobody";

        var result = await lab.Cluster.SetAdminStateAsync(first, AdminAction.Drain, "outlook-rpc");

        Assert.That(result.Ok, Is.True, result.Message);
        Assert.That(lab.Send("198.51.100.1", 40001, 7575), Is.EqualTo(first), "the connected, persistent client stays");
        Assert.That(Enumerable.Range(2, 6).Select(i => lab.Send($"198.51.100.{i}", 40000, 135)), Has.All.Not.EqualTo(first), "new clients avoid the drained server");
        var member = lab.Cluster.Published!.Services.Single(s => s.Name == "outlook-rpc").Members.Single(m => m.Server == first);
        Assert.That(member.State.ToString(), Is.EqualTo("Drained"));
        Assert.That(member.Disposition.HasFlag(Engine.Routing.MemberDisposition.Schedulable), Is.False);
    }

    [Test]
    public async Task Disable_then_enable_server_wide_takes_the_server_out_of_every_service_and_back()
    {
        using var lab = new Bench(Config());

        var disabled = await lab.Cluster.SetAdminStateAsync("CAS1", AdminAction.Disable, null);
        var whileDisabled = Enumerable.Range(1, 6).Select(i => lab.Send($"198.51.100.{i}", 40000, (ushort)(i % 2 == 0 ? 443 : 135))).ToList();
        var enabled = await lab.Cluster.SetAdminStateAsync("CAS1", AdminAction.Enable, null);
        var afterEnable = Enumerable.Range(11, 6).Select(i => lab.Send($"198.51.100.{i}", 40000, 443)).ToList();

        Assert.That(disabled.Ok && enabled.Ok, Is.True);
        Assert.That(whileDisabled, Has.All.EqualTo("CAS2"));
        Assert.That(afterEnable, Does.Contain("CAS1"));
    }

    [Test]
    public async Task Unknown_names_are_refused_with_the_nearest_name_and_nothing_is_published()
    {
        using var lab = new Bench(Config());
        long version = lab.Cluster.Published!.Version;

        var server = await lab.Cluster.SetAdminStateAsync("cas1", AdminAction.Drain, null);
        var service = await lab.Cluster.SetWeightAsync("CAS1", 3, "outlook-rcp");
        var weight = await lab.Cluster.SetWeightAsync("CAS1", 70000, null);

        Assert.That(server.Ok, Is.False);
        Assert.That(server.Message, Is.EqualTo("no server 'cas1'; did you mean 'CAS1'?"));
        Assert.That(service.Message, Is.EqualTo("no service 'outlook-rcp'; did you mean 'outlook-rpc'?"));
        Assert.That(weight.Ok, Is.False);
        Assert.That(weight.Message, Does.Contain("0 to 65535"));
        Assert.That(lab.Cluster.Published!.Version, Is.EqualTo(version), "a refused action publishes nothing");
    }

    [Test]
    public async Task A_reload_that_adds_a_service_and_changes_another_keeps_ids_persistence_and_connections_of_the_unchanged_one()
    {
        using var lab = new Bench(Config());

        // rr gives the first client CAS1 and this one CAS2; every adopted snapshot restarts rr at CAS1, so only the
        // persistence entry can bring the client back to CAS2 after the reload.
        lab.Send("198.51.100.9", 40000, 135);
        string? persisted = lab.Send("198.51.100.1", 40000, 135);
        var before = lab.Cluster.Published!;
        var next = Config(owaCas2Weight: 3, extraService: true);

        var (result, diff) = await lab.Cluster.ApplyAsync(next);

        Assert.That(result.Ok, Is.True, result.Message);
        Assert.That(persisted, Is.EqualTo("CAS2"));
        Assert.That(diff.AddedServices, Is.EqualTo(new[] { "smtp" }));
        Assert.That(diff.ChangedServices, Is.EqualTo(new[] { "owa-https" }));
        Assert.That(diff.UnchangedServices, Is.EqualTo(new[] { "outlook-rpc" }));
        Assert.That(result.Message, Does.Contain("services +smtp ~owa-https").And.Contain("unchanged (connections and persistence kept): outlook-rpc"));
        var after = lab.Cluster.Published!;
        Assert.That(after.Services.Single(s => s.Name == "outlook-rpc").Id, Is.EqualTo(before.Services.Single(s => s.Name == "outlook-rpc").Id));
        Assert.That(after.Servers.Select(s => (s.Name, s.Id)), Is.SupersetOf(before.Servers.Select(s => (s.Name, s.Id))));
        Assert.That(lab.Send("198.51.100.1", 40000, 135, TcpFlags.Ack), Is.EqualTo("CAS2"), "the connection stays");
        Assert.That(lab.Send("198.51.100.1", 40001, 7576), Is.EqualTo("CAS2"), "the persistence entry stays");
        Assert.That(lab.Send("198.51.100.20", 40000, 25), Is.Not.Null, "the added service forwards");
        Assert.That(lab.Cluster.Config, Is.SameAs(next));
    }

    [Test]
    public async Task A_reload_that_removes_a_member_sends_its_persistent_clients_elsewhere()
    {
        using var lab = new Bench(Config());
        lab.Send("198.51.100.9", 40000, 135);
        Assert.That(lab.Send("198.51.100.1", 40000, 135), Is.EqualTo("CAS2"));
        var config = Config();
        var next = config with
        {
            Services = [.. config.Services.Select(s => s.Name == "outlook-rpc" ? s with { Members = [.. s.Members.Where(m => m.Server.Name == "CAS1")] } : s)],
        };

        var (result, _) = await lab.Cluster.ApplyAsync(next);

        Assert.That(result.Ok, Is.True, result.Message);
        Assert.That(lab.Send("198.51.100.1", 40001, 135), Is.EqualTo("CAS1"));
    }

    [Test]
    public async Task Operator_overrides_survive_a_reload_for_servers_and_services_that_still_exist()
    {
        using var lab = new Bench(Config());
        await lab.Cluster.SetAdminStateAsync("CAS1", AdminAction.Disable, "owa-https");
        await lab.Cluster.SetAdminStateAsync("CAS2", AdminAction.Drain, "outlook-rpc");
        var config = Config();

        var (removed, _) = await lab.Cluster.ApplyAsync(config with { Services = [.. config.Services.Where(s => s.Name != "outlook-rpc")] });
        var (readded, _) = await lab.Cluster.ApplyAsync(config);

        Assert.That(removed.Ok && readded.Ok, Is.True, $"{removed.Message} / {readded.Message}");
        var owa = lab.Cluster.Published!.Services.Single(s => s.Name == "owa-https");
        Assert.That(owa.Members.Single(m => m.Server == "CAS1").State.ToString(), Is.EqualTo("Disabled"), "kept: owa-https and CAS1 still exist");
        var rpc = lab.Cluster.Published!.Services.Single(s => s.Name == "outlook-rpc");
        Assert.That(rpc.Members.Single(m => m.Server == "CAS2").Weight, Is.EqualTo(1), "the drain in a removed service is forgotten");
    }

    [Test]
    public async Task With_the_pcap_backend_a_new_port_needs_a_restart_because_the_capture_filter_is_fixed()
    {
        var config = Config() with { Appliance = Config().Appliance with { Backend = CaptureBackend.Pcap } };
        using var lab = new Bench(config);

        var (result, _) = await lab.Cluster.ApplyAsync(config with { Services = [.. config.Services, Service("smtp", [25], config.Servers[0])] });
        var (weights, _) = await lab.Cluster.ApplyAsync(config with { Services = [.. config.Services.Select(s => s with { Members = [.. s.Members.Select(m => m with { Weight = 5 })] })] });

        Assert.That(result.Ok, Is.False);
        Assert.That(result.Errors, Has.One.StartsWith("the pcap backend's capture filter would change"));
        Assert.That(weights.Ok, Is.True, "weights do not touch the filter");
    }

    [Test]
    public async Task Changes_that_need_a_restart_are_refused_and_the_running_configuration_stays()
    {
        using var lab = new Bench(Config());
        var config = Config();
        var version = lab.Cluster.Published!.Version;
        var cas3 = TestConfigs.Server("CAS3", "192.0.2.13", Cas3Mac);
        var next = config with
        {
            Appliance = config.Appliance with { Interface = "eth7", Threads = 4, Connections = 2_000_000 },
            Servers = [.. config.Servers, cas3],
            Services = [.. config.Services, Service("smtp", [25], cas3)],
        };

        var (result, diff) = await lab.Cluster.ApplyAsync(next);

        Assert.That(result.Ok, Is.False);
        Assert.That(result.Message, Does.StartWith("the running configuration is kept: 3 changes need a restart"));
        Assert.That(result.Errors, Has.Some.EqualTo("interface changed from eth1 to eth7"));
        Assert.That(result.Errors, Has.Some.EqualTo("threads changed from 1 to 4"));
        Assert.That(result.Errors, Has.Some.EqualTo("connections changed from 1048576 to 2000000"));
        Assert.That(lab.Cluster.Config, Is.SameAs(lab.Initial));
        Assert.That(lab.Cluster.Published!.Version, Is.EqualTo(version));
        Assert.That(diff.RestartNeeded, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task A_reload_adds_an_auto_server_which_is_asked_for_at_once_and_takes_clients_when_it_answers()
    {
        using var lab = new Bench(Config());
        var config = Config();
        var cas3 = TestConfigs.Server("CAS3", "192.0.2.13");
        var next = config with
        {
            Servers = [.. config.Servers, cas3],
            Services = [.. config.Services, Service("smtp", [25], cas3)],
        };
        var requestsBefore = lab.ResolutionRequests;

        var (result, diff) = await lab.Cluster.ApplyAsync(next);

        Assert.That(result.Ok, Is.True, result.Message);
        Assert.That(diff.AddedServers, Is.EqualTo(new[] { "CAS3" }));
        Assert.That(lab.ResolutionRequests, Is.GreaterThan(requestsBefore), "asked for at once");
        Assert.That(lab.Neighbours.ArpTargets.ToArray(), Does.Contain(IpAddress128.Parse("192.0.2.13")));
        Assert.That(lab.Send("198.51.100.7", 40000, 25), Is.Null, "no MAC yet: smtp has no server");
        Assert.That(lab.Send("198.51.100.7", 40001, 443), Is.Not.Null, "the other services forward on");

        lab.Neighbours.Observe(IpAddress128.Parse("192.0.2.13"), MacAddress.Parse(Cas3Mac));

        Assert.That(SpinWait.SpinUntil(() => lab.Cluster.Published!.Servers.Any(s => s.Name == "CAS3"), TimeSpan.FromSeconds(5)), Is.True, "in the snapshot once it answered");
        Assert.That(lab.Send("198.51.100.8", 40000, 25), Is.EqualTo("CAS3"));
    }

    [Test]
    public async Task A_reload_that_restarts_the_health_monitor_keeps_an_unchanged_checks_down_state_until_it_probes_again()
    {
        var probe = new SwitchProbe();
        var config = Config(owaCheck: true);
        using var lab = new Bench(config, probe);
        await lab.Cluster.StartHealthAsync();
        Assert.That(SpinWait.SpinUntil(() => lab.Cluster.HealthOf("owa-https", "CAS1")?.State == HealthState.Down, TimeSpan.FromSeconds(5)), Is.True);
        Assert.That(SpinWait.SpinUntil(() => lab.Cluster.Published!.Services.Single(s => s.Name == "owa-https").Members.Single(m => m.Server == "CAS1").State.ToString() == "Down", TimeSpan.FromSeconds(5)), Is.True);
        probe.Hang = true;

        // A new checked service restarts the monitor; owa-https's check is unchanged.
        var withCheck = Config(owaCheck: true, extraService: true);
        var next = withCheck with
        {
            Services = [.. withCheck.Services.Select(s => s.Name == "smtp" ? s with { Check = new HealthCheckConfig { Kind = HealthCheckKind.Tcp, Port = 25 } } : s)],
        };
        var (result, diff) = await lab.Cluster.ApplyAsync(next);

        Assert.That(result.Ok, Is.True, result.Message);
        Assert.That(diff.HealthChecksChanged, Is.True);
        Assert.That(lab.Cluster.HealthOf("owa-https", "CAS1")?.State, Is.EqualTo(HealthState.Down), "carried over: the new monitor has not probed it yet");
        Assert.That(lab.Cluster.Published!.Services.Single(s => s.Name == "owa-https").Members.Single(m => m.Server == "CAS1").State.ToString(), Is.EqualTo("Down"));
        Assert.That(lab.Cluster.HealthOf("smtp", "CAS1")?.State, Is.EqualTo(HealthState.Unknown), "a new check starts unknown");
        await lab.Cluster.StopHealthAsync();
    }

    [Test]
    public async Task After_a_reload_a_server_that_was_down_still_needs_rise_successes()
    {
        // Probes every 50 ms: the old monitor cannot reach 20 successes in the moment the reload takes.
        const int Rise = 20;
        var probe = new SwitchProbe();
        using var lab = new Bench(Config(owaCheck: true, owaRise: Rise), probe);
        await lab.Cluster.StartHealthAsync();
        Assert.That(SpinWait.SpinUntil(() => lab.Cluster.HealthOf("owa-https", "CAS1")?.State == HealthState.Down, TimeSpan.FromSeconds(5)), Is.True);

        var withCheck = Config(owaCheck: true, owaRise: Rise, extraService: true);
        var next = withCheck with
        {
            Services = [.. withCheck.Services.Select(s => s.Name == "smtp" ? s with { Check = new HealthCheckConfig { Kind = HealthCheckKind.Tcp, Port = 25 } } : s)],
        };
        probe.Healthy = true;
        var (result, diff) = await lab.Cluster.ApplyAsync(next);
        Assert.That((result.Ok, diff.HealthChecksChanged), Is.EqualTo((true, true)), result.Message);

        // The new monitor's successes count on from the carried Down state; alone, its first would have decided Up.
        ServerHealth? first = null;
        Assert.That(SpinWait.SpinUntil(() => (first = lab.Cluster.HealthOf("owa-https", "CAS1")) is { ConsecutiveSuccesses: > 0 }, TimeSpan.FromSeconds(5)), Is.True);
        Assert.That(first!.State, Is.EqualTo(HealthState.Down), "a success after the reload does not bring the server up on its own");
        Assert.That(first.ConsecutiveSuccesses, Is.LessThan(Rise));
        Assert.That(SpinWait.SpinUntil(() => lab.Cluster.HealthOf("owa-https", "CAS1")?.State == HealthState.Up, TimeSpan.FromSeconds(5)), Is.True, "up after rise successes");
        Assert.That(lab.Cluster.HealthOf("owa-https", "CAS1")!.ConsecutiveSuccesses, Is.GreaterThanOrEqualTo(Rise));
        await lab.Cluster.StopHealthAsync();
    }

    private static ExchDsrConfig Config(int owaCas2Weight = 1, bool extraService = false, bool owaCheck = false, int owaRise = 1)
    {
        var cas1 = TestConfigs.Server("CAS1", "192.0.2.11", Cas1Mac);
        var cas2 = TestConfigs.Server("CAS2", "192.0.2.12", Cas2Mac);
        var owa = Service("owa-https", [443], cas1, cas2) with { Members = [new ServiceMember(cas1, 1), new ServiceMember(cas2, owaCas2Weight)] };
        if (owaCheck)
        {
            owa = owa with { Check = new HealthCheckConfig { Kind = HealthCheckKind.Tcp, Port = 443, Interval = TimeSpan.FromMilliseconds(50), Rise = owaRise, Fall = 1 } };
        }

        IReadOnlyList<VirtualServiceConfig> services = [Service("outlook-rpc", [135, 7575, 7576], cas1, cas2), owa];
        return new ExchDsrConfig
        {
            Appliance = new ApplianceConfig { Interface = "eth1", OwnVips = true, Threads = 1, Backend = CaptureBackend.Ring },
            Servers = [cas1, cas2],
            Services = extraService ? [.. services, Service("smtp", [25], cas1, cas2) with { Scheduler = SchedulerKind.LeastConnection, Persistence = null }] : services,
        };
    }

    private static VirtualServiceConfig Service(string name, int[] ports, params RealServerConfig[] members) => new()
    {
        Name = name,
        Vip = IPAddress.Parse(TestConfigs.Vip),
        Ports = ports,
        Scheduler = SchedulerKind.RoundRobin,
        Persistence = new PersistenceConfig { Timeout = TimeSpan.FromSeconds(300), PrefixLength = 32, TableSize = 1024 },
        Members = [.. members.Select(m => new ServiceMember(m, 1))],
    };

    /// <summary>A cluster state publishing to one engine; the test thread forwards frames through it.</summary>
    private sealed class Bench : IDisposable
    {
        private readonly ForwardingEngine _engine = new(TestAddresses.Appliance, new ForwardingEngineOptions { ConnectionCapacity = 4096 });
        private long _now = 1_000_000_000;
        private int _resolutionRequests;

        public Bench(ExchDsrConfig config, IHealthProbe? probe = null)
        {
            Initial = config;
            Neighbours = new NeighbourTable(config.Servers);
            Cluster = new ClusterState(config, Neighbours, [_engine], new DataPlaneOptions(), NullLoggerFactory.Instance, () => Interlocked.Increment(ref _resolutionRequests), probeFactory: probe is null ? null : _ => probe);
            Cluster.Start();
        }

        public ClusterState Cluster { get; }

        public NeighbourTable Neighbours { get; }

        public int ResolutionRequests => Volatile.Read(ref _resolutionRequests);

        public ExchDsrConfig Initial { get; }

        /// <summary>One frame from a client to the VIP (a SYN unless told); the server it was sent to, or null when not forwarded.</summary>
        public string? Send(string client, ushort clientPort, ushort port, TcpFlags flags = TcpFlags.Syn)
        {
            var frame = TestFrames.Tcp(client, clientPort, TestConfigs.Vip, port, flags);
            _now += 1_000_000;
            var verdict = _engine.Process(frame, _now, out _);
            if (verdict != ForwardVerdict.Forwarded)
            {
                return null;
            }

            var mac = MacAddress.Read(frame).ToString();
            return mac == Cas1Mac ? "CAS1" : mac == Cas2Mac ? "CAS2" : mac == Cas3Mac ? "CAS3" : mac;
        }

        public void Dispose() => Cluster.Dispose();
    }

    /// <summary>Fails every probe at once, or, once <see cref="Hang"/> is set, never answers (until cancelled).</summary>
    private sealed class SwitchProbe : IHealthProbe
    {
        public volatile bool Hang;
        public volatile bool Healthy;

        public async ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken)
        {
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return Healthy ? new ProbeResult(true, "connected") : new ProbeResult(false, "refused");
        }
    }
}
