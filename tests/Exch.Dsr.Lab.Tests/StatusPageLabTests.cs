namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The status page of the real <c>exch-dsr run</c>, as an administrator on the appliance reaches it: the page and its
/// JSON list the servers, and a drain through it takes effect in the running forwarder.
/// </summary>
[NonParallelizable]
public sealed class StatusPageLabTests
{
    private const string Page = "http://127.0.0.1:8405";

    [Test]
    public void The_status_page_of_a_running_forwarder_shows_both_servers_and_drains_one()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }

        using var lab = DsrLab.Create();
        string config = lab.ConfigText("ring", fixedMacs: true, withSilentServer: false, httpsHealthCheck: false)
            .Replace("http = \"off\"", "http = \"127.0.0.1:8405\"", StringComparison.Ordinal);
        Assert.That(config, Does.Contain(Page[7..]), "the lab's configuration turned the page on");
        lab.StartForwarderWith(config, fixedMacs: true);

        // The page starts after the forwarding threads: ready once it says where it listens.
        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("status page listening", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.True, lab.Forwarder!.Output);
        string said = $"\n--- exch-dsr said ---\n{lab.Forwarder!.Output}";

        var html = DsrLab.Exec(lab.ApplianceNs, "curl", "-s", "--max-time", "5", $"{Page}/");
        var status = DsrLab.Exec(lab.ApplianceNs, "curl", "-s", "--max-time", "5", $"{Page}/api/status");
        Assert.That(html.Output, Does.Contain("<html").IgnoreCase, said);
        Assert.That(status.Output, Does.Contain("\"server\":\"CAS1\"").And.Contain("\"server\":\"CAS2\"").And.Contain("outlook-rpc"), said);

        var drain = DsrLab.Exec(lab.ApplianceNs, "curl", "-s", "--max-time", "5", "-X", "POST", "-H", "X-Exch-Dsr: 1", $"{Page}/api/servers/CAS1/drain?service=outlook-rpc");
        var refused = DsrLab.Exec(lab.ApplianceNs, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "-X", "POST", $"{Page}/api/servers/CAS2/drain");

        Assert.That(drain.Output, Does.Contain("\"ok\":true"), drain.Output + said);
        Assert.That(refused.Output, Is.EqualTo("403"), "a change without the page's header (a cross-site form post) is refused");
        string after = DsrLab.Exec(lab.ApplianceNs, "curl", "-s", "--max-time", "5", $"{Page}/api/status").Output;
        Assert.That(after, Does.Match("\"server\":\"CAS1\"[^}]*\"state\":\"drained\""), after);
        Assert.That(lab.Forwarder.Output, Does.Contain("drain CAS1"), "the forwarder logged the action");

        // New clients of outlook-rpc now all go to CAS2.
        var servers = DsrLab.ExtraClients.Take(4).Select(client => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, 135, client))).ToList();
        Assert.That(servers, Is.All.EqualTo("CAS2"), lab.Forwarder.Output);
    }
}
