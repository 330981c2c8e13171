using System.Diagnostics;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The control commands against a running forwarder in the lab: <c>exch-dsr status</c>, and drain as a CAS is patched
/// (clients with a persistence entry stay on it, new clients go to the other server) then enable.
/// </summary>
[NonParallelizable]
public sealed class ControlLabTests
{
    [SetUp]
    public void RequireRoot()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }
    }

    [Test]
    public void Status_on_a_running_forwarder_lists_every_service_with_both_servers()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring");
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ClientAddress)), Is.Not.Null, Said(lab));

        var table = lab.Control("status");
        var json = lab.ControlJson("status");

        Assert.That(table.ExitCode, Is.EqualTo(0), table.ToString());
        TestContext.Out.WriteLine(table.Output);
        var lines = table.Output.Split('\n');
        Assert.That(lines[0], Does.StartWith("exch-dsr on eth0 (ring), up "));
        Assert.That(lines, Has.Some.Match(@$"^TCP +{DsrLab.Vip.Replace(".", "\\.")}:135,7575,7576 +rr +persistent 300 \(1 entry\) \[outlook-rpc\]$"));
        foreach (var (name, address) in DsrLab.Servers)
        {
            Assert.That(lines, Has.Some.Match(@$"^  -> +{name} +{address.Replace(".", "\\.")} +up +1 "), $"{name} in the table");
        }

        Assert.That(json.Ok, Is.True);
        var status = json.Status!;
        Assert.That(status.Interface, Is.EqualTo("eth0"));
        Assert.That(status.ConfigFile, Does.EndWith("exch-dsr.toml"));
        Assert.That(status.Services.Select(s => s.Name), Is.EqualTo(new[] { "outlook-rpc", "owa-https", "http" }));
        foreach (var service in status.Services)
        {
            Assert.That(service.Members.Select(m => (m.Server, m.Address, m.State)), Is.EqualTo(DsrLab.Servers.Select(s => (s.Name, s.Address, "up"))), service.Name);
        }

        Assert.That(status.Services[0].Members.Sum(m => m.PersistenceEntries), Is.EqualTo(1), "the one client's persistence entry");
        Assert.That(status.Totals.Forwarded, Is.GreaterThan(0));
    }

    [Test]
    public void Drain_keeps_a_persistent_client_on_its_server_while_new_clients_go_elsewhere_and_enable_restores()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring");
        string? home = DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ClientAddress));
        Assert.That(home, Is.Not.Null, Said(lab));
        string other = DsrLab.Servers.Single(s => s.Name != home).Name;

        var drain = lab.Control("drain", home!, "--service", "outlook-rpc");

        Assert.That(drain.ExitCode, Is.EqualTo(0), drain.ToString());
        TestContext.Out.WriteLine(drain.Output + lab.Control("status").Output);

        // Every check below runs even when one fails, so a wrong state word does not hide what traffic did.
        using var scope = Assert.EnterMultipleScope();
        Assert.That(lab.Member("outlook-rpc", home!).Weight, Is.EqualTo(0), "a drained server's weight in use");
        Assert.That(lab.Member("outlook-rpc", home!).State, Is.EqualTo("drained"));
        Assert.That(lab.Member("owa-https", home!).State, Is.EqualTo("up"), "--service limits the drain to outlook-rpc");
        Assert.That(lab.Forwarder!.Output, Does.Contain($"drain {home} --service outlook-rpc by uid 0"), "the action is logged with who did it");

        // The client that was there keeps its server on every port of the persistence domain.
        foreach (int port in new[] { 135, 7575, 7576, 135 })
        {
            Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, port, DsrLab.ClientAddress)), Is.EqualTo(home), $"the persistent client on port {port}{Said(lab)}");
        }

        var persisted = lab.ControlJson("persist", "--service", "outlook-rpc", "--client", DsrLab.ClientAddress);
        Assert.That(persisted.Persistence!.Select(p => p.Server), Is.EqualTo(new[] { home }), "its persistence entry still points at the drained server");

        // New clients, each from its own address, all go to the other server.
        var drained = DsrLab.ExtraClients[..4];
        foreach (var client in drained)
        {
            Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, client)), Is.EqualTo(other), $"new client {client} while {home} is drained{Said(lab)}");
        }

        var enable = lab.Control("enable", home!, "--service", "outlook-rpc");

        Assert.That(enable.ExitCode, Is.EqualTo(0), enable.ToString());
        Assert.That(lab.Member("outlook-rpc", home!).State, Is.EqualTo("up"));
        Assert.That(lab.Member("outlook-rpc", home!).Weight, Is.EqualTo(1));

        // rr over two servers again: of four more new clients, some land on the re-enabled server.
        var after = DsrLab.ExtraClients[4..].Select(client => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, client))).ToArray();
        Assert.That(after, Has.Some.EqualTo(home), $"new clients after enable: {string.Join(", ", after)}{Said(lab)}");
        Assert.That(after, Has.All.Not.Null);
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, drained[0])), Is.EqualTo(other), "clients placed during the drain keep their server");
    }

    [Test]
    public void Conns_and_persist_show_a_clients_connection_and_entry_filtered_by_client()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring");
        string? home = DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 7575, DsrLab.ClientAddress));
        Assert.That(home, Is.Not.Null, Said(lab));
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ExtraClients[0])), Is.Not.Null, Said(lab));

        var conns = lab.ControlJson("conns", "--client", DsrLab.ClientAddress, "--service", "outlook-rpc");
        var table = lab.Control("conns", "--client", $"{DsrLab.ClientAddress}/32");
        var persist = lab.ControlJson("persist", "--client", DsrLab.ClientAddress, "--service", "outlook-rpc");

        Assert.That(conns.Ok, Is.True, conns.Message);
        Assert.That(conns.Connections, Is.Not.Empty, "the client's connection to 7575 is tracked");
        Assert.That(conns.Connections!.Select(c => (c.Service, c.Server, c.Vip)), Has.All.EqualTo(("outlook-rpc", home, $"{DsrLab.Vip}:7575")));
        Assert.That(conns.Connections!.Select(c => c.Client), Has.All.StartWith(DsrLab.ClientAddress + ":"));
        TestContext.Out.WriteLine(table.Output + lab.Control("persist").Output);
        Assert.That(table.Output, Does.Match(@$"(?m)^TCP +\d\d:\d\d +[A-Z_]+ +{DsrLab.ClientAddress.Replace(".", "\\.")}:\d+ +{DsrLab.Vip.Replace(".", "\\.")}:7575 +{home} +outlook-rpc$"));
        Assert.That(persist.Persistence!.Select(p => (p.Service, p.Client, p.Server)), Is.EqualTo(new[] { ("outlook-rpc", DsrLab.ClientAddress, home) }));
    }

    [Test]
    public void Reload_of_a_bad_file_prints_every_error_with_its_position_exits_1_and_keeps_forwarding()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring");
        string good = File.ReadAllText(lab.ConfigPath);
        File.WriteAllText(lab.ConfigPath, good.Replace("scheduler = \"rr\"", "scheduler = \"rrr\"", StringComparison.Ordinal));

        // --socket: the file it would read the socket from is the broken one.
        var reload = Shell.Run(TimeSpan.FromSeconds(30), Shell.DotnetHost(), Shell.ExchDsrDll(), "reload", "--socket", lab.ControlSocket);

        Assert.That(reload.ExitCode, Is.EqualTo(1), reload.ToString());
        TestContext.Out.WriteLine(reload.Errors);
        var errors = reload.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(errors[0], Does.StartWith("exch-dsr: reload refused: "));
        Assert.That(errors.Skip(1), Has.Exactly(3).Match(@$"^{lab.ConfigPath.Replace(".", "\\.")}:\d+:\d+: scheduler 'rrr' is not one of"));
        Assert.That(DsrLab.ServerIn(lab.ClientGet($"https://{DsrLab.Vip}/owa")), Is.Not.Null, $"forwarding after the refused reload{Said(lab)}");
        File.WriteAllText(lab.ConfigPath, good);
        Assert.That(lab.Control("status").ExitCode, Is.EqualTo(0));
    }

    [Test]
    public void Unknown_server_is_refused_with_exit_1_and_changes_nothing()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring");

        var drain = lab.Control("drain", "CAS7");

        Assert.That(drain.ExitCode, Is.EqualTo(1), drain.ToString());
        Assert.That(drain.Errors, Does.StartWith("exch-dsr: drain refused: "));
        Assert.That(drain.Errors, Does.Contain("CAS7"));
        Assert.That(DsrLab.Servers.Select(s => lab.Member("outlook-rpc", s.Name).State), Has.All.EqualTo("up"));
    }

    [Test]
    public void A_finished_connection_leaves_conns_and_the_counts_within_seconds_of_its_timeout_on_a_quiet_link()
    {
        using var lab = DsrLab.Create();

        // Every TCP state of outlook-rpc times out after 5 s (the table has room for 1,048,576 connections, as always).
        string config = lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        int owa = config.IndexOf("[[service]]\nname = \"owa-https\"", StringComparison.Ordinal);
        Assert.That(owa, Is.GreaterThan(0), config);
        lab.StartForwarderWith(config.Insert(owa, "[service.timeouts]\ntcp-established = \"5s\"\ntcp-syn = \"5s\"\ntcp-fin-wait = \"5s\"\ntcp-close = \"5s\"\n\n"));
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 7575, DsrLab.ClientAddress)), Is.Not.Null, Said(lab));
        var finished = Stopwatch.StartNew();
        int Tracked() => lab.ControlJson("conns", "--service", "outlook-rpc").Connections!.Count;
        int Counted() => lab.ControlJson("status").Status!.Services.Single(s => s.Name == "outlook-rpc").Members.Sum(m => m.ActiveConnections + m.InactiveConnections);
        Assert.That((Tracked(), Counted()), Is.EqualTo((1, 1)), "the finished connection is tracked until its 5 s are up");

        // From here on nothing is sent to the VIP: only the forwarding thread's receive timeouts move its clock. They
        // sweep a lap of the nearly empty table in about 5 s, so the connection goes well within 20 s of finishing (a
        // frame's reading alone, 1,024 lines ten times a second, would take minutes a lap).
        bool gone = Shell.WaitUntil(() => Tracked() == 0, TimeSpan.FromSeconds(40));
        TestContext.Out.WriteLine($"conns empty {finished.Elapsed.TotalSeconds:F1} s after the connection finished");

        Assert.That(gone, Is.True, $"still tracked after 40 s: {lab.Control("conns").Output}");
        Assert.That(finished.Elapsed, Is.LessThan(TimeSpan.FromSeconds(25)), "5 s timeout + one lap of the sweep + the polling");
        Assert.That(Counted(), Is.EqualTo(0), "the active and inactive counts lc and wlc read");
    }

    [Test]
    public void With_connections_set_to_1024_the_1025th_connection_is_dropped_and_counted_as_table_full()
    {
        using var lab = DsrLab.Create();
        string config = lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        // Every service keeps finished connections for 5 minutes (FIN_WAIT and CLOSE), however slow the run.
        const string NoCheck = "[service.check]\nkind = \"none\"";
        Assert.That(config, Does.Contain(NoCheck));
        lab.StartForwarderWith(config
            .Replace("threads = 1", "threads = 1\nconnections = 1024", StringComparison.Ordinal)
            .Replace(NoCheck, NoCheck + "\n[service.timeouts]\ntcp-fin-wait = \"300s\"\ntcp-close = \"300s\"", StringComparison.Ordinal));

        // 1,034 HTTP requests from one curl, each on a new connection the server closes: the table fills at the
        // 1,024th connection. The client's kernel may hand out a source port again once its connection closed; that
        // flow is the tracked one starting over and needs no new slot, so slots are counted by client address:port.
        // A refused SYN is retried after 1 s; curl gives up before that, and a slow answer still has 0.9 s.
        HashSet<string> ClientsTracked() => lab.ControlJson("conns").Connections!.Select(c => c.Client).ToHashSet();
        var before = ClientsTracked();
        var curl = DsrLab.Exec(lab.ClientNs, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{local_ip}:%{local_port}\n", "--connect-timeout", "0.9",
            "-H", "Connection: close", $"http://{DsrLab.Vip}/?[1-1034]");
        var results = curl.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ')).ToArray();
        var answered = results.Where(r => r[0] != "000").Select(r => r[1]).ToHashSet();
        var totals = lab.ControlJson("status").Status!.Totals;
        TestContext.Out.WriteLine($"{before.Count} connection(s) before; answers: {string.Join(", ", results.CountBy(r => r[0]).Select(p => $"{p.Value} x {p.Key}"))} " +
            $"from {answered.Count} client ports; {lab.Control("status").Output}");

        Assert.That(results, Has.Length.EqualTo(1034), curl.ToString());
        Assert.That(results.Count(r => r[0] == "000"), Is.GreaterThan(0), "connections beyond the table were refused");
        var tracked = ClientsTracked();
        var untracked = answered.Union(before).Except(tracked).ToList();
        var unanswered = tracked.Except(answered.Union(before)).ToList();
        Assert.That((untracked.Count, unanswered.Count), Is.EqualTo((0, 0)),
            $"every connection the table had room for was answered (any HTTP status), and only those are tracked: {tracked.Count} tracked, " +
            $"answered but not tracked [{string.Join(", ", untracked.Take(20))}], tracked but not answered [{string.Join(", ", unanswered.Take(20))}]; " +
            $"totals: {lab.ControlJson("status").Status!.Totals}");
        Assert.That((totals.Connections, totals.ConnectionCapacity), Is.EqualTo((1024, 1024L)), "full");
        Assert.That(totals.Dropped, Is.GreaterThanOrEqualTo(results.Count(r => r[0] == "000")), "each refused connection's SYN");
        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("connection table full", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            Is.True, $"the status line names the drop reason{Said(lab)}");
    }

    private static string Said(DsrLab lab) => $"; exch-dsr said:\n{lab.Forwarder?.Output}";
}
