using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Exch.Dsr.Control;
using Microsoft.Extensions.Logging;
using static Exch.Dsr.StatusPage.Tests.ReadTests;

namespace Exch.Dsr.StatusPage.Tests;

public sealed class AdminTests
{
    private TestServer _server = null!;

    [SetUp]
    public async Task StartAsync() => _server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [TestCase("drain", "owa-https", "Drain CAS1 owa-https", "CAS1 drained in owa-https")]
    [TestCase("disable", null, "Disable CAS1 *", "CAS1 disabled in every service")]
    [TestCase("ENABLE", "SMTP", "Enable CAS1 smtp", "CAS1 up in smtp")]
    public async Task ServerAction_ReachesTheClusterWithTheConfiguredNames(string verb, string? service, string call, string message)
    {
        var query = service is null ? "" : $"?service={service}";

        using var response = await _server.PostAsync($"api/servers/cas1/{verb}{query}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Message(response), Is.EqualTo(message));
        Assert.That(_server.Control.Calls, Does.Contain(call));
        var log = _server.Logger.Entries.Single(e => e.Level == LogLevel.Information && e.Message.Contains(" by ", StringComparison.Ordinal));
        Assert.That(log.Message, Does.Contain($"by {TestServer.User} from 127.0.0.1:").And.Contain(message));
    }

    [Test]
    public async Task Weight_ReachesTheClusterAndShowsInTheStatus()
    {
        using var response = await _server.PostAsync("api/servers/CAS2/weight?weight=5&service=owa-https");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_server.Control.Calls, Does.Contain("Weight CAS2 5 owa-https"));
        using var json = JsonDocument.Parse(await _server.Client.GetStringAsync("api/status"));
        Assert.That(json.RootElement.GetProperty("services")[0].GetProperty("members")[1].GetProperty("weight").GetInt32(), Is.EqualTo(5));
        Assert.That(json.RootElement.GetProperty("services")[1].GetProperty("members")[1].GetProperty("weight").GetInt32(), Is.EqualTo(2));
    }

    [TestCase("api/servers/CAS1/weight", HttpStatusCode.BadRequest, "give the new weight as ?weight=N (0 to 65535)")]
    [TestCase("api/servers/CAS1/weight?weight=65536", HttpStatusCode.BadRequest, "weight '65536' is not a whole number from 0 to 65535")]
    [TestCase("api/servers/CAS1/weight?weight=-1", HttpStatusCode.BadRequest, "weight '-1' is not a whole number from 0 to 65535")]
    [TestCase("api/servers/CAS1/weight?weight=3x", HttpStatusCode.BadRequest, "weight '3x' is not a whole number from 0 to 65535")]
    [TestCase("api/servers/CAS%201/drain", HttpStatusCode.BadRequest, "'CAS 1' is not a server name (1 to 64 letters, digits, '.', '_' or '-')")]
    [TestCase("api/servers/CAS1/drain?service=owa%3Bx", HttpStatusCode.BadRequest, "service 'owa;x' is not a name (1 to 64 letters, digits, '.', '_' or '-')")]
    [TestCase("api/servers/CAS1/explode", HttpStatusCode.NotFound, "no server action 'explode'; use drain, disable, enable or weight")]
    [TestCase("api/servers/CAS9/drain", HttpStatusCode.NotFound, "no server 'CAS9'; servers: CAS1, CAS2")]
    [TestCase("api/servers/CAS1/drain?service=owa", HttpStatusCode.NotFound, "no service 'owa'; services: owa-https, smtp")]
    public async Task BadRequests_AreRefusedWithTheReasonAndChangeNothing(string path, HttpStatusCode status, string message)
    {
        using var response = await _server.PostAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(await Message(response), Is.EqualTo(message));
        Assert.That(_server.Control.Calls.Where(c => c != "status"), Is.Empty);
    }

    [Test]
    public async Task Reload_ReturnsTheMessage()
    {
        using var response = await _server.PostAsync("api/reload");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Message(response), Is.EqualTo("configuration reloaded: no changes"));
        Assert.That(_server.Control.Calls, Is.EqualTo(new[] { "Reload" }));
    }

    [Test]
    public async Task Reload_RefusedByTheCluster_Is409WithEveryError()
    {
        _server.Control.ReloadResult = ControlResult.Failure("3 errors in '/etc/exch-dsr/exch-dsr.toml'; nothing was changed",
            ["exch-dsr.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh", "exch-dsr.toml:14:1: unknown key 'persistance'"]);

        using var response = await _server.PostAsync("api/reload");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(json.RootElement.GetProperty("ok").GetBoolean(), Is.False);
        Assert.That(json.RootElement.GetProperty("errors").GetArrayLength(), Is.EqualTo(2));
        Assert.That(_server.Logger.Entries.Any(e => e.Level == LogLevel.Warning && e.Message.Contains("scheduler 'rrr'", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Change_WithoutCredentials_AsksForThemAndChangesNothing()
    {
        using var response = await _server.PostAsync("api/servers/CAS1/drain", user: null, password: null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.Single().Scheme, Is.EqualTo("Basic"));
        Assert.That(await Message(response), Is.EqualTo("changes need the admin user name and password"));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [TestCase(TestServer.User, "wrong")]
    [TestCase("admin", TestServer.Password)]
    [TestCase(TestServer.User, "Corr3ct horse")]
    public async Task Change_WithWrongCredentials_IsRefusedAndLogged(string user, string password)
    {
        using var response = await _server.PostAsync("api/reload", user, password);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await Message(response), Is.EqualTo("wrong admin user name or password"));
        Assert.That(_server.Control.Calls, Is.Empty);
        Assert.That(_server.Logger.Entries.Any(e => e.Level == LogLevel.Warning && e.Message.Contains("127.0.0.1:", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Change_AfterFiveWrongPasswords_IsRefusedEvenWithTheRightOneUntilTheMinuteIsOver()
    {
        for (var i = 0; i < WrongPasswordThrottle.MaxFailures; i++)
        {
            using var wrong = await _server.PostAsync("api/reload", TestServer.User, $"guess {i}");
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"guess {i}");
        }

        using var response = await _server.PostAsync("api/reload", TestServer.User, TestServer.Password);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(await Message(response), Does.StartWith("5 wrong passwords from 127.0.0.1 within 60 s: try again in "));
        Assert.That(response.Headers.RetryAfter?.Delta?.TotalSeconds, Is.InRange(1, 60));
        Assert.That(_server.Control.Calls, Is.Empty);
        Assert.That(_server.Logger.Entries.Any(e => e.Level == LogLevel.Warning && e.Message.Contains("429", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public void Throttle_CountsPerAddressWithinAWindowAndForgetsOnSuccess()
    {
        var time = new ManualTime();
        var throttle = new WrongPasswordThrottle(time);
        var guesser = IPAddress.Parse("192.0.2.7");
        var admin = IPAddress.Parse("192.0.2.8");
        for (var i = 0; i < WrongPasswordThrottle.MaxFailures - 1; i++)
        {
            throttle.Failed(guesser);
        }

        throttle.Failed(admin);
        throttle.Succeeded(admin);
        Assert.That((throttle.Blocked(guesser), throttle.Blocked(admin)), Is.EqualTo(((TimeSpan?)null, (TimeSpan?)null)), "four failures still may try");

        time.Now += TimeSpan.FromSeconds(20);
        throttle.Failed(guesser);
        Assert.That(throttle.Blocked(guesser), Is.EqualTo(TimeSpan.FromSeconds(40)), "the fifth: blocked until a minute after the first");
        Assert.That(throttle.Blocked(admin), Is.Null, "per address");

        time.Now += TimeSpan.FromSeconds(40);
        Assert.That(throttle.Blocked(guesser), Is.Null, "the minute is over");
        throttle.Failed(guesser);
        Assert.That(throttle.Blocked(guesser), Is.Null, "a new window starts at one failure");
    }

    [Test]
    public void Throttle_TracksABoundedNumberOfAddresses()
    {
        var time = new ManualTime();
        var throttle = new WrongPasswordThrottle(time);
        var first = IPAddress.Parse("10.0.0.1");
        for (var i = 0; i < WrongPasswordThrottle.MaxFailures; i++)
        {
            throttle.Failed(first);
        }

        time.Now += TimeSpan.FromSeconds(1);
        for (var i = 0; i < WrongPasswordThrottle.MaxAddresses; i++)
        {
            throttle.Failed(new IPAddress(0x0B00_0000u + (uint)i));
        }

        Assert.That(throttle.Blocked(first), Is.Null, "the oldest entry made room for the newest");
    }

    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 24, 22, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [TestCase("Basic !!!notbase64")]
    [TestCase("Basic bm9jb2xvbg==")]
    [TestCase("Bearer abc")]
    public async Task Change_WithAMalformedAuthorization_Is401(string header)
    {
        using var response = await _server.PostAsync("api/reload", null, null,
            r => r.Headers.TryAddWithoutValidation("Authorization", header));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task CrossSite_WithoutTheCustomHeader_IsRefused()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/servers/CAS1/drain");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{TestServer.User}:{TestServer.Password}")));

        using var response = await _server.Client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await Message(response), Does.StartWith("changes need the header X-Exch-Dsr"));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task CrossSite_FormPost_IsRefused()
    {
        using var response = await _server.PostAsync("api/servers/CAS1/drain", change: r =>
            r.Content = new FormUrlEncodedContent([new("service", "owa-https")]));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await Message(response), Does.StartWith("form posts are refused"));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [TestCase("Origin", "http://evil.example", "request from another origin refused (Origin: http://evil.example)")]
    [TestCase("Origin", "null", "request from another origin refused (Origin: null)")]
    [TestCase("Sec-Fetch-Site", "cross-site", "cross-site request refused (Sec-Fetch-Site: cross-site)")]
    [TestCase("Sec-Fetch-Site", "same-site", "cross-site request refused (Sec-Fetch-Site: same-site)")]
    public async Task CrossSite_FromAnotherOrigin_IsRefused(string header, string value, string message)
    {
        using var response = await _server.PostAsync("api/servers/CAS1/drain", change: r => r.Headers.Add(header, value));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await Message(response), Is.EqualTo(message));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task SameOrigin_WithTheBrowserHeaders_IsAccepted()
    {
        var origin = _server.BaseAddress.GetLeftPart(UriPartial.Authority);

        using var response = await _server.PostAsync("api/servers/CAS1/drain", change: r =>
        {
            r.Headers.Add("Origin", origin);
            r.Headers.Add("Sec-Fetch-Site", "same-origin");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task ANewPasswordInTheFile_TakesOverOnReloadFiles_AndAnEmptyFileKeepsTheOldOne()
    {
        await File.WriteAllTextAsync(_server.PasswordFile!, "N3w password\n");
        _server.Server.ReloadFiles();
        using var old = await _server.PostAsync("api/servers/CAS1/drain");
        using var changed = await _server.PostAsync("api/servers/CAS1/drain", password: "N3w password");

        await File.WriteAllTextAsync(_server.PasswordFile!, "\n");
        _server.Server.ReloadFiles();
        using var kept = await _server.PostAsync("api/servers/CAS1/drain", password: "N3w password");

        Assert.That(old.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "the old password no longer works");
        Assert.That(changed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(kept.StatusCode, Is.EqualTo(HttpStatusCode.OK), "an empty file on reload keeps the password loaded before");
        Assert.That(_server.Logger.Entries.Select(e => e.Message), Has.Some.StartsWith($"status page: admin-password-file {_server.PasswordFile} read again")
            .And.Some.Contains("has no password on its first line").And.Some.EndWith("; keeping the one loaded before"));
    }

    [Test]
    public async Task Change_FailingInTheCluster_Is500WithTheMessage()
    {
        _server.Control.Failure = new InvalidOperationException("the forwarding thread is gone");

        using var response = await _server.PostAsync("api/reload");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(await Message(response), Is.EqualTo("internal error: the forwarding thread is gone"));
    }

    [Test]
    public async Task Get_OnAChange_DoesNotChangeAnything()
    {
        using var response = await _server.Client.GetAsync("api/servers/CAS1/drain");

        Assert.That((int)response.StatusCode, Is.EqualTo(404).Or.EqualTo(405));
        Assert.That(_server.Control.Calls, Is.Empty);
    }
}

public sealed class LoopbackAdminTests
{
    private TestServer _server = null!;

    [SetUp]
    public async Task StartAsync() => _server = await TestServer.StartAsync(withPassword: false);

    [TearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [Test]
    public async Task WithoutAPasswordFile_ALoopbackClientMayChange()
    {
        using var response = await _server.PostAsync("api/servers/CAS2/drain", user: null, password: null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_server.Control.Calls, Does.Contain("Drain CAS2 *"));
        Assert.That(_server.Logger.Entries.Any(e => e.Message.Contains("by (loopback, no password) from 127.0.0.1:", StringComparison.Ordinal)));
    }

    [Test]
    public async Task WithoutAPasswordFile_AForeignHostName_IsRefused()
    {
        // A hostile site whose DNS name was rebound to 127.0.0.1 posts from its own origin, with its own Host.
        using var response = await _server.PostAsync("api/reload", null, null, r => r.Headers.Host = "evil.example:8405");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await Message(response), Does.StartWith("Host 'evil.example:8405' is not a loopback name"));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task WithoutAPasswordFile_CrossSiteIsStillRefused()
    {
        using var response = await _server.PostAsync("api/reload", null, null, r => r.Headers.Add("Sec-Fetch-Site", "cross-site"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(_server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task Page_SaysChangesAreLocalOnly()
    {
        var html = await _server.Client.GetStringAsync("");

        Assert.That(html, Does.Contain("are allowed from this machine only"));
    }
}
