using System.Text.RegularExpressions;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// <c>exch-dsr run</c> as systemd runs it: NOTIFY_SOCKET names a datagram socket the test owns (standing in for
/// systemd's), INVOCATION_ID is set (so logs take journald's form), and SIGTERM stops it.
/// </summary>
[NonParallelizable]
public sealed class ServiceLabTests
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
    public void Sigterm_stops_cleanly_after_ready_then_stopping_on_the_notify_socket_with_journald_log_lines()
    {
        using var lab = DsrLab.Create();
        using var systemd = new NotifySocket(lab.LabPath("notify.sock"));
        lab.StartService(lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: true), new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = systemd.Path,
            ["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef",
        });
        Assert.That(Shell.WaitUntil(() => systemd.Messages.Count > 0, TimeSpan.FromSeconds(10)), Is.True, $"READY=1 arrived{Said(lab)}");

        // Bounded retry: a health flip at start (shutdown-sessions) may reset one connection; forwarding is what counts here.
        Assert.That(Shell.WaitUntil(() => lab.ClientGet($"https://{DsrLab.Vip}/owa", maxSeconds: 2)?.Contains("Outlook", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(6)), Is.True, Said(lab));
        int pid = lab.ForwarderPid();
        Assert.That(pid, Is.EqualTo(lab.Forwarder!.Id), "ip netns exec and env exec: the started PID is exch-dsr's");

        bool exited = lab.Forwarder.Terminate(TimeSpan.FromSeconds(15));

        var forwarder = lab.Forwarder;
        Assert.That(exited, Is.True, "exited within 15 s of SIGTERM");
        Assert.That(forwarder.ExitCode, Is.EqualTo(0), forwarder.Output);
        var messages = systemd.Messages;
        Assert.That(messages, Has.Count.EqualTo(2), string.Join(" | ", messages));
        Assert.That(messages[0], Does.StartWith("READY=1\nSTATUS=Forwarding on eth0: 3 services, 2 servers"));
        Assert.That(messages[1], Does.StartWith("STOPPING=1\n"));
        Assert.That(forwarder.Output, Does.Contain("<6>Stopped forwarding on eth0").And.Contain("<6>exch-dsr stopped").And.Contain("(stopped)"));
        Assert.That(forwarder.Output, Does.Contain("<6>status: forwarded"), "status lines go to the journal too");
        var lines = forwarder.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.All.Match(@"^<[2-7]>"), "every line carries a syslog priority and no timestamp of its own");
        Assert.That(forwarder.Output, Does.Not.Match(@"\d\d:\d\d:\d\d (info|warn|error)"));
    }

    [Test]
    public void In_a_terminal_log_lines_keep_their_timestamp_and_nothing_is_notified()
    {
        using var lab = DsrLab.Create();
        lab.StartService(lab.ConfigText("pcap", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false), new Dictionary<string, string>());

        bool exited = lab.Forwarder!.Terminate(TimeSpan.FromSeconds(15));

        Assert.That(exited, Is.True);
        Assert.That(lab.Forwarder.ExitCode, Is.EqualTo(0), lab.Forwarder.Output);
        Assert.That(lab.Forwarder.Output, Does.Match(@"\d\d:\d\d:\d\d info: Forwarding on eth0"));
        Assert.That(lab.Forwarder.Output, Does.Not.Contain("<6>"));
    }

    [Test]
    public void Runs_as_an_unprivileged_user_with_only_the_units_two_ambient_capabilities()
    {
        using var lab = DsrLab.Create();
        string run = lab.LabPath("run");
        Directory.CreateDirectory(run);
        Shell.Must("chown", "nobody:nogroup", run);
        string config = lab.ConfigText("pcap", fixedMacs: false, withSilentServer: false, httpsHealthCheck: true)
            .Replace(lab.LabPath("control.sock"), Path.Combine(run, "control.sock"));

        // What AmbientCapabilities= and CapabilityBoundingSet= in config/exch-dsr.service give the exch-dsr user.
        lab.StartService(config, new Dictionary<string, string> { ["HOME"] = run }, runAs:
        [
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "--inh-caps=-all,+net_raw,+net_admin", "--ambient-caps=-all,+net_raw,+net_admin", "--bounding-set=-all,+net_raw,+net_admin",
        ]);
        string status = File.ReadAllText($"/proc/{lab.ForwarderPid()}/status");

        Assert.That(status, Does.Match(@"Uid:\s+65534\s+65534"), "not root");
        Assert.That(status, Does.Match(@"CapEff:\s+0000000000003000"), "CAP_NET_ADMIN (12) and CAP_NET_RAW (13) only");
        Assert.That(Shell.WaitUntil(() => lab.ClientGet($"https://{DsrLab.Vip}/owa", maxSeconds: 2)?.Contains("Outlook", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(6)), Is.True, Said(lab));
        Assert.That(lab.Forwarder!.Output, Does.Contain("dsr-probe: policy routes for 2 servers"), $"the ip child inherited CAP_NET_ADMIN{Said(lab)}");
        Assert.That(File.Exists(Path.Combine(run, "control.sock")), Is.True, "the control socket in the service's own directory");
        Assert.That(lab.Forwarder.Terminate(TimeSpan.FromSeconds(15)) && lab.Forwarder.ExitCode == 0, Is.True, Said(lab));
    }

    private static string Said(DsrLab lab) => $"\n--- exch-dsr said ---\n{lab.Forwarder?.Output}";
}
