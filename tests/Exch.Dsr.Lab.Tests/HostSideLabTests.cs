namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// <c>own-vips = false</c>: the VIP is on the appliance host's interface (keepalived or the administrator put it
/// there), so the host's own TCP stack sees the clients' SYNs as well as exch-dsr, and answers them with RSTs, unless
/// <c>exch-dsr host-side --apply</c> has dropped service traffic to the VIP in prerouting.
/// </summary>
[NonParallelizable]
public sealed class HostSideLabTests
{
    private const int Attempts = 20;

    [SetUp]
    public void Require()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets, nftables)");
        }

        if (!Shell.Run("sh", "-c", "command -v nft || test -x /usr/sbin/nft").Succeeded)
        {
            Assert.Ignore("needs nft (Debian package nftables; tests/run.sh should install it)");
        }
    }

    [TestCase("ring")]
    [TestCase("pcap")]
    public void With_the_host_side_applied_the_host_never_resets_and_every_connection_works(string backend)
    {
        using var lab = DsrLab.Create();
        Shell.Must("ip", "-n", lab.ApplianceNs, "address", "add", $"{DsrLab.Vip}/32", "dev", "eth0"); // the admin's VIP
        File.WriteAllText(lab.ConfigPath, OwnVipsFalse(lab, backend));
        var applied = lab.HostSide("--apply");
        Assert.That(applied.Succeeded, Is.True, applied.ToString());
        Assert.That(applied.Output, Does.Contain($"{DsrLab.Vip} was already on eth0."));

        lab.StartForwarderWith(OwnVipsFalse(lab, backend));
        long resetsBefore = lab.ApplianceTcpResetsSent();
        int worked = Enumerable.Range(0, Attempts).Count(_ => DsrLab.ServerIn(lab.ClientGet($"http://{DsrLab.Vip}/owa", maxSeconds: 3)) is not null);
        long resetsWith = lab.ApplianceTcpResetsSent() - resetsBefore;

        var removed = lab.HostSide("--remove");
        Assert.That(removed.Succeeded, Is.True, removed.ToString());
        resetsBefore = lab.ApplianceTcpResetsSent();
        int workedWithout = Enumerable.Range(0, Attempts).Count(_ => DsrLab.ServerIn(lab.ClientGet($"http://{DsrLab.Vip}/owa", maxSeconds: 3)) is not null);
        long resetsWithout = lab.ApplianceTcpResetsSent() - resetsBefore;

        TestContext.Out.WriteLine($"{backend}: with the rule {worked}/{Attempts} pages, {resetsWith} RSTs from the appliance host; without it {workedWithout}/{Attempts} pages, {resetsWithout} RSTs");
        Assert.That(worked, Is.EqualTo(Attempts), "with the rule every connection through the VIP works");
        Assert.That(resetsWith, Is.Zero, "with the rule the host stack never answers service traffic");
        Assert.That(resetsWithout, Is.GreaterThan(0), "without the rule the host stack answers the clients' SYNs with RSTs");
        Assert.That(workedWithout, Is.LessThan(Attempts), "and some connections fail for it");
        Assert.That(lab.ApplianceHolds(DsrLab.Vip), Is.True, "--remove leaves a VIP it did not add");
        Assert.That(lab.ApplianceRuleset(), Does.Not.Contain("exch_dsr"), "--remove deleted the table");
    }

    [Test]
    public void Apply_is_idempotent_adds_the_missing_vip_and_remove_takes_back_only_what_it_added()
    {
        using var lab = DsrLab.Create();
        File.WriteAllText(lab.ConfigPath, OwnVipsFalse(lab, "ring"));

        var printed = lab.HostSide();
        Assert.That(printed.Succeeded, Is.True, printed.ToString());
        Assert.That(printed.Output, Does.Contain($"ip address add {DsrLab.Vip}/32 dev eth0").And.Contain($"ip daddr {DsrLab.Vip} tcp dport {{ 80, 135, 443, 7575, 7576 }} drop"));
        Assert.That(lab.ApplianceHolds(DsrLab.Vip), Is.False, "printing changes nothing");

        var first = lab.HostSide("--apply");
        string afterFirst = lab.ApplianceRuleset();
        var second = lab.HostSide("--apply");
        Assert.That(first.Succeeded && second.Succeeded, Is.True, $"{first}\n{second}");
        Assert.That(lab.ApplianceRuleset(), Is.EqualTo(afterFirst), "a second apply leaves the same ruleset");
        Assert.That(second.Output, Does.Contain("added by an earlier host-side --apply"));
        Assert.That(lab.ApplianceHolds(DsrLab.Vip), Is.True);

        // The host, holding the VIP, answers ARP and ping for it: the client reaches the VIP's ICMP.
        Assert.That(DsrLab.Exec(lab.ClientNs, "ping", "-c", "1", "-W", "2", DsrLab.Vip).Succeeded, Is.True, "ping of the VIP answered by the host");

        var removed = lab.HostSide("--remove");
        var again = lab.HostSide("--remove");
        Assert.That(removed.Succeeded && again.Succeeded, Is.True, $"{removed}\n{again}");
        Assert.That(lab.ApplianceHolds(DsrLab.Vip), Is.False, "the VIP it added is gone");
        Assert.That(lab.ApplianceRuleset(), Does.Not.Contain("exch_dsr"));
        Assert.That(again.Output, Does.Contain("nothing to remove"));
    }

    [Test]
    public void Rule_only_installs_the_drop_rule_and_never_a_vip_so_keepalived_keeps_the_vip_on_one_appliance()
    {
        using var lab = DsrLab.Create();
        File.WriteAllText(lab.ConfigPath, OwnVipsFalse(lab, "ring"));

        var printed = lab.HostSide("--rule-only");
        var applied = lab.HostSide("--apply", "--rule-only");
        string ruleset = lab.ApplianceRuleset();
        var refused = lab.HostSide("--remove", "--rule-only");
        var removed = lab.HostSide("--remove");

        Assert.That(printed.Output, Does.Contain($"ip daddr {DsrLab.Vip} tcp dport {{ 80, 135, 443, 7575, 7576 }} drop")
            .And.Contain("The VIPs are left to keepalived").And.Not.Contain("ip address add"), printed.ToString());
        Assert.That(applied.Succeeded, Is.True, applied.ToString());
        Assert.That(applied.Output, Does.Contain($"{DsrLab.Vip} is not on eth0: left to keepalived (--rule-only)."));
        Assert.That(ruleset, Does.Contain("table inet exch_dsr").And.Contain($"ip daddr {DsrLab.Vip} tcp dport {{ 80, 135, 443, 7575, 7576 }} drop"));
        Assert.That(lab.ApplianceHolds(DsrLab.Vip), Is.False, "the VIP is keepalived's to add, on the active appliance only");
        Assert.That(refused.ExitCode, Is.EqualTo(2), refused.ToString());
        Assert.That(refused.Errors, Does.Contain("--rule-only goes with --apply"));
        Assert.That(removed.Succeeded, Is.True, removed.ToString());
        Assert.That(lab.ApplianceRuleset(), Does.Not.Contain("exch_dsr"));
    }

    private static string OwnVipsFalse(DsrLab lab, string backend) =>
        lab.ConfigText(backend, fixedMacs: false, withSilentServer: false, httpsHealthCheck: false).Replace("own-vips = true", "own-vips = false", StringComparison.Ordinal);
}
