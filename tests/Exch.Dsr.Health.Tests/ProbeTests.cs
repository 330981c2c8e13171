using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Exch.Dsr.Configuration;
using Exch.Dsr.Health.Probes;

namespace Exch.Dsr.Health.Tests;

[CancelAfter(10_000)]
public sealed class ProbeTests
{
    private static readonly IPAddress Vip = IPAddress.Parse("192.0.2.10");

    private static ProbeTarget At(int port) => new(IPAddress.Loopback, port, Vip);

    private static HealthCheckConfig Check(HealthCheckKind kind, int port, TimeSpan? timeout = null) => new()
    {
        Kind = kind,
        Port = port,
        Timeout = timeout ?? TimeSpan.FromSeconds(2),
    };

    private static ValueTask<ProbeResult> ProbeAsync(HealthCheckConfig check) =>
        HealthProbes.Create(check).ProbeAsync(At(check.Port), CancellationToken.None);

    /// <summary>A loopback port with nothing listening: bound then released.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Test]
    public async Task Tcp_is_healthy_when_accepted()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        Assert.That(await ProbeAsync(Check(HealthCheckKind.Tcp, server.Port)), Is.EqualTo(new ProbeResult(true, "connected")));
    }

    [Test]
    public async Task Tcp_fails_when_refused()
    {
        Assert.That(await ProbeAsync(Check(HealthCheckKind.Tcp, ClosedPort())), Is.EqualTo(new ProbeResult(false, "connect refused")));
    }

    [Test]
    public async Task SendExpect_matches_the_reply_to_what_was_sent()
    {
        await using var server = FakeServer.Start(FakeServer.Expecting("PING\r\n", "+PONG\r\n"));
        var check = Check(HealthCheckKind.SendExpect, server.Port) with { Send = "PING\r\n", Expect = "PONG" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "reply has 'PONG'")));
    }

    [Test]
    public async Task SendExpect_fails_when_the_reply_lacks_expect_and_the_server_closes()
    {
        await using var server = FakeServer.Start(async (stream, ct) =>
            await stream.WriteAsync("-ERR nope\r\n"u8.ToArray(), ct));
        var check = Check(HealthCheckKind.SendExpect, server.Port) with { Send = "PING\r\n", Expect = "PONG" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "reply lacks 'PONG'")));
    }

    [Test]
    public async Task SendExpect_with_nothing_to_send_or_expect_only_connects()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        var check = Check(HealthCheckKind.SendExpect, server.Port) with { Send = "", Expect = "" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "connected")));
    }

    [Test]
    public async Task SendExpect_with_empty_expect_needs_some_reply()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        var check = Check(HealthCheckKind.SendExpect, server.Port, TimeSpan.FromMilliseconds(300)) with { Send = "HELLO\r\n", Expect = "" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "no reply after 300ms")));
    }

    [Test]
    public async Task A_hung_server_fails_by_timeout_and_does_not_hold_the_probe()
    {
        await using var server = FakeServer.Start(FakeServer.Hang);
        var check = Check(HealthCheckKind.SendExpect, server.Port, TimeSpan.FromMilliseconds(500)) with { Send = "PING\r\n", Expect = "PONG" };
        var clock = Stopwatch.StartNew();
        var result = await ProbeAsync(check);
        Assert.Multiple(() =>
        {
            Assert.That(result, Is.EqualTo(new ProbeResult(false, "no reply after 500ms")));
            Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(450)).And.LessThan(TimeSpan.FromMilliseconds(1500)));
        });
    }

    [Test]
    public async Task Http_checks_status_sends_host_header_and_reads_the_body()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (200, "<title>Outlook</title>", null), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/owa", Host = "mail.example.test", Expect = "utlook" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "status 200")));
        Assert.That(requests, Is.EqualTo(new[] { ("/owa", "mail.example.test") }));
    }

    [Test]
    public async Task Http_fails_on_a_bad_status()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (500, "oops", null), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "status 500")));
    }

    [Test]
    public async Task Http_honours_an_explicit_status()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (204, "", null), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/", Status = 200 };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "status 204")));
    }

    [Test]
    public async Task Http_fails_when_the_body_lacks_expect()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (200, "IIS default page", null), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/", Expect = "utlook" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "body lacks 'utlook'")));
    }

    private static (int, string, string?) Owa(string path, string logonPage) => path switch
    {
        "/owa" => (302, "", "https://mail.example.test/owa/auth/logon.aspx?url=x"),
        "/owa/auth/logon.aspx?url=x" => (200, logonPage, null),
        _ => (404, "not found", null),
    };

    [Test]
    public async Task Https_accepts_a_self_signed_certificate_and_follows_the_owa_redirect()
    {
        var requests = new List<(string Path, string Host)>();
        await using var https = FakeServer.Start(FakeServer.Http(p => Owa(p, "<title>Outlook Web App</title>"), requests), tls: true);
        var check = Check(HealthCheckKind.Https, https.Port) with { Path = "/owa", Host = "mail.example.test", Expect = "utlook" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "status 200")));
        Assert.That(requests.Select(r => r.Path), Is.EqualTo(new[] { "/owa", "/owa/auth/logon.aspx?url=x" }));
    }

    [Test]
    public async Task Https_fails_when_the_redirected_page_lacks_expect()
    {
        var requests = new List<(string Path, string Host)>();
        await using var https = FakeServer.Start(FakeServer.Http(p => Owa(p, "Service Unavailable"), requests), tls: true);
        var check = Check(HealthCheckKind.Https, https.Port) with { Path = "/owa", Host = "mail.example.test", Expect = "utlook" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "body lacks 'utlook'")));
    }

    [Test]
    public async Task Http_does_not_follow_a_redirect_to_another_server()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (302, "", "http://elsewhere.example.test/"), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/", Host = "mail.example.test" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "status 302")));
        Assert.That(requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Http_stops_a_redirect_loop()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(_ => (302, "", "/again"), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "more than 5 redirects")));
        Assert.That(requests, Has.Count.EqualTo(6));
    }

    [Test]
    public async Task Smtp_is_healthy_on_a_220_greeting_and_says_quit()
    {
        await using var greeter = FakeServer.Start(async (stream, ct) =>
        {
            await stream.WriteAsync("220-cas1.example.test Microsoft ESMTP\r\n220 ready\r\n"u8.ToArray(), ct);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, ct);
            if (System.Text.Encoding.ASCII.GetString(buffer, 0, read) != "QUIT\r\n")
            {
                throw new InvalidOperationException("expected QUIT");
            }
        });
        var result = await ProbeAsync(Check(HealthCheckKind.Smtp, greeter.Port));
        Assert.That(result, Is.EqualTo(new ProbeResult(true, "banner '220-cas1.example.test Microsoft ESMTP'")));
    }

    [Test]
    public async Task Smtp_accepts_a_bare_220_greeting_without_waiting_for_more()
    {
        await using var server = FakeServer.Start(FakeServer.Banner("220\r\n"));
        Assert.That(await ProbeAsync(Check(HealthCheckKind.Smtp, server.Port)), Is.EqualTo(new ProbeResult(true, "banner '220'")));
    }

    [Test]
    public async Task Http_resolves_a_relative_redirect_against_the_current_path()
    {
        var requests = new List<(string Path, string Host)>();
        await using var http = FakeServer.Start(FakeServer.Http(p => p == "/owa/" ? (302, "", "auth/logon.aspx") : (200, "Outlook", null), requests));
        var check = Check(HealthCheckKind.Http, http.Port) with { Path = "/owa/", Expect = "utlook" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "status 200")));
        Assert.That(requests.Select(r => r.Path), Is.EqualTo(new[] { "/owa/", "/owa/auth/logon.aspx" }));
        Assert.That(requests.Select(r => r.Host).Distinct(), Is.EqualTo(new[] { "127.0.0.1" }), "Host defaults to the probed address");
    }

    [Test]
    public async Task Smtp_fails_on_a_421_greeting()
    {
        await using var server = FakeServer.Start(FakeServer.Banner("421 busy\r\n"));
        Assert.That(await ProbeAsync(Check(HealthCheckKind.Smtp, server.Port)),
            Is.EqualTo(new ProbeResult(false, "banner '421 busy' is not 220")));
    }

    [Test]
    public async Task Smtp_looks_for_expect_in_the_greeting()
    {
        await using var server = FakeServer.Start(FakeServer.Banner("220 postfix ready\r\n"));
        var check = Check(HealthCheckKind.Smtp, server.Port) with { Expect = "Microsoft" };
        Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "banner lacks 'Microsoft'")));
    }

    private static string Script(string body)
    {
        var path = Path.Combine(Path.GetTempPath(), $"exch-dsr-health-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, body);
        return path;
    }

    [Test]
    public async Task Exec_substitutes_host_port_and_vip_into_separate_arguments()
    {
        var script = Script("[ \"$1\" = 127.0.0.1 ] && [ \"$2\" = 'port 4242' ] && [ \"$3\" = 192.0.2.10 ] && exit 0\nexit 3\n");
        try
        {
            var good = Check(HealthCheckKind.Exec, 4242) with { Program = $"/bin/sh {script} %h 'port %p' \"%v\"" };
            var bad = Check(HealthCheckKind.Exec, 4243) with { Program = $"/bin/sh {script} %h 'port %p' %v" };
            Assert.That(await ProbeAsync(good), Is.EqualTo(new ProbeResult(true, "exit code 0")));
            Assert.That(await ProbeAsync(bad), Is.EqualTo(new ProbeResult(false, "exit code 3")));
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Test]
    public async Task Exec_kills_the_process_tree_on_timeout()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"exch-dsr-health-{Guid.NewGuid():N}.marker");
        // The child sleeps then writes the marker: it exists afterwards only if the tree survived the kill.
        var script = Script($"(sleep 1; touch {marker}) &\nsleep 5\n");
        try
        {
            var check = Check(HealthCheckKind.Exec, 1, TimeSpan.FromMilliseconds(300)) with { Program = $"/bin/sh {script}" };
            var clock = Stopwatch.StartNew();
            var result = await ProbeAsync(check);
            Assert.That(result, Is.EqualTo(new ProbeResult(false, "timed out after 300ms")));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(1000)));
            await Task.Delay(1500);
            Assert.That(File.Exists(marker), Is.False, "the background child outlived the kill");
        }
        finally
        {
            File.Delete(script);
            File.Delete(marker);
        }
    }

    [Test]
    public async Task Exec_with_expect_is_judged_on_its_output_not_its_exit_code()
    {
        // The Piranha OWA script's shape: the answer is what it prints.
        var script = Script("[ \"$1\" = 127.0.0.1 ] && echo OK && exit 1\necho FAILED\n");
        try
        {
            var check = Check(HealthCheckKind.Exec, 443) with { Program = $"/bin/sh {script} %h %p", Expect = "OK" };
            Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(true, "output has 'OK'")));
            var other = HealthProbes.Create(check with { Expect = "UP" });
            Assert.That(await other.ProbeAsync(At(443), CancellationToken.None), Is.EqualTo(new ProbeResult(false, "output lacks 'UP' (exit code 1)")));
            var elsewhere = await HealthProbes.Create(check).ProbeAsync(new ProbeTarget(IPAddress.Parse("127.0.0.2"), 443, Vip), CancellationToken.None);
            Assert.That(elsewhere, Is.EqualTo(new ProbeResult(false, "output lacks 'OK' (exit code 0)")), "exit code 0 does not count when expect is set");
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Test]
    public async Task Exec_output_is_read_bounded_and_a_chatty_program_does_not_block()
    {
        // 4 MiB before the answer: far more than a pipe holds and than is kept, so OK falls outside what is matched.
        var script = Script("head -c 4194304 /dev/zero | tr '\\0' x\necho OK\n");
        try
        {
            var check = Check(HealthCheckKind.Exec, 1, TimeSpan.FromSeconds(5)) with { Program = $"/bin/sh {script}", Expect = "OK" };
            var clock = Stopwatch.StartNew();
            Assert.That(await ProbeAsync(check), Is.EqualTo(new ProbeResult(false, "output lacks 'OK' (exit code 0)")));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(4)), "the program ran to its end instead of blocking on a full pipe");
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Test]
    public async Task Exec_reports_a_program_that_cannot_start()
    {
        var check = Check(HealthCheckKind.Exec, 1) with { Program = "/nonexistent/exch-dsr-check" };
        var result = await ProbeAsync(check);
        Assert.That(result.Healthy, Is.False);
        Assert.That(result.Detail, Does.StartWith("cannot start"));
    }

    [TestCase("/bin/check %h", new[] { "/bin/check", "%h" })]
    [TestCase("  /bin/check   'a b'  \"c \\\" d\" e'f'g ", new[] { "/bin/check", "a b", "c \" d", "efg" })]
    [TestCase("/bin/check ''", new[] { "/bin/check", "" })]
    public void Exec_splits_the_command_line_without_a_shell(string commandLine, string[] expected)
    {
        Assert.That(ExecProbe.Split(commandLine), Is.EqualTo(expected));
    }
}
