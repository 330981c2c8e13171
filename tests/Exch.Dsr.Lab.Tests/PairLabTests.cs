using System.Diagnostics;
using System.Globalization;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// An active/passive pair, as native-notes/ha-and-scale-out.md sets it up: exch-dsr on two appliances with
/// <c>own-vips = false</c> and <c>host-side --apply --rule-only</c>, keepalived (VRRP) holding the VIP on the active
/// one while its exch-dsr answers <c>exch-dsr status</c>. In the middle of a download the active appliance loses its
/// link, or its exch-dsr dies.
/// </summary>
[NonParallelizable]
public sealed class PairLabTests
{
    // 1 MiB at 150 KB/s: about 7 s, so the failover happens in the middle of it.
    private const string DownloadRate = "150k";
    private const int DownloadBytes = 1 << 20;

    [SetUp]
    public void Require()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets, nftables)");
        }

        foreach (var tool in new[] { "keepalived", "nft" })
        {
            if (!Shell.Run("sh", "-c", $"command -v {tool} || test -x /usr/sbin/{tool}").Succeeded)
            {
                Assert.Ignore($"needs {tool} (Debian packages keepalived and nftables; tests/run.sh installs them)");
            }
        }
    }

    public enum Failure
    {
        /// <summary>The active appliance's data link goes down (power, cable, kernel): it stops advertising.</summary>
        Link,

        /// <summary>exch-dsr on the active appliance is killed; the appliance and keepalived stay up.</summary>
        ExchDsr,
    }

    [TestCase("mh", true, Failure.Link, TestName = "With_mh_and_sloppy_the_standby_takes_over_within_seconds_of_a_lost_link_and_a_download_in_flight_completes")]
    [TestCase("rr", false, Failure.Link, TestName = "With_rr_and_no_sloppy_the_standby_takes_over_new_connections_but_drops_the_download_in_flight")]
    [TestCase("mh", true, Failure.ExchDsr, TestName = "When_exch_dsr_dies_on_the_active_appliance_keepalived_moves_the_vip_and_a_download_in_flight_completes")]
    public void The_active_appliance_fails(string scheduler, bool sloppy, Failure failure)
    {
        using var lab = DsrLab.Create();
        lab.AddStandby();
        // outlook-rpc gets a TCP check through the VIP (dsr-probe, on by default), so the new active's health checks
        // must keep working once keepalived puts the VIP on its own interface.
        const string NoCheck = "[service.check]\nkind = \"none\"";
        string plain = lab.ConfigText("ring", fixedMacs: true, withSilentServer: false, httpsHealthCheck: false);
        int rpc = plain.IndexOf(NoCheck, StringComparison.Ordinal);
        string config = plain
            .Remove(rpc, NoCheck.Length).Insert(rpc, "[service.check]\nkind = \"tcp\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\nrise = 2\nfall = 2")
            .Replace("own-vips = true", "own-vips = false", StringComparison.Ordinal)
            .Replace("scheduler = \"rr\"", $"scheduler = \"{scheduler}\"\nsloppy = {(sloppy ? "true" : "false")}", StringComparison.Ordinal);
        Assert.That(config, Does.Contain("[[service]]\nname = \"outlook-rpc\"").And.Contain("kind = \"tcp\""));
        Assert.That(config, Does.Contain("own-vips = false").And.Contain($"sloppy = {(sloppy ? "true" : "false")}"));
        File.WriteAllText(lab.ConfigPath, config);

        // Both appliances: the drop rule only, never the VIP (keepalived moves it), then keepalived, then exch-dsr.
        foreach (var ns in new[] { lab.ApplianceNs, lab.StandbyNs })
        {
            var applied = lab.HostSideIn(ns, "--apply", "--rule-only");
            Assert.That(applied.Succeeded, Is.True, applied.ToString());
            Assert.That(DsrLab.Holds(ns, DsrLab.Vip), Is.False, $"--rule-only added no VIP in {ns}: {applied.Output}");
        }

        // Each keepalived holds the VIP only while its own exch-dsr answers, so the order of starting does not matter:
        // whichever answers first may hold it until the active one (the higher priority) takes it.
        var activeKeepalived = lab.StartKeepalived(lab.ApplianceNs, priority: 150, lab.ControlSocket);
        var standbyKeepalived = lab.StartKeepalived(lab.StandbyNs, priority: 100, lab.ControlSocketOf(lab.StandbyNs));
        var standby = lab.StartExchDsrIn(lab.StandbyNs, config);
        lab.StartForwarderWith(config, fixedMacs: true);
        string Said() => $"\n--- active exch-dsr ---\n{lab.Forwarder!.Output}\n--- standby exch-dsr ---\n{standby.Output}"
            + $"\n--- active keepalived ---\n{activeKeepalived.Output}\n--- standby keepalived ---\n{standbyKeepalived.Output}";
        Assert.That(Shell.WaitUntil(() => DsrLab.Holds(lab.ApplianceNs, DsrLab.Vip) && !DsrLab.Holds(lab.StandbyNs, DsrLab.Vip), TimeSpan.FromSeconds(20)),
            Is.True, $"the VIP on the active appliance only{Said()}");

        // A small receive buffer, so the server cannot push the whole file ahead of the slow reader: it keeps needing
        // the client's ACKs, which cross the balancer, until the last byte.
        Shell.Must("ip", "netns", "exec", lab.ClientNs, "sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 16384 32768");
        string file = Path.Combine(Path.GetDirectoryName(lab.ConfigPath)!, "download.bin");
        using var download = Shell.Start("download", "ip", "netns", "exec", lab.ClientNs, "curl", "-s", "--limit-rate", DownloadRate,
            "--max-time", "20", "-o", file, "-w", "%{http_code} %{size_download}", $"http://{DsrLab.Vip}/big.bin");
        Thread.Sleep(1500);
        Assert.That(download.HasExited, Is.False, $"the download is still running when the active appliance fails: {(download.HasExited ? $"exit {download.ExitCode}, {download.Output}" : "")}{Said()}");

        if (failure == Failure.Link)
        {
            Shell.Must("ip", "-n", lab.ApplianceNs, "link", "set", "eth0", "down");
        }
        else
        {
            Shell.Must("kill", "-KILL", lab.Forwarder!.Id.ToString(CultureInfo.InvariantCulture));
        }

        var failover = Stopwatch.StartNew();
        // New connections from another client: the downloading client must get no persistence entry on the standby,
        // which its mid-stream ACKs would then follow, sloppy or not.
        bool served = Shell.WaitUntil(() => DsrLab.ServerIn(lab.ClientGet($"http://{DsrLab.Vip}/owa", DsrLab.ExtraClients[0], maxSeconds: 1)) is not null, TimeSpan.FromSeconds(20));
        var servedAfter = failover.Elapsed;
        Assert.That(served, Is.True, $"no new connection through the VIP within 20 s of the failure{Said()}");

        // The bridge floods frames for the dead port's MAC, and the standby's exch-dsr forwards what reaches it, so the
        // first connections may work before the VIP has moved; the clients' ARP follows keepalived's gratuitous ARP.
        Assert.That(Shell.WaitUntil(() => DsrLab.Holds(lab.StandbyNs, DsrLab.Vip), TimeSpan.FromSeconds(20)), Is.True, $"keepalived moved the VIP to the standby{Said()}");
        var tookOver = failover.Elapsed;

        Assert.That(Shell.WaitUntil(() => download.HasExited, TimeSpan.FromSeconds(40)), Is.True, "curl's own 20 s limit ended it");
        var downloaded = File.Exists(file) ? new FileInfo(file).Length : 0;
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{scheduler}, sloppy {sloppy}, {failure}: a new connection served {servedAfter.TotalSeconds:F1} s and the VIP on the standby {tookOver.TotalSeconds:F1} s after the failure; the download in flight: exit {download.ExitCode}, {download.Output.Trim()}, {downloaded} bytes"));

        Assert.That(tookOver, Is.LessThan(TimeSpan.FromSeconds(10)), "VRRP: 3 missed advertisements of 1 s, or 2 failed checks of 1 s, then gratuitous ARP");
        // Well after the checks' fall (2 × 500 ms): both servers still up on the new active, new Outlook clients served.
        Thread.Sleep(3000);
        var rpcServers = DsrLab.ExtraClients.Skip(1).Take(3).Select(client => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, client))).ToList();
        Assert.That(rpcServers, Has.None.Null, $"outlook-rpc through the new active{Said()}");
        Assert.That(standby.Output, Does.Not.Contain(" DOWN"), $"the new active's checks keep both servers up{Said()}");
        Assert.That(standby.Output, Does.Contain($"dsr-probe: the VIP {DsrLab.Vip} is an address of this host"),
            $"its probes went to the servers' own addresses once the VIP was its own (through the VIP the host's local route would take them){Said()}");

        if (sloppy)
        {
            Assert.That((download.ExitCode, download.Output.Trim(), downloaded), Is.EqualTo((0, $"200 {DownloadBytes}", (long)DownloadBytes)),
                $"the standby sent the download's ACKs on to the same server (mh picks as the active did){Said()}");
        }
        else
        {
            Assert.That(downloaded, Is.LessThan(DownloadBytes), "without sloppy the standby drops the mid-stream ACKs of a connection it never saw start");
            Assert.That(standby.Output, Does.Contain("mid-stream without state"), $"and says why{Said()}");
        }
    }
}
