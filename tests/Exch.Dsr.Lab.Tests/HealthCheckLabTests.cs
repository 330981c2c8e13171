using System.Diagnostics;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The real <c>exch-dsr run</c> judging real servers made sick in the ways a CAS gets sick. One lab and one forwarder
/// for the whole fixture, three checks on the same two servers, every 500 ms with rise = fall = 2:
/// <list type="bullet">
/// <item>owa-https (443): https GET /owa expecting "utlook", through the VIP on the DSR path (dsr-probe = true), shutdown-sessions;</item>
/// <item>http (80): a tcp check of port 443 at each server's own address (dsr-probe = false);</item>
/// <item>outlook-rpc (135, 7575, 7576): an exec check running the Piranha OWA script with %h %p, expect "OK".</item>
/// </list>
/// Each test makes one server sick, waits for the verdicts, then heals it and waits until it is back, so the next test
/// starts from all UP. pcap backend only: the checks do not depend on it.
/// </summary>
[NonParallelizable]
public sealed class HealthCheckLabTests
{
    private static readonly string[] CheckedServices = ["owa-https", "http", "outlook-rpc"];

    /// <summary>fall × interval plus one interval for the probe already under way, as the issue sets it.</summary>
    private static readonly TimeSpan TakenOutWithin = TimeSpan.FromMilliseconds(2 * 500 + 500);

    /// <summary>Slack for a shared 2-vCPU VM: probes are scheduled on the thread pool, and the log line is polled.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1.5);

    private DsrLab _lab = null!;

    [OneTimeSetUp]
    public void BuildLab()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets, policy routes)");
        }

        _lab = DsrLab.Create();

        // What a crashed run would have left: a rule of ours and a route in one of our tables.
        _lab.ApplianceIp("rule", "add", "pref", "20480", "fwmark", "0x45440007", "lookup", "20487");
        _lab.ApplianceIp("route", "add", "192.0.2.77/32", "via", DsrLab.Servers[0].Address, "dev", "eth0", "onlink", "table", "20487");

        string script = _lab.WriteLabFile("check-owa.sh", "#!/bin/sh\ncurl -sk --max-time 1 \"https://$1:$2/owa\" | grep -q utlook && echo OK\n");
        string config = _lab.ConfigText("pcap", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        config = DsrLab.WithCheck(config, "owa-https", """
            on-down = "shutdown-sessions"
            [service.check]
            kind = "https"
            path = "/owa"
            expect = "utlook"
            interval = "500ms"
            timeout = "400ms"
            rise = 2
            fall = 2
            dsr-probe = true
            """);
        config = DsrLab.WithCheck(config, "http", """
            [service.check]
            kind = "tcp"
            port = 443
            interval = "500ms"
            timeout = "400ms"
            rise = 2
            fall = 2
            dsr-probe = false
            """);
        config = DsrLab.WithCheck(config, "outlook-rpc", $"""
            [service.check]
            kind = "exec"
            program = "/bin/sh {script} %h %p"
            expect = "OK"
            port = 443
            interval = "500ms"
            timeout = "400ms"
            rise = 2
            fall = 2
            """);
        _lab.StartForwarderWith(config);
        WaitAllUp();
    }

    [OneTimeTearDown]
    public void TearDownLab()
    {
        if (_lab is not null)
        {
            TestContext.Progress.WriteLine($"--- exch-dsr (health) said ---\n{_lab.Forwarder?.Output}");
            _lab.Dispose();
        }
    }

    [Test]
    public void Dsr_routes_are_installed_at_start_and_stale_ones_of_a_crashed_run_removed()
    {
        string rules = _lab.ApplianceRules();
        Assert.Multiple(() =>
        {
            Assert.That(rules, Does.Contain("20480:\tfrom all fwmark 0x45440000 lookup 20480"), $"CAS1's rule\n{rules}");
            Assert.That(rules, Does.Contain("20480:\tfrom all fwmark 0x45440001 lookup 20481"), $"CAS2's rule\n{rules}");
            Assert.That(rules, Does.Not.Contain("0x45440007"), "the stale rule is gone");
            Assert.That(Shell.Run("ip", "-n", _lab.ApplianceNs, "route", "show", "table", "20487").Output.Trim(), Is.Empty, "the stale table is flushed");
            Assert.That(Shell.Run("ip", "-n", _lab.ApplianceNs, "route", "show", "table", "20481").Output,
                Does.Contain($"{DsrLab.Vip} via {DsrLab.Servers[1].Address} dev eth0 onlink"));
            Assert.That(_lab.Forwarder!.Output, Does.Contain("removed 1 policy rules left by an earlier run"));
            Assert.That(_lab.HealthOf("owa-https", "CAS1").Reason, Does.StartWith($"https /owa VIP {DsrLab.Vip}:443 via CAS1: status 200"));
            Assert.That(_lab.HealthOf("http", "CAS1").Reason, Does.StartWith($"tcp {DsrLab.Servers[0].Address}:443: connected"));
        });
    }

    [Test]
    [DependsOnTest(nameof(Dsr_routes_are_installed_at_start_and_stale_ones_of_a_crashed_run_removed), AllowFailure = true)]
    public void Exec_check_runs_the_piranha_owa_script_with_host_and_port()
    {
        foreach (var (name, address) in DsrLab.Servers)
        {
            Assert.That(_lab.HealthOf("outlook-rpc", name).Reason, Does.StartWith($"exec sh check-owa.sh {address}:443: output has 'OK'"), Said());
        }

        // The down side, "output lacks 'OK'" while the page is wrong, is in the utlook test below.
    }

    [Test]
    [DependsOnTest(nameof(Exec_check_runs_the_piranha_owa_script_with_host_and_port), AllowFailure = true)]
    public void Nginx_stopped_takes_a_server_out_and_started_again_brings_it_back_after_rise_successes()
    {
        string? first = DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa"));
        Assert.That(first, Is.Not.Null, $"the client got /owa through the VIP{Said()}");
        int index = Array.FindIndex(DsrLab.Servers, s => s.Name == first);
        string other = DsrLab.Servers[1 - index].Name;

        int offset = _lab.Forwarder!.Output.Length;
        _lab.StopNginx(index);
        TimeSpan down = _lab.WaitForHealth("owa-https", first!, "DOWN", offset, TimeSpan.FromSeconds(10));
        TestContext.Progress.WriteLine($"owa-https/{first} DOWN {down.TotalSeconds:0.00} s after nginx stopped");
        Assert.That(down, Is.LessThan(TakenOutWithin + Slack), $"taken out within interval × fall plus one interval{Said()}");
        Assert.That(_lab.HealthOf("owa-https", first!, offset).Reason, Is.EqualTo($"https /owa VIP {DsrLab.Vip}:443 via {first}: connect refused (2 of 2)"));

        // Its client (persistent, shutdown-sessions) is re-dispatched to the other server with its next connection.
        string? answered = null;
        Shell.WaitUntil(() => (answered = DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa", maxSeconds: 1))) is not null, TimeSpan.FromSeconds(5));
        Assert.That(answered, Is.EqualTo(other), $"the client was served by {answered ?? "nobody"}{Said()}");

        offset = _lab.Forwarder.Output.Length;
        var clock = Stopwatch.StartNew();
        _lab.StartNginx(index);
        TimeSpan serving = clock.Elapsed;
        _lab.WaitForHealth("owa-https", first!, "UP", offset, TimeSpan.FromSeconds(10));
        TimeSpan up = clock.Elapsed;
        TestContext.Progress.WriteLine($"owa-https/{first} UP {up.TotalSeconds:0.00} s after nginx was started, {serving.TotalSeconds:0.00} s of which nginx took to serve");
        Assert.That(_lab.HealthOf("owa-https", first!, offset).Reason, Does.EndWith("(2 of 2)"), "up after rise = 2 successes");
        Assert.That(up - serving, Is.LessThan(TakenOutWithin + Slack), Said());

        // New clients reach it again: round robin over fresh clients must give it some.
        var servedBy = DsrLab.ExtraClients.Select(c => DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa", c, maxSeconds: 2))).ToList();
        Assert.That(servedBy, Does.Contain(first), $"new clients were served by {string.Join(", ", servedBy)}{Said()}");
        WaitAllUp();
    }

    [Test]
    [DependsOnTest(nameof(Nginx_stopped_takes_a_server_out_and_started_again_brings_it_back_after_rise_successes), AllowFailure = true)]
    public void A_page_without_utlook_is_taken_out_by_https_and_exec_checks_and_kept_by_tcp()
    {
        const int Index = 1;
        string name = DsrLab.Servers[Index].Name;
        int offset = _lab.Forwarder!.Output.Length;
        try
        {
            _lab.SetOwaPage(Index, healthy: false);
            _lab.WaitForHealth("owa-https", name, "DOWN", offset, TimeSpan.FromSeconds(10));
            _lab.WaitForHealth("outlook-rpc", name, "DOWN", offset, TimeSpan.FromSeconds(10));

            // Port 443 still accepts: two more tcp probes must not have taken it out.
            Thread.Sleep(TakenOutWithin);
            Assert.Multiple(() =>
            {
                Assert.That(_lab.HealthOf("owa-https", name, offset).Reason, Is.EqualTo($"https /owa VIP {DsrLab.Vip}:443 via {name}: body lacks 'utlook' (2 of 2)"));
                Assert.That(_lab.HealthOf("outlook-rpc", name, offset).Reason, Is.EqualTo($"exec sh check-owa.sh {DsrLab.Servers[Index].Address}:443: output lacks 'OK' (exit code 1) (2 of 2)"));
                Assert.That(_lab.HealthOf("http", name, offset).State, Is.Null, $"the tcp check kept {name}{Said()}");
            });

            // And the http service still sends fresh clients to it.
            var servedBy = DsrLab.ExtraClients.Select(c => DsrLab.ServerIn(_lab.ClientGet($"http://{DsrLab.Vip}/owa", c, maxSeconds: 2))).ToList();
            Assert.That(servedBy, Does.Contain(name), $"http clients were served by {string.Join(", ", servedBy)}");
        }
        finally
        {
            _lab.SetOwaPage(Index, healthy: true);
        }

        _lab.WaitForHealth("owa-https", name, "UP", offset, TimeSpan.FromSeconds(10));
        _lab.WaitForHealth("outlook-rpc", name, "UP", offset, TimeSpan.FromSeconds(10));
        Assert.That(_lab.HealthOf("outlook-rpc", name, offset).Reason, Does.StartWith("exec sh check-owa.sh").And.Contain("output has 'OK' (2 of 2)"));
        WaitAllUp();
    }

    [Test]
    [DependsOnTest(nameof(A_page_without_utlook_is_taken_out_by_https_and_exec_checks_and_kept_by_tcp), AllowFailure = true)]
    public void A_server_whose_loopback_lost_the_vip_is_caught_by_the_dsr_probe_only()
    {
        const int Index = 0;
        string name = DsrLab.Servers[Index].Name;
        int offset = _lab.Forwarder!.Output.Length;
        try
        {
            _lab.SetVipOnLoopback(Index, present: false);
            TimeSpan down = _lab.WaitForHealth("owa-https", name, "DOWN", offset, TimeSpan.FromSeconds(10));
            TestContext.Progress.WriteLine($"owa-https/{name} DOWN {down.TotalSeconds:0.00} s after the VIP left its loopback");
            Thread.Sleep(TakenOutWithin);
            Assert.Multiple(() =>
            {
                Assert.That(_lab.HealthOf("owa-https", name, offset).Reason, Is.EqualTo($"https /owa VIP {DsrLab.Vip}:443 via {name}: connect timed out after 400ms (2 of 2)"));
                Assert.That(_lab.HealthOf("http", name, offset).State, Is.Null, $"the check of its own address kept {name}{Said()}");
                Assert.That(_lab.HealthOf("outlook-rpc", name, offset).State, Is.Null, $"the exec check of its own address kept {name}{Said()}");
            });

            // Clients never reach the server that would drop them: every fresh client lands on the other one.
            var servedBy = DsrLab.ExtraClients.Take(4).Select(c => DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa", c, maxSeconds: 2))).ToList();
            Assert.That(servedBy, Is.All.EqualTo(DsrLab.Servers[1 - Index].Name), Said());
        }
        finally
        {
            _lab.SetVipOnLoopback(Index, present: true);
        }

        _lab.WaitForHealth("owa-https", name, "UP", offset, TimeSpan.FromSeconds(10));
        WaitAllUp();
    }

    [Test]
    [DependsOnTest(nameof(A_server_whose_loopback_lost_the_vip_is_caught_by_the_dsr_probe_only), AllowFailure = true)]
    public void Stopping_the_forwarder_removes_its_dsr_routes()
    {
        Assert.That(_lab.Forwarder!.Terminate(TimeSpan.FromSeconds(15)), Is.True, $"exch-dsr exits on SIGTERM{Said()}");
        string rules = _lab.ApplianceRules();
        Assert.That(rules, Does.Not.Contain("20480:"), rules);
        Assert.That(Shell.Run("ip", "-n", _lab.ApplianceNs, "route", "show", "table", "20480").Output.Trim(), Is.Empty);
    }

    private void WaitAllUp()
    {
        bool up = Shell.WaitUntil(
            () => CheckedServices.All(service => DsrLab.Servers.All(s => _lab.HealthOf(service, s.Name).State == "UP")),
            TimeSpan.FromSeconds(10));
        Assert.That(up, Is.True, $"every checked service has both servers UP{Said()}");
    }

    private string Said() => $"\n--- exch-dsr said ---\n{_lab.Forwarder?.Output}";
}
