namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// Lab tests that change the lab or stop the forwarder, each in a lab of its own so no test depends on another's
/// order or leftovers.
/// </summary>
[NonParallelizable]
public sealed class ForwarderLifecycleLabTests
{
    [SetUp]
    public void RequireRoot()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }
    }

    [TestCase("pcap")]
    [TestCase("ring")]
    public void Traffic_follows_a_real_servers_new_mac_within_one_refresh(string backend)
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder(backend, neighbourRefreshSeconds: 2);
        string? before = DsrLab.ServerIn(lab.ClientGet($"https://{DsrLab.Vip}/owa"));
        Assert.That(before, Is.Not.Null, Said(lab));
        int index = Array.FindIndex(DsrLab.Servers, s => s.Name == before);
        string newMac = $"02:5e:{Random.Shared.Next(256):x2}:{Random.Shared.Next(256):x2}:{Random.Shared.Next(256):x2}:{index + 1:x2}";

        Shell.Must("ip", "-n", lab.ServerNs(index), "link", "set", "dev", "eth0", "address", newMac);
        var changedAt = DateTime.UtcNow;

        // One refresh is 2 s (--neighbour-refresh 2); allow it plus the resolver's adoption and curl's own time.
        string? after = null;
        bool followed = Shell.WaitUntil(
            () => (after = DsrLab.ServerIn(lab.ClientGet($"https://{DsrLab.Vip}/owa", maxSeconds: 1))) is not null,
            TimeSpan.FromSeconds(8));

        Assert.That(followed, Is.True, $"the VIP answered again within 8 s of {before}'s MAC change to {newMac}{Said(lab)}");
        Assert.That(after, Is.EqualTo(before), "the client stayed on its server");
        Assert.That(lab.Forwarder!.Output, Does.Contain($"Server {before} ({DsrLab.Servers[index].Address}) moved from").And.Contain(newMac));
        TestContext.Out.WriteLine($"followed after {(DateTime.UtcNow - changedAt).TotalSeconds:0.0} s");
    }

    [Test]
    public void Fixed_server_macs_forward_and_sigterm_stops_the_forwarder_with_exit_code_0()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring", fixedMacs: true);
        Assert.That(lab.ClientGet($"https://{DsrLab.Vip}/owa"), Does.Contain("Outlook"), Said(lab));
        Thread.Sleep(1500); // at least one status line after the page
        var forwarder = lab.Forwarder!;

        bool exited = forwarder.Terminate(TimeSpan.FromSeconds(10));

        Assert.That(exited, Is.True, "exited within 10 s of SIGTERM");
        Assert.That(forwarder.ExitCode, Is.EqualTo(0), forwarder.Output);
        Assert.That(forwarder.Output, Does.Match(@"status: forwarded [1-9]\d*"), "status lines count the forwarded frames");
        Assert.That(forwarder.Output, Does.Contain("Stopped forwarding on eth0").And.Contain("(stopped)"), "a last status line after the stop");
        Assert.That(forwarder.Output, Does.Not.Contain("is at"), "no server needed ARP: their MACs were configured");
    }

    [Test]
    public void After_a_restart_an_established_connections_frames_are_dropped_and_the_status_line_names_why()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarder("ring", fixedMacs: true);

        // A connection opened through the first forwarder that sends its request only after the second has started:
        // the new engine has no state for it, and without sloppy mode a frame in mid-stream is not scheduled.
        string script = $"exec 3<>/dev/tcp/{DsrLab.Vip}/80 || exit 9; sleep 4; printf 'GET /owa HTTP/1.0\\r\\n\\r\\n' >&3; timeout 3 cat <&3; exit 0";
        using var client = Shell.Start("client", "ip", "netns", "exec", lab.ClientNs, "bash", "-c", script);
        Thread.Sleep(1000);
        using (var first = lab.Forwarder!)
        {
            Assert.That(first.Terminate(TimeSpan.FromSeconds(10)), Is.True, Said(lab));
        }

        lab.StartForwarder("ring", fixedMacs: true);
        Assert.That(Shell.WaitUntil(() => client.HasExited, TimeSpan.FromSeconds(15)), Is.True, "the client gave up within its timeouts");

        Assert.That(client.Output, Does.Not.Contain("Outlook"), $"the request was not served{Said(lab)}");
        Assert.That(
            Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("(mid-stream without state ", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            Is.True,
            $"the status line names the reason for the drops{Said(lab)}");
    }

    [Test]
    public void Gro_on_the_capture_interface_stops_start_up_with_the_ethtool_remedy()
    {
        string ns = $"xdsr-gro-{Guid.NewGuid().ToString("N")[..6]}";
        string config = Path.Combine(Path.GetTempPath(), $"{ns}.toml");
        Shell.Must("ip", "netns", "add", ns);
        try
        {
            Shell.Must("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer");
            Shell.Must("ip", "-n", ns, "link", "set", "eth0", "up");
            Shell.Must("ip", "-n", ns, "link", "set", "eth0-peer", "up");
            Shell.Must("ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "gro", "on");
            File.WriteAllText(config, $"""
                [appliance]
                interface = "eth0"
                backend = "ring"
                own-vips = true
                threads = 1

                [control]
                http = "off"

                [[server]]
                name = "CAS1"
                address = "{DsrLab.Servers[0].Address}"
                mac = "auto"

                [[service]]
                name = "owa-https"
                vip = "{DsrLab.Vip}"
                ports = [443]
                [service.check]
                kind = "none"
                """);

            var run = Shell.Run(TimeSpan.FromSeconds(30), "ip", "netns", "exec", ns, Shell.DotnetHost(), Shell.ExchDsrDll(), "run", "--config", config);

            Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
            Assert.That(run.Errors, Does.Contain("start-up check 'receive offloads' failed: GRO on eth0"));
            Assert.That(run.Errors, Does.Contain("fix: ethtool -K eth0 gro off lro off"));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            File.Delete(config);
        }
    }

    private static string Said(DsrLab lab) => $"\n--- exch-dsr said ---\n{lab.Forwarder?.Output}";
}
