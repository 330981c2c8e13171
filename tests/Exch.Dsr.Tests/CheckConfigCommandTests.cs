namespace Exch.Dsr.Tests;

public sealed class CheckConfigCommandTests
{
    private string _directory = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "exch-dsr-check-config-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Default_configuration_passes_and_is_summarised()
    {
        var run = await ExchDsrProcess.RunAsync(["check-config", "config/exch-dsr.toml"], workingDirectory: ExchDsrProcess.RepositoryRoot());

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.StandardError, Is.Empty);
        Assert.That(run.StandardOutput, Does.StartWith("config/exch-dsr.toml: valid; 2 servers, 4 services."));
        Assert.That(run.StandardOutput, Does.Contain("Service outlook-rpc: 192.0.2.10 tcp ports 135, 7575, 7576"));
        Assert.That(run.StandardOutput, Does.Contain("Service owa-https: 192.0.2.10 tcp port 443"));
        Assert.That(run.StandardOutput, Does.Contain("Service http-redirect: 192.0.2.10 tcp port 80"));
        Assert.That(run.StandardOutput, Does.Contain("Service smtp: 192.0.2.10 tcp port 25"));
        Assert.That(run.StandardOutput, Does.Contain("4h idle, clients by /32 (255.255.255.255)"));
        Assert.That(run.StandardOutput, Does.Contain("https GET /owa on port 443, status 2xx or 3xx, body contains \"utlook\""));
        Assert.That(run.StandardOutput, Does.Contain("lc (least connections)"));
        Assert.That(run.StandardOutput, Does.Contain("CAS1 (192.0.2.11, weight 1), CAS2 (192.0.2.12, weight 1)"));
        Assert.That(run.StandardOutput, Does.Match(@"connections +1,048,576 per forwarding thread \(tables of 160 MiB for IPv4 flows and 144 MiB for IPv6 flows each, taken as flows arrive\)"));
        Assert.That(run.StandardOutput, Does.Match(@"\n  http +http://127\.0\.0\.1:8405/\n"));
        Assert.That(run.StandardOutput, Does.Not.Contain("certificate"));
        Assert.That(run.StandardOutput, Does.Not.Contain("\u001b["), "no colour codes when redirected");
    }

    [Test]
    public async Task Haproxy_layout_passes_and_is_summarised()
    {
        var path = Path.Combine(ExchDsrProcess.RepositoryRoot(), "config", "exch-dsr-haproxy-layout.toml");
        var run = await ExchDsrProcess.RunAsync("check-config", path);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.StandardOutput, Does.Contain("Service outlook-rpc: 192.0.2.20 tcp ports 135, 60200, 60201"));
        Assert.That(run.StandardOutput, Does.Contain("Service web: 192.0.2.20 tcp ports 80, 443"));
        Assert.That(run.StandardOutput, Does.Contain("Service smtp: 192.0.2.20 tcp port 25"));
        Assert.That(run.StandardOutput, Does.Contain("shutdown-sessions"));
        Assert.That(run.StandardOutput, Does.Contain("every 2s, timeout 1s, up after 2, down after 3"));
    }

    [Test]
    public async Task Environment_variable_overrides_the_file_and_a_bad_one_is_reported_as_coming_from_there()
    {
        var overridden = await ExchDsrProcess.RunAsync(
            ["check-config", "config/exch-dsr.toml"],
            workingDirectory: ExchDsrProcess.RepositoryRoot(),
            environment: new Dictionary<string, string?> { ["EXCHDSR_service__3__scheduler"] = "mh" });

        Assert.That(overridden.ExitCode, Is.Zero, overridden.ToString());
        Assert.That(overridden.StandardOutput, Does.Contain("Service smtp: 192.0.2.10 tcp port 25"));
        Assert.That(overridden.StandardOutput, Does.Contain("mh (Maglev"));
        Assert.That(overridden.StandardOutput, Does.Not.Contain("lc (least connections)"), "smtp's lc was replaced");

        var ring = await ExchDsrProcess.RunAsync(
            ["check-config", "config/exch-dsr.toml"],
            workingDirectory: ExchDsrProcess.RepositoryRoot(),
            environment: new Dictionary<string, string?> { ["EXCHDSR_appliance__backend"] = "ring", ["EXCHDSR_appliance__threads"] = "2", ["EXCHDSR_appliance__connections"] = "4096" });

        Assert.That(ring.ExitCode, Is.Zero, ring.ToString());
        Assert.That(ring.StandardOutput, Does.Contain("ring (AF_PACKET").And.Contain("frame (TPACKET_V2").And.Match(@"threads +2"));
        Assert.That(ring.StandardOutput, Does.Match(@"connections +4,096 per forwarding thread \(tables of 640 KiB for IPv4 flows and 576 KiB for IPv6 flows each, taken as flows arrive\)"));

        var bad = await ExchDsrProcess.RunAsync(
            ["check-config", "config/exch-dsr.toml"],
            workingDirectory: ExchDsrProcess.RepositoryRoot(),
            environment: new Dictionary<string, string?> { ["EXCHDSR_service__3__scheduler"] = "rrr" });

        Assert.That(bad.ExitCode, Is.EqualTo(2), bad.ToString());
        Assert.That(bad.StandardError, Does.Contain("EXCHDSR_service__3__scheduler").And.Contain("scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh"));
    }

    [Test]
    public async Task A_certificate_makes_the_status_page_https_and_is_named()
    {
        var path = Path.Combine(_directory, "https.toml");
        var text = await File.ReadAllTextAsync(Path.Combine(ExchDsrProcess.RepositoryRoot(), "config", "exch-dsr.toml"));
        await File.WriteAllTextAsync(path, text.Replace("[control]\n", "[control]\nhttp-certificate = \"/etc/exch-dsr/status.pem\"\nhttp-certificate-key = \"/etc/exch-dsr/status.key\"\n", StringComparison.Ordinal));

        var run = await ExchDsrProcess.RunAsync("check-config", path);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.StandardOutput, Does.Match(@"\n  http +https://127\.0\.0\.1:8405/\n"));
        Assert.That(run.StandardOutput, Does.Match(@"\n  certificate +/etc/exch-dsr/status\.pem \(key /etc/exch-dsr/status\.key\), read at start and on every reload\n"));
    }

    [Test]
    public async Task Broken_file_lists_every_error_with_its_position_and_exits_2()
    {
        var path = Path.Combine(_directory, "broken.toml");
        await File.WriteAllTextAsync(path, """
            [[server]]
            name = "CAS1"
            address = "10.0.0.11"

            [[service]]
            name = "owa"
            vip = "10.0.0.10"
            ports = [443]
            scheduler = "rrr"
            schedular = "rr"
            persistence = 300
            members = ["CAS1", "CAS2"]
            """);

        var run = await ExchDsrProcess.RunAsync("check-config", path);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardOutput, Is.Empty, "nothing is summarised for a broken file");
        Assert.That(run.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            $"{path}:9:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh",
            $"{path}:10:1: unknown key 'schedular' in [[service]] 'owa'; did you mean 'scheduler'?",
            $"{path}:11:15: persistence: duration '300' needs a unit: ms, s, m, h or d (write persistence = \"300s\")",
            $"{path}:12:20: members names server 'CAS2', which no [[server]] defines; defined servers: CAS1",
            $"exch-dsr: 4 errors in '{path}'; nothing was changed",
        }));
    }

    [Test]
    public async Task Toml_syntax_error_is_positioned_and_exits_2()
    {
        var path = Path.Combine(_directory, "syntax.toml");
        await File.WriteAllTextAsync(path, "[[server]]\nname = \"CAS1\nweight = 1\n");

        var run = await ExchDsrProcess.RunAsync("check-config", path);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Match($"^{System.Text.RegularExpressions.Regex.Escape(path)}:2:\\d+: "));
    }

    [Test]
    public async Task Missing_file_is_a_clear_usage_error()
    {
        var run = await ExchDsrProcess.RunAsync(["check-config", "nope.toml"], workingDirectory: _directory);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardOutput, Is.Empty);
        Assert.That(run.StandardError.Trim(), Is.EqualTo($"exch-dsr: configuration file 'nope.toml' not found (looked for {Path.Combine(_directory, "nope.toml")})"));
    }

    [Test]
    public async Task Directory_instead_of_a_file_is_a_usage_error()
    {
        var run = await ExchDsrProcess.RunAsync("check-config", _directory);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("is a directory; give the configuration file itself"));
    }

    [Test]
    public async Task Missing_argument_is_a_usage_error()
    {
        var run = await ExchDsrProcess.RunAsync("check-config");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("Run 'exch-dsr --help' for usage."));
    }
}
