using System.Net;
using System.Text.Json;
using Exch.Dsr.Control;

namespace Exch.Dsr.StatusPage.Tests;

public sealed class ReadTests
{
    private TestServer _server = null!;

    [SetUp]
    public async Task StartAsync() => _server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [Test]
    public async Task Status_IsTheContractAsCamelCaseJson()
    {
        using var response = await _server.Client.GetAsync("api/status");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("configFile").GetString(), Is.EqualTo("/etc/exch-dsr/exch-dsr.toml"));
            Assert.That(root.GetProperty("configLoadedAt").GetDateTimeOffset(), Is.EqualTo(_server.Control.Status.ConfigLoadedAt));
            Assert.That(root.GetProperty("totals").GetProperty("forwarded").GetInt64(), Is.EqualTo(1_000_000));
            var owa = root.GetProperty("services")[0];
            Assert.That(owa.GetProperty("name").GetString(), Is.EqualTo("owa-https"));
            Assert.That(owa.GetProperty("persistence").GetString(), Is.EqualTo("04:00:00"));
            Assert.That(root.GetProperty("services")[1].GetProperty("persistence").ValueKind, Is.EqualTo(JsonValueKind.Null));
            var cas1 = owa.GetProperty("members")[0];
            Assert.That(cas1.GetProperty("server").GetString(), Is.EqualTo("CAS1"));
            Assert.That(cas1.GetProperty("state").GetString(), Is.EqualTo("up"));
            Assert.That(cas1.GetProperty("healthReason").GetString(), Is.EqualTo("https /owa: 200, body has 'utlook'"));
            Assert.That(cas1.GetProperty("bitsPerSecond").GetDouble(), Is.EqualTo(2_400_000));
            Assert.That(owa.GetProperty("members")[1].GetProperty("mac").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
        Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
    }

    [Test]
    public async Task Status_WithANaNRate_StillServes()
    {
        _server.Control.Replace(s => s with
        {
            Services = [s.Services[0] with { Members = [s.Services[0].Members[0] with { PacketsPerSecond = double.NaN }] }],
        });

        using var response = await _server.Client.GetAsync("api/status");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("\"packetsPerSecond\":\"NaN\""));
    }

    [Test]
    public async Task Page_IsOneSelfContainedPageWithTheServicesAndMembers()
    {
        using var response = await _server.Client.GetAsync("");
        var html = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.ToString(), Is.EqualTo("text/html; charset=utf-8"));
        Assert.Multiple(() =>
        {
            Assert.That(html, Does.Contain("\"name\":\"owa-https\"").And.Contain("\"name\":\"smtp\""));
            Assert.That(html, Does.Contain("\"server\":\"CAS1\"").And.Contain("\"server\":\"CAS2\""));
            Assert.That(html, Does.Not.Contain("{{"), "every placeholder is filled");
            Assert.That(html, Does.Not.Match("(src|href)=\"(https?:)?//"), "no external assets");
            Assert.That(html, Does.Contain($"admin user '{TestServer.User}'"));
        });

        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.That(csp, Does.Contain("script-src 'sha256-").And.Contain("frame-ancestors 'none'"));
        Assert.That(string.Join(",", response.Headers.GetValues("X-Frame-Options")), Is.EqualTo("DENY"));
    }

    [Test]
    public async Task Page_EscapesServerTextInsideTheScriptElement()
    {
        _server.Control.Replace(s => s with
        {
            Services = [s.Services[0] with { Members = [s.Services[0].Members[0] with { HealthReason = "</script><script>alert(1)</script>" }] }],
        });

        var html = await _server.Client.GetStringAsync("");

        Assert.That(html, Does.Not.Contain("<script>alert(1)"));
        Assert.That(html, Does.Contain("\\u003C/script\\u003E"));
    }

    [Test]
    public async Task Page_WhenTheControlFails_StillLoadsAndSaysSoThroughTheApi()
    {
        _server.Control.Failure = new InvalidOperationException("data plane not started");

        using var page = await _server.Client.GetAsync("");
        using var api = await _server.Client.GetAsync("api/status");

        Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await page.Content.ReadAsStringAsync(), Does.Contain("id=\"initial\">null</script>"));
        Assert.That(api.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(await Message(api), Is.EqualTo("internal error: data plane not started"));
        Assert.That(_server.Logger.Entries.Any(e => e.Message.Contains("GET /api/status", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public async Task Status_WhenTheControlHangs_Answers503AfterTheTimeout()
    {
        await _server.DisposeAsync();
        _server = await TestServer.StartAsync(controlTimeout: TimeSpan.FromMilliseconds(200));
        _server.Control.Gate = new TaskCompletionSource();

        using var response = await _server.Client.GetAsync("api/status");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await Message(response), Does.StartWith("exch-dsr did not answer within"));
    }

    [Test]
    public async Task Connections_PassTheFilterAndAreBounded()
    {
        using var response = await _server.Client.GetAsync("api/connections?service=owa-https&server=CAS1&client=192.0.2.0/24&limit=2");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_server.Control.LastFilter, Is.EqualTo(new TableFilter("owa-https", "CAS1", "192.0.2.0/24", 2)));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("limit").GetInt32(), Is.EqualTo(2));
            Assert.That(root.GetProperty("truncated").GetBoolean(), Is.True);
            Assert.That(root.GetProperty("rows").GetArrayLength(), Is.EqualTo(2));
            var first = root.GetProperty("rows")[0];
            Assert.That(first.GetProperty("state").GetString(), Is.EqualTo("ESTABLISHED"));
            Assert.That(first.GetProperty("client").GetString(), Is.EqualTo("192.0.2.7:50123"));
            Assert.That(first.GetProperty("expires").GetString(), Is.EqualTo("00:14:00"));
        });
    }

    [Test]
    public async Task Connections_WithNoFilter_AskForTheDefaultLimit()
    {
        using var response = await _server.Client.GetAsync("api/connections");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_server.Control.LastFilter, Is.EqualTo(new TableFilter(Limit: StatusPageServer.DefaultListLimit)));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(json.RootElement.GetProperty("truncated").GetBoolean(), Is.False);
    }

    [Test]
    public async Task Connections_CutARowListLongerThanTheLimit()
    {
        _server.Control.Connections = Enumerable.Range(0, 5)
            .Select(i => new ConnectionRow("udp", "UDP", TimeSpan.FromSeconds(i), $"192.0.2.{i}:53", "10.0.0.10:53", "CAS1", "dns"))
            .ToList();

        using var json = JsonDocument.Parse(await _server.Client.GetStringAsync("api/connections?limit=3"));

        Assert.That(json.RootElement.GetProperty("rows").GetArrayLength(), Is.EqualTo(3));
        Assert.That(json.RootElement.GetProperty("truncated").GetBoolean(), Is.True);
    }

    [Test]
    public async Task Persistence_PassTheFilterAndReturnTheRows()
    {
        using var response = await _server.Client.GetAsync("api/persistence?client=192.0.2.7&server=cas1");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_server.Control.LastFilter, Is.EqualTo(new TableFilter(null, "cas1", "192.0.2.7", StatusPageServer.DefaultListLimit)));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var row = json.RootElement.GetProperty("rows")[0];
        Assert.Multiple(() =>
        {
            Assert.That(row.GetProperty("service").GetString(), Is.EqualTo("owa-https"));
            Assert.That(row.GetProperty("server").GetString(), Is.EqualTo("CAS1"));
            Assert.That(row.GetProperty("expires").GetString(), Is.EqualTo("04:00:00"));
            Assert.That(row.GetProperty("connections").GetInt32(), Is.EqualTo(1));
        });
    }

    [TestCase("api/connections?client=not-an-address", "client 'not-an-address' is not an address or a prefix")]
    [TestCase("api/persistence?client=192.0.2.7/99", "client '192.0.2.7/99' is not an address or a prefix")]
    [TestCase("api/connections?limit=0", "limit '0' is not a whole number from 1 to 10000")]
    [TestCase("api/connections?limit=10001", "limit '10001' is not a whole number from 1 to 10000")]
    [TestCase("api/connections?limit=-5", "limit '-5' is not a whole number")]
    [TestCase("api/persistence?server=CAS%201", "server 'CAS 1' is not a name")]
    [TestCase("api/connections?service=a&service=b", "give service once")]
    public async Task Listings_RefuseBadFiltersWith400AndTheReason(string path, string message)
    {
        using var response = await _server.Client.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await Message(response), Does.StartWith(message));
        Assert.That(_server.Control.Calls, Is.Empty, "nothing reached the cluster");
    }

    [Test]
    public async Task UnknownPath_Is404WithWhereThePageIs()
    {
        using var response = await _server.Client.GetAsync("stats");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await Message(response), Is.EqualTo("nothing at GET /stats; the status page is at /"));
    }

    internal static async Task<string?> Message(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("message").GetString();
    }
}
