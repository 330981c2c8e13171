using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exch.Dsr.DataPlane.Tests;

/// <summary>
/// <see cref="ClusterControl"/> over a real engine that the test drives with real frames; the "forwarding thread"
/// runs table reads inline, on the test thread that also forwards.
/// </summary>
public sealed class ClusterControlTests
{
    private const string Rpc = "outlook-rpc";

    [Test]
    public async Task Status_shows_per_member_counters_connections_and_persistence_entries()
    {
        await using var bench = new Bench();
        bench.Send("198.51.100.1", 40000, 135, TcpFlags.Syn);
        bench.Send("198.51.100.1", 40000, 135, TcpFlags.Ack);
        bench.Send("198.51.100.2", 40000, 135, TcpFlags.Syn);
        bench.Send("198.51.100.1", 40001, 7575, TcpFlags.Syn);

        var status = await bench.Control.ReadStatusAsync(CancellationToken.None);

        var rpc = status.Services.Single(s => s.Name == Rpc);
        Assert.That(rpc.Ports, Is.EqualTo("135,7575,7576"));
        Assert.That(rpc.Scheduler, Is.EqualTo("rr"));
        Assert.That(rpc.PersistenceEntries, Is.EqualTo(2));
        var cas1 = rpc.Members.Single(m => m.Server == "CAS1");
        var cas2 = rpc.Members.Single(m => m.Server == "CAS2");
        Assert.That((cas1.Packets, cas2.Packets), Is.EqualTo((3L, 1L)), "client 1 (three frames) on CAS1, client 2 on CAS2");
        Assert.That(cas1.ActiveConnections, Is.EqualTo(1), "the acknowledged connection is established");
        Assert.That(cas1.InactiveConnections, Is.EqualTo(1), "the other one is still in SYN_RECV");
        Assert.That((cas1.PersistenceEntries, cas2.PersistenceEntries), Is.EqualTo((1, 1)));
        Assert.That(cas1.State, Is.EqualTo("up"));
        Assert.That(cas1.Mac, Is.EqualTo("02:00:00:00:00:11"));
        Assert.That(cas1.Bytes, Is.GreaterThan(0));
        Assert.That(status.Backend, Is.EqualTo("ring"));
    }

    [Test]
    public async Task A_drained_member_shows_weight_0_and_state_drained()
    {
        await using var bench = new Bench();

        await bench.Control.SetAdminStateAsync("CAS2", AdminAction.Drain, null, CancellationToken.None);
        var status = await bench.Control.ReadStatusAsync(CancellationToken.None);

        var cas2 = status.Services.Single(s => s.Name == Rpc).Members.Single(m => m.Server == "CAS2");
        Assert.That((cas2.State, cas2.Weight), Is.EqualTo(("drained", 0)));
    }

    [Test]
    public async Task Connections_and_persistence_filter_by_service_server_and_client_prefix_within_the_limit()
    {
        await using var bench = new Bench();
        for (int i = 1; i <= 6; i++)
        {
            bench.Send($"198.51.100.{i}", 40000, 135, TcpFlags.Syn);
        }

        bench.Send("203.0.113.5", 40000, 443, TcpFlags.Syn);

        var all = await bench.Control.ListConnectionsAsync(new TableFilter(), CancellationToken.None);
        var byPrefix = await bench.Control.ListConnectionsAsync(new TableFilter(Client: "198.51.100.0/24", Server: "CAS1"), CancellationToken.None);
        var limited = await bench.Control.ListConnectionsAsync(new TableFilter(Service: Rpc, Limit: 2), CancellationToken.None);
        var persisted = await bench.Control.ListPersistenceAsync(new TableFilter(Client: "198.51.100.3"), CancellationToken.None);

        Assert.That(all, Has.Count.EqualTo(7));
        Assert.That(byPrefix.Select(c => c.Client), Is.EqualTo(new[] { "198.51.100.1:40000", "198.51.100.3:40000", "198.51.100.5:40000" }));
        Assert.That(byPrefix.Select(c => (c.Protocol, c.State, c.Vip, c.Service)), Has.All.EqualTo(("tcp", "SYN_RECV", $"{TestConfigs.Vip}:135", Rpc)));
        Assert.That(limited, Has.Count.EqualTo(2));
        Assert.That(persisted.Select(p => (p.Service, p.Client, p.Server, p.Connections)), Is.EqualTo(new[] { (Rpc, "198.51.100.3", "CAS1", 1) }));
        Assert.That(persisted[0].Expires, Is.GreaterThan(TimeSpan.FromSeconds(200)));
    }

    [Test]
    public void A_filter_with_an_unknown_name_or_a_bad_client_is_an_error_not_an_empty_table()
    {
        var bench = new Bench();

        Assert.That(() => bench.Control.ListConnectionsAsync(new TableFilter(Service: "outlook-rcp"), CancellationToken.None),
            Throws.ArgumentException.With.Message.StartsWith("no service 'outlook-rcp'; did you mean 'outlook-rpc'?"));
        Assert.That(() => bench.Control.ListPersistenceAsync(new TableFilter(Client: "198.51.100"), CancellationToken.None),
            Throws.ArgumentException.With.Message.StartsWith("client '198.51.100' is neither an address nor a CIDR prefix"));
        bench.DisposeAsync().AsTask().Wait();
    }

    [Test]
    public async Task A_reload_with_errors_returns_every_error_and_keeps_the_running_configuration()
    {
        string file = Path.Combine(Path.GetTempPath(), $"exch-dsr-reload-{Guid.NewGuid():N}.toml");
        File.WriteAllText(file, "[appliance]\ninterface = \"eth1\"\nthreads = 1\nbakend = \"ring\"\n\n[[server]]\nname = \"CAS1\"\naddress = \"192.0.2.11\"\nweight = -4\n");
        try
        {
            await using var bench = new Bench(() => ConfigurationLoad.FromFile(file));
            var before = bench.Cluster.Published!.Version;

            var result = await bench.Control.ReloadAsync(CancellationToken.None);

            Assert.That(result.Ok, Is.False);
            Assert.That(result.Message, Does.EndWith("; the running configuration is kept"));
            Assert.That(result.Errors, Has.Count.GreaterThanOrEqualTo(2));
            Assert.That(result.Errors, Has.Some.Contains($"{file}:4:1:").And.Some.Contains("bakend"));
            Assert.That(bench.Cluster.Published!.Version, Is.EqualTo(before));
            Assert.That(bench.Cluster.Config.Services.Select(s => s.Name), Does.Contain(Rpc));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private sealed class Bench : IAsyncDisposable
    {
        private readonly ForwardingEngine _engine = new(TestAddresses.Appliance, new ForwardingEngineOptions { ConnectionCapacity = 4096 });
        public Bench(Func<ConfigurationLoad>? load = null)
        {
            var cas1 = TestConfigs.Server("CAS1", "192.0.2.11", "02:00:00:00:00:11");
            var cas2 = TestConfigs.Server("CAS2", "192.0.2.12", "02:00:00:00:00:12");
            VirtualServiceConfig Service(string name, int[] ports) => new()
            {
                Name = name,
                Vip = IPAddress.Parse(TestConfigs.Vip),
                Ports = ports,
                Scheduler = SchedulerKind.RoundRobin,
                Persistence = new PersistenceConfig { Timeout = TimeSpan.FromSeconds(300), PrefixLength = 32, TableSize = 1024 },
                Members = [new ServiceMember(cas1, 1), new ServiceMember(cas2, 1)],
            };
            var config = new ExchDsrConfig
            {
                Appliance = new ApplianceConfig { Interface = "eth1", Threads = 1, Backend = CaptureBackend.Ring },
                Servers = [cas1, cas2],
                Services = [Service(Rpc, [135, 7575, 7576]), Service("owa-https", [443])],
            };
            Cluster = new ClusterState(config, new NeighbourTable(config.Servers), [_engine], new DataPlaneOptions(), NullLoggerFactory.Instance, () => { });
            Cluster.Start();
            Control = new ClusterControl(Cluster, [new InlineThread(_engine)], () => new DataPlaneStatus(0, 0, 0, 0, 0, 0, 0), "test.toml", load ?? (() => new ConfigurationLoad(config, [])), NullLogger.Instance);
        }

        public ClusterState Cluster { get; }

        public ClusterControl Control { get; }

        public void Send(string client, ushort clientPort, ushort port, TcpFlags flags)
        {
            // The forwarding thread's clock, which the listings' "expires" is computed against.
            long now = (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1e9 / System.Diagnostics.Stopwatch.Frequency));
            _engine.Process(TestFrames.Tcp(client, clientPort, TestConfigs.Vip, port, flags), now, out _);
        }

        public async ValueTask DisposeAsync()
        {
            await Control.DisposeAsync();
            Cluster.Dispose();
        }
    }

    private sealed class InlineThread(ForwardingEngine engine) : IForwardingThread
    {
        public ForwardingEngine Engine => engine;

        public Task<T> InvokeAsync<T>(Func<ForwardingEngine, T> read) => Task.FromResult(read(engine));
    }
}
