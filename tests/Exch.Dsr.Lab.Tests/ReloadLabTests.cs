namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// SIGHUP to the real <c>exch-dsr run</c>: a bad file leaves forwarding as it was and logs every error with its
/// position; a good one applies, and a client persisted in a service the reload did not change keeps its server; a CAS
/// added with <c>mac = "auto"</c> is resolved with ARP and takes new clients.
/// Ring backend: with pcap, adding a service on a new port needs a restart (its kernel filter is fixed at open).
/// </summary>
[NonParallelizable]
public sealed class ReloadLabTests
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
    public void A_bad_configuration_on_sighup_is_logged_error_by_error_and_forwarding_goes_on_untouched()
    {
        using var lab = DsrLab.Create();
        using var systemd = new NotifySocket(lab.LabPath("notify.sock"));
        string good = lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        lab.StartService(good, new Dictionary<string, string> { ["NOTIFY_SOCKET"] = systemd.Path });
        string? before = DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135));
        Assert.That(before, Is.Not.Null, Said(lab));
        Assert.That(Shell.WaitUntil(() => systemd.Messages.Count >= 1, TimeSpan.FromSeconds(5)), Is.True, "READY=1");

        // Two errors: a misspelt scheduler and an unknown key; the second line number is where the key is.
        string bad = good.Replace("scheduler = \"rr\"", "scheduler = \"rrr\"").Replace("own-vips = true", "own-vips = true\nbogus-key = 1");
        File.WriteAllText(lab.ConfigPath, bad);
        lab.Hangup();

        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("the running configuration is kept", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.True, Said(lab));
        var output = lab.Forwarder!.Output;
        Assert.That(output, Does.Contain("SIGHUP received: reloading the configuration"));
        Assert.That(output, Does.Match($@"Reload: {System.Text.RegularExpressions.Regex.Escape(lab.ConfigPath)}:\d+:\d+: scheduler 'rrr'"));
        int line = Array.FindIndex(bad.Split('\n'), l => l.StartsWith("bogus-key", StringComparison.Ordinal)) + 1;
        Assert.That(output, Does.Contain($"Reload: {lab.ConfigPath}:{line}:1: unknown key 'bogus-key'"));
        Assert.That(output, Does.Not.Contain("Reloaded"));
        Assert.That(lab.Forwarder.HasExited, Is.False);
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 7575)), Is.EqualTo(before), "forwarding and persistence untouched");
        Assert.That(lab.ClientGet($"https://{DsrLab.Vip}/owa"), Does.Contain("Outlook"));
        Assert.That(Shell.WaitUntil(() => systemd.Messages.Count >= 3, TimeSpan.FromSeconds(5)), Is.True, string.Join(" | ", systemd.Messages));
        Assert.That(systemd.Messages[1], Does.StartWith("RELOADING=1\nMONOTONIC_USEC="));
        Assert.That(systemd.Messages[2], Does.StartWith("READY=1\n"), "READY=1 again: it runs on with the previous configuration");
    }

    /// <summary>Started under <c>nohup</c>, as an operator might: SIGHUP arrives ignored, and must reload all the same.</summary>
    [Test]
    public void A_good_configuration_on_sighup_applies_and_a_persisted_client_of_an_unchanged_service_keeps_its_server()
    {
        using var lab = DsrLab.Create();
        string good = lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        lab.StartService(good, new Dictionary<string, string>(), runAs: ["nohup"]);
        Assert.That(lab.Forwarder!.Output, Does.Contain("SIGHUP was ignored when exch-dsr started"), Said(lab));

        // rr: another client takes the first server, so ours gets the second; every new snapshot restarts rr at the
        // first, so after the reload only its persistence entry can bring our client back to the second.
        string? other = DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ExtraClients[0]));
        string? ours = DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135));
        Assert.That(other, Is.Not.Null, Said(lab));
        Assert.That(ours, Is.Not.Null.And.Not.EqualTo(other), $"rr alternates between clients{Said(lab)}");

        string changed = good.Replace("""
            name = "http"
            vip = "10.203.7.100"
            ports = [80]
            scheduler = "rr"
            """, """
            name = "http"
            vip = "10.203.7.100"
            ports = [80]
            scheduler = "wrr"
            """) + "\n[[service]]\nname = \"smtp\"\nvip = \"10.203.7.100\"\nports = [25]\nmembers = [\"CAS1\", \"CAS2\"]\nscheduler = \"lc\"\n[service.check]\nkind = \"none\"\n";
        Assert.That(changed, Does.Contain("\"wrr\""), "the edit found the http service");
        File.WriteAllText(lab.ConfigPath, changed);
        lab.Hangup();

        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("Reloaded", StringComparison.Ordinal) || lab.Forwarder.Output.Contains("Reload refused", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.True, Said(lab));
        Assert.That(lab.Forwarder!.Output, Does.Contain("services +smtp ~http").And.Contain("unchanged (connections and persistence kept): outlook-rpc, owa-https"), Said(lab));
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 7575)), Is.EqualTo(ours), $"persistence kept across the reload{Said(lab)}");
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ExtraClients[1])), Is.EqualTo(other), "a new client starts rr over, so without persistence ours would have moved");
        Assert.That(lab.ClientGet($"https://{DsrLab.Vip}/owa"), Does.Contain("Outlook"));
        Assert.That(lab.ClientGet($"http://{DsrLab.Vip}/owa"), Does.Contain("Outlook"), "the changed service forwards");
    }

    [Test]
    public void A_cas_added_on_reload_with_an_auto_mac_is_resolved_with_arp_and_takes_new_clients()
    {
        using var lab = DsrLab.Create();
        string full = lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false);
        string cas2 = $"[[server]]\nname = \"CAS2\"\naddress = \"{DsrLab.Servers[1].Address}\"\nmac = \"auto\"\n";
        string oneCas = full.Replace(cas2, string.Empty);
        Assert.That(oneCas, Is.Not.EqualTo(full), "the edit found CAS2");

        // Services name no members, so every service has every configured server: CAS1 alone, then both.
        lab.StartForwarderWith(oneCas, fixedMacs: true);
        Assert.That(DsrLab.ExtraClients.Take(3).Select(c => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, c))), Is.All.EqualTo("CAS1"), Said(lab));

        File.WriteAllText(lab.ConfigPath, full);
        lab.Hangup();

        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("Reloaded", StringComparison.Ordinal) || lab.Forwarder.Output.Contains("Reload refused", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.True, Said(lab));
        Assert.That(lab.Forwarder!.Output, Does.Contain("servers +CAS2"), Said(lab));
        Assert.That(Shell.WaitUntil(() => lab.Forwarder.Output.Contains($"Server CAS2 ({DsrLab.Servers[1].Address}) is at", StringComparison.Ordinal), TimeSpan.FromSeconds(5)), Is.True, $"resolved after the reload{Said(lab)}");

        var after = DsrLab.ExtraClients.Skip(3).Select(c => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, c))).ToList();
        Assert.That(after, Has.Some.EqualTo("CAS2").And.All.Not.Null, $"new clients reach the added CAS{Said(lab)}");
        Assert.That(DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, DsrLab.ExtraClients[0])), Is.EqualTo("CAS1"), "a persisted client stays");
    }

    private static string Said(DsrLab lab) => $"\n--- exch-dsr said ---\n{lab.Forwarder?.Output}";
}
