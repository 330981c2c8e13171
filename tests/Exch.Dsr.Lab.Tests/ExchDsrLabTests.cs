using System.Text.RegularExpressions;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The real <c>exch-dsr run</c> balancing a client's traffic over two real servers in a namespace lab, once per
/// capture backend: what an administrator would check by hand with curl, ping and ip.
/// </summary>
[TestFixture("pcap")]
[TestFixture("ring")]
[NonParallelizable]
public sealed class ExchDsrLabTests(string backend)
{
    private DsrLab _lab = null!;

    [OneTimeSetUp]
    public void BuildLab()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }

        _lab = DsrLab.Create();
        _lab.StartForwarder(backend, withSilentServer: true);
    }

    [OneTimeTearDown]
    public void TearDownLab()
    {
        if (_lab is not null)
        {
            // What exch-dsr logged, for whoever reads the test output after a failure.
            TestContext.Progress.WriteLine($"--- exch-dsr ({backend}) said ---\n{_lab.Forwarder?.Output}");
            _lab.Dispose();
        }
    }

    [Test]
    public void Https_page_loads_through_the_vip_with_curl()
    {
        string? page = _lab.ClientGet($"https://{DsrLab.Vip}/owa");

        Assert.That(page, Does.Contain("Outlook"), Said());
        Assert.That(DsrLab.ServerIn(page), Is.Not.Null, "the page names the server that sent it");
    }

    [Test]
    public void Replies_go_from_the_server_to_the_client_without_passing_the_appliance()
    {
        long rxBefore = _lab.ApplianceCounter("rx_bytes");
        var download = DsrLab.Exec(_lab.ClientNs, "curl", "-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{size_download}", $"http://{DsrLab.Vip}/big.bin");
        long rxAfter = _lab.ApplianceCounter("rx_bytes");

        Assert.That(download.Succeeded, Is.True, download.ToString());
        Assert.That(long.Parse(download.Output.Trim()), Is.EqualTo(1 << 20), "the whole 1 MiB file arrived");
        Assert.That(rxAfter - rxBefore, Is.LessThan((1 << 20) / 4), "the appliance received the requests and ACKs, not the 1 MiB reply");
    }

    [Test]
    public void One_client_stays_on_one_server_across_the_rpc_ports_and_on_https_within_its_timeout()
    {
        var rpc = new List<string?>();
        var https = new List<string?>();
        for (int round = 0; round < 2; round++)
        {
            rpc.Add(_lab.ClientTcp(DsrLab.Vip, 135));
            rpc.Add(_lab.ClientTcp(DsrLab.Vip, 7575));
            rpc.Add(_lab.ClientTcp(DsrLab.Vip, 7576));
            https.Add(DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa")));
            https.Add(DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa")));
        }

        Assert.That(rpc.Concat(https), Has.All.Not.Null, $"every connection was answered: {string.Join(", ", rpc.Concat(https))}{Said()}");
        Assert.That(rpc.Distinct().Count(), Is.EqualTo(1), $"one server answered all of 135, 7575, 7576 (one persistence domain): {string.Join(", ", rpc)}");
        Assert.That(https.Distinct().Count(), Is.EqualTo(1), $"one server answered every https connection: {string.Join(", ", https)}");
    }

    [Test]
    public void Several_clients_spread_over_both_servers_and_each_stays_on_its_own()
    {
        var servers = new Dictionary<string, string?>();
        foreach (string client in DsrLab.ExtraClients)
        {
            string? first = _lab.ClientTcp(DsrLab.Vip, 135, client);
            string? again = _lab.ClientTcp(DsrLab.Vip, 7576, client);
            Assert.That(first, Is.Not.Null, $"{client} got an answer on 135{Said()}");
            Assert.That(again, Is.EqualTo(first), $"{client} stayed on {first} for 7576");
            servers[client] = first;
        }

        Assert.That(servers.Values.Distinct().Order(), Is.EqualTo(new[] { "CAS1", "CAS2" }), string.Join(", ", servers.Select(kv => $"{kv.Key} -> {kv.Value}")));
    }

    [Test]
    public void Arp_and_ping_for_the_vip_are_answered_by_the_appliance()
    {
        Shell.Must("ip", "-n", _lab.ClientNs, "neigh", "flush", "dev", "eth0");

        var ping = DsrLab.Exec(_lab.ClientNs, "ping", "-c", "1", "-W", "2", DsrLab.Vip);
        var neighbour = DsrLab.Exec(_lab.ClientNs, "ip", "neigh", "show", DsrLab.Vip, "dev", "eth0");

        Assert.That(ping.Succeeded, Is.True, ping + Said());
        Assert.That(ping.Output, Does.Contain($"from {DsrLab.Vip}"));
        Assert.That(neighbour.Output, Does.Contain($"lladdr {_lab.ApplianceMac}"), "the client reaches the VIP at the appliance's MAC");
    }

    [Test]
    public void A_member_that_never_answers_arp_is_kept_out_and_the_log_says_so()
    {
        var (name, address) = DsrLab.SilentServer;
        var answers = DsrLab.ExtraClients.Select(client => _lab.ClientTcp(DsrLab.Vip, 7575, client)).ToList();

        Assert.That(_lab.Forwarder!.Output, Does.Contain($"Server {name} ({address}) has no known MAC yet and is kept out of the routing snapshot"));
        Assert.That(_lab.Forwarder.Output, Does.Not.Contain($"Server {name} ({address}) is at"));
        Assert.That(answers, Has.All.AnyOf("CAS1", "CAS2"), $"every client was served by a live server: {string.Join(", ", answers)}{Said()}");
    }

    private string Said() => $"\n--- exch-dsr said ---\n{_lab.Forwarder?.Output}";
}
