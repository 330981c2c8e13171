using System.Diagnostics;
using Exch.Dsr.Control;
using Exch.Dsr.Control.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exch.Dsr.Tests;

/// <summary>
/// The real <c>exch-dsr status|conns|persist|drain|disable|enable|weight|reload</c> processes against a control socket
/// server hosted by the test, with a fake cluster behind it.
/// </summary>
[TestFixture]
public sealed class ControlCommandsTests
{
    private string _directory = null!;
    private string _socket = null!;
    private FakeClusterControl _cluster = null!;
    private ControlSocketServer _server = null!;

    [SetUp]
    public async Task SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "exch-dsr-control-cli-" + Guid.NewGuid().ToString("N"));
        _socket = Path.Combine(_directory, "control.sock");
        _cluster = new FakeClusterControl();
        _server = new ControlSocketServer(new ControlSocketOptions { Path = _socket }, _cluster, NullLogger<ControlSocketServer>.Instance);
        await _server.StartAsync(CancellationToken.None);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _server.DisposeAsync();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Test]
    public async Task Status_PrintsAnIpvsadmStyleTable()
    {
        var run = await ExchDsrProcess.RunAsync("status", "--socket", _socket);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Does.StartWith("exch-dsr on eth1 (ring), up "));
            Assert.That(lines[0], Does.EndWith("configuration /etc/exch-dsr/exch-dsr.toml, loaded 2026-11-24 08:05:00 UTC"));
            Assert.That(lines[1], Does.Match(@"^Prot +VIP:Ports +Scheduler +Flags$"));
            Assert.That(lines[2], Does.Match(@"^  -> +Server +Address +State +Weight +ActiveConn +InActConn +Persist +Pkt/s +Bit/s$"));
            Assert.That(lines[3], Does.Match(@"^TCP +10\.0\.0\.100:135,7575,7576 +wlc +persistent 300 \(2 entries\) \[outlook-rpc\]$"));
            Assert.That(lines[4], Does.Match(@"^  -> +CAS1 +10\.0\.0\.11 +up +1 +12 +3 +1 +1\.3k +2\.4M$"));
            Assert.That(lines[5], Does.Match(@"^  -> +CAS2 +10\.0\.0\.12 +drained +0 +0 +1 +1 +0 +0$"));
            Assert.That(lines[6].Trim(), Is.EqualTo("health check: tcp: connection refused (3 of 3)"));
            Assert.That(lines[7], Does.Match(@"^TCP +10\.0\.0\.100:25 +lc +\[smtp\]$"));
            Assert.That(lines[^1], Is.EqualTo("Totals: forwarded 1010, dropped 3, answered 7, not ours 20, kernel dropped 0, send failures 0, connections 16 of 2097152"));
        });

        // Every column of the member lines starts at the same place.
        Assert.That(lines[4].IndexOf("10.0.0.11", StringComparison.Ordinal), Is.EqualTo(lines[5].IndexOf("10.0.0.12", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Status_Json_ParsesBackToTheClusterStatus()
    {
        var run = await ExchDsrProcess.RunAsync("status", "--socket", _socket, "--json");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        var response = ControlProtocol.DeserializeResponse(run.StandardOutput.ReplaceLineEndings(" "));
        Assert.That(response.Ok, Is.True);
        Assert.That(response.Status!.Services.Select(s => s.Name), Is.EqualTo(new[] { "outlook-rpc", "smtp" }));
        Assert.That(response.Status.Services[0].Members, Is.EqualTo(_cluster.Status.Services[0].Members));
        Assert.That(run.StandardOutput, Does.Contain("\"activeConnections\": 12"));
    }

    [Test]
    public async Task Conns_PassesTheFilters_AndPrintsAnIpvsadmLncTable()
    {
        _cluster.Connections = [_cluster.Connections[0]];
        var run = await ExchDsrProcess.RunAsync("conns", "--socket", _socket, "--service", "outlook-rpc", "--server", "CAS1", "--client", "10.0.0.0/24");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        Assert.That(_cluster.LastFilter, Is.EqualTo(new TableFilter("outlook-rpc", "CAS1", "10.0.0.0/24")));
        var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Match("^Pro +Expire +State +Client +Virtual +Server +Service$"));
        Assert.That(lines[1], Does.Match(@"^TCP +14:59 +ESTABLISHED +10\.0\.0\.5:51234 +10\.0\.0\.100:135 +CAS1 +outlook-rpc$"));
        Assert.That(lines[^1], Is.EqualTo("1 connection"));
    }

    [Test]
    public async Task Persist_PrintsItsTable_AndJsonParsesBack()
    {
        var table = await ExchDsrProcess.RunAsync("persist", "--socket", _socket, "--client", "10.0.0.6");
        var json = await ExchDsrProcess.RunAsync("persist", "--socket", _socket, "--json");

        Assert.That(table.ExitCode, Is.EqualTo(0), table.ToString());
        Assert.That(_cluster.LastFilter, Is.EqualTo(new TableFilter()), "the last call (--json) had no filter");
        var lines = table.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Match("^Service +Client +Server +Expire +Conns$"));
        Assert.That(lines[1], Does.Match(@"^outlook-rpc +10\.0\.0\.5 +CAS1 +05:00 +1$"));
        Assert.That(lines[2], Does.Match(@"^outlook-rpc +10\.0\.0\.6 +CAS2 +4:00:00 +0$"));
        Assert.That(ControlProtocol.DeserializeResponse(json.StandardOutput.ReplaceLineEndings(" ")).Persistence, Is.EqualTo(_cluster.Persistence));
    }

    [TestCase(new[] { "drain", "CAS1", "--service", "outlook-rpc" }, "Drain CAS1 outlook-rpc", "CAS1 drained in outlook-rpc")]
    [TestCase(new[] { "disable", "CAS2" }, "Disable CAS2 *", "CAS2 disabled in every service")]
    [TestCase(new[] { "enable", "CAS1" }, "Enable CAS1 *", "CAS1 enabled in every service")]
    [TestCase(new[] { "weight", "CAS2", "3", "--service", "smtp" }, "Weight CAS2 3 smtp", "CAS2 weight 3 in smtp")]
    [TestCase(new[] { "reload" }, "reload", "configuration reloaded: 4 services, 2 servers")]
    public async Task Changes_ReachTheService_AndPrintItsAnswer(string[] arguments, string call, string printed)
    {
        var run = await ExchDsrProcess.RunAsync([.. arguments, "--socket", _socket]);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        Assert.That(_cluster.Calls, Is.EqualTo(new[] { call }));
        Assert.That(run.StandardOutput.Trim(), Is.EqualTo(printed));
    }

    [Test]
    public async Task RefusedChange_ExitsOne_WithTheMessage()
    {
        var run = await ExchDsrProcess.RunAsync("drain", "CAS9", "--socket", _socket);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StandardError.Trim(), Is.EqualTo("exch-dsr: drain refused: no server 'CAS9'; servers are CAS1, CAS2"));
        Assert.That(run.StandardOutput, Is.Empty);
    }

    [Test]
    public async Task RefusedReload_PrintsEveryError()
    {
        _cluster.ReloadResult = ControlResult.Failure(
            "2 errors in '/etc/exch-dsr/exch-dsr.toml'; the running configuration stays",
            ["/etc/exch-dsr/exch-dsr.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh", "/etc/exch-dsr/exch-dsr.toml:14:1: unknown key 'persistance'"]);

        var run = await ExchDsrProcess.RunAsync("reload", "--socket", _socket);
        var json = await ExchDsrProcess.RunAsync("reload", "--socket", _socket, "--json");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StandardError.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            "exch-dsr: reload refused: 2 errors in '/etc/exch-dsr/exch-dsr.toml'; the running configuration stays",
            "/etc/exch-dsr/exch-dsr.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh",
            "/etc/exch-dsr/exch-dsr.toml:14:1: unknown key 'persistance'",
        }));
        Assert.That(json.ExitCode, Is.EqualTo(1));
        Assert.That(ControlProtocol.DeserializeResponse(json.StandardOutput.ReplaceLineEndings(" ")).Errors, Is.EqualTo(_cluster.ReloadResult.Errors));
    }

    [Test]
    public async Task Config_UsesThatFilesControlSocket()
    {
        var config = Path.Combine(_directory, "exch-dsr.toml");
        File.WriteAllText(config, $"""
            [control]
            socket = "{_socket}"

            [[server]]
            name = "CAS1"
            address = "10.0.0.11"

            [[service]]
            name = "owa"
            vip = "10.0.0.100"
            ports = [443]
            members = ["CAS1"]
            """);

        var run = await ExchDsrProcess.RunAsync("enable", "CAS1", "--config", config);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        Assert.That(_cluster.Calls, Is.EqualTo(new[] { "Enable CAS1 *" }));
    }

    [Test]
    public async Task MissingSocket_SaysTheServiceMayNotRun_ExitOne()
    {
        var missing = Path.Combine(_directory, "nothing.sock");

        var run = await ExchDsrProcess.RunAsync("status", "--socket", missing);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StandardError.Trim(), Is.EqualTo($"exch-dsr: cannot reach exch-dsr at {missing}: no such file. Is the service running? systemctl status exch-dsr"));
    }

    [Test]
    public async Task StoppedService_SaysNothingListens_ExitOne()
    {
        // A socket file nothing accepts on, as a killed service leaves behind (.NET unlinks on close unless renamed first).
        var stale = Path.Combine(_directory, "stale.sock");
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(stale + ".tmp"));
            File.Move(stale + ".tmp", stale);
        }

        var run = await ExchDsrProcess.RunAsync("drain", "CAS1", "--socket", stale);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StandardError.Trim(), Is.EqualTo($"exch-dsr: cannot reach exch-dsr at {stale}: nothing is listening on it (the service stopped without removing it). Is the service running? systemctl status exch-dsr"));
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task UserOutsideTheSocketsGroup_IsToldToUseRootOrTheGroup()
    {
        if (Environment.UserName != "root" || !File.Exists("/usr/bin/setpriv"))
        {
            Assert.Ignore("needs root and setpriv to run exch-dsr as another user");
        }

        // The socket is 0600 root; its directory must be searchable for the other user to reach it at all.
        File.SetUnixFileMode(_directory, (UnixFileMode)0b111_101_101);
        var start = new ProcessStartInfo("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", ExchDsrProcess.DllPath, "status", "--socket", _socket])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        start.Environment["DOTNET_CLI_HOME"] = "/tmp";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cancel.Token);

        Assert.That(process.ExitCode, Is.EqualTo(1), await stderr);
        Assert.That((await stderr).Trim(), Is.EqualTo(
            $"exch-dsr: cannot reach exch-dsr at {_socket}: permission denied. Run it as root (sudo exch-dsr ...) or as a member of the socket's group ([control] socket-group in the configuration)."));
    }

    [TestCase(new[] { "weight", "CAS1", "70000" }, "weight 70000 is out of range; give 0 to 65535")]
    [TestCase(new[] { "weight", "CAS1", "heavy" }, "Cannot parse argument 'heavy'")]
    [TestCase(new[] { "drain" }, "Required argument 'SERVER' missing for command: 'drain'")]
    [TestCase(new[] { "conns", "--client", "10.0.0.300" }, "--client '10.0.0.300' is neither an address nor a prefix")]
    [TestCase(new[] { "conns", "--limit", "0" }, "--limit takes a number from 1 to")]
    [TestCase(new[] { "status", "--config", "/nonexistent/exch-dsr.toml" }, "configuration file '/nonexistent/exch-dsr.toml' not found")]
    public async Task BadArguments_ExitTwo_AndAskNothing(string[] arguments, string message)
    {
        var run = await ExchDsrProcess.RunAsync(arguments.Contains("--config") ? arguments : [.. arguments, "--socket", _socket]);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain(message));
        Assert.That(_cluster.Calls, Is.Empty);
    }

    [Test]
    public async Task SocketAndConfigTogether_IsAUsageError()
    {
        var run = await ExchDsrProcess.RunAsync("status", "--socket", _socket, "--config", "x.toml");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("give either --socket or --config, not both"));
    }
}
