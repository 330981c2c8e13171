using System.Runtime.Versioning;

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

    [Test]
    [SupportedOSPlatform("linux")]
    public void Over_https_with_a_password_the_page_answers_the_management_network_and_a_drain_takes_effect()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }

        using var lab = DsrLab.Create();
        var directory = Path.GetDirectoryName(lab.ConfigPath)!;
        string certificate = Path.Combine(directory, "status.pem"), key = Path.Combine(directory, "status.key"), password = Path.Combine(directory, "admin.password");
        var made = Shell.Run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=exch-dsr-lab", "-addext", $"subjectAltName=IP:{DsrLab.ApplianceAddress}", "-keyout", key, "-out", certificate);
        Assert.That(made.ExitCode, Is.Zero, made.ToString());
        File.WriteAllText(password, "Lab pass 7\n");
        File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var page = $"https://{DsrLab.ApplianceAddress}:8405";
        string config = lab.ConfigText("ring", fixedMacs: true, withSilentServer: false, httpsHealthCheck: false)
            .Replace("http = \"off\"", $"http = \"{DsrLab.ApplianceAddress}:8405\"\nadmin-password-file = \"{password}\"\nhttp-certificate = \"{certificate}\"\nhttp-certificate-key = \"{key}\"", StringComparison.Ordinal);
        Assert.That(config, Does.Contain("http-certificate"), "the lab's configuration turned the page on");
        lab.StartForwarderWith(config, fixedMacs: true);
        Assert.That(Shell.WaitUntil(() => lab.Forwarder!.Output.Contains("status page listening", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), Is.True, lab.Forwarder!.Output);
        string Said() => $"\n--- exch-dsr said ---\n{lab.Forwarder!.Output}";
        Assert.That(lab.Forwarder.Output, Does.Contain($"status page listening on {page}/").And.Contain("status page certificate CN=exch-dsr-lab"), Said());

        // From the client's network, as an administrator's browser on the management network.
        CommandResult Curl(params string[] arguments) => DsrLab.Exec(lab.ClientNs, "curl", ["-s", "--max-time", "5", .. arguments]);
        var status = Curl("--cacert", certificate, $"{page}/api/status");
        var untrusted = Curl("-o", "/dev/null", $"{page}/api/status");
        var plain = Curl("-o", "/dev/null", "-w", "%{http_code}", $"http://{DsrLab.ApplianceAddress}:8405/api/status");
        var anonymous = Curl("--cacert", certificate, "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "X-Exch-Dsr: 1", $"{page}/api/servers/CAS1/drain?service=outlook-rpc");
        var drain = Curl("--cacert", certificate, "-u", "admin:Lab pass 7", "-X", "POST", "-H", "X-Exch-Dsr: 1", $"{page}/api/servers/CAS1/drain?service=outlook-rpc");

        Assert.That(status.Output, Does.Contain("\"server\":\"CAS1\"").And.Contain("\"server\":\"CAS2\""), status + Said());
        Assert.That(untrusted.ExitCode, Is.EqualTo(60), "curl checks the certificate: it is the configured one, self-signed, so not trusted without --cacert");
        Assert.That(plain.Output, Is.EqualTo("000"), "no plain HTTP answer on the TLS port, so no password can be sent in the clear");
        Assert.That(anonymous.Output, Is.EqualTo("401"), "a change needs the admin password");
        Assert.That(drain.Output, Does.Contain("\"ok\":true"), drain + Said());
        string after = Curl("--cacert", certificate, $"{page}/api/status").Output;
        Assert.That(after, Does.Match("\"server\":\"CAS1\"[^}]*\"state\":\"drained\""), after);
        Assert.That(lab.Forwarder.Output, Does.Contain("drain CAS1").And.Contain("by admin from 10.203.7.10"), "the forwarder logged the action and who made it");

        // Renewing the certificate and changing the password: the files rewritten in place, then exch-dsr reload.
        string oldCertificate = Path.Combine(directory, "old.pem");
        File.Copy(certificate, oldCertificate);
        var renewed = Shell.Run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=exch-dsr-lab-renewed", "-addext", $"subjectAltName=IP:{DsrLab.ApplianceAddress}", "-keyout", key, "-out", certificate);
        Assert.That(renewed.ExitCode, Is.Zero, renewed.ToString());
        File.WriteAllText(password, "Lab pass 8\n");
        var reload = lab.Control("reload");
        Assert.That(reload.ExitCode, Is.Zero, reload.ToString());

        var withOld = Curl("--cacert", oldCertificate, "-o", "/dev/null", $"{page}/api/status");
        var withRenewed = Curl("--cacert", certificate, $"{page}/api/status");
        var oldPassword = Curl("--cacert", certificate, "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:Lab pass 7", "-X", "POST", "-H", "X-Exch-Dsr: 1", $"{page}/api/servers/CAS1/enable?service=outlook-rpc");
        var newPassword = Curl("--cacert", certificate, "-u", "admin:Lab pass 8", "-X", "POST", "-H", "X-Exch-Dsr: 1", $"{page}/api/servers/CAS1/enable?service=outlook-rpc");
        Assert.That(withOld.ExitCode, Is.EqualTo(60), $"the renewed certificate is served: the old one no longer verifies it{Said()}");
        Assert.That(withRenewed.Output, Does.Contain("\"server\":\"CAS1\""), withRenewed + Said());
        Assert.That(oldPassword.Output, Is.EqualTo("401"), "the old password no longer works");
        Assert.That(newPassword.Output, Does.Contain("\"ok\":true"), newPassword + Said());
        Assert.That(lab.Forwarder.Output, Does.Contain("status page certificate CN=exch-dsr-lab-renewed").And.Contain($"admin-password-file {password} read again"));
    }
}
