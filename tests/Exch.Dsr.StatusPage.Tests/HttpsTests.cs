using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using static Exch.Dsr.StatusPage.Tests.ReadTests;

namespace Exch.Dsr.StatusPage.Tests;

/// <summary><c>[control] http-certificate</c>: the page and its admin actions over HTTPS, and what a bad certificate does.</summary>
public sealed class HttpsTests
{
    [TestCase(false, TestName = "OverHttps_WithCertificateAndKeyFiles_ThePageAndAChangeWork")]
    [TestCase(true, TestName = "OverHttps_WithTheKeyInTheCertificateFile_ThePageAndAChangeWork")]
    public async Task OverHttps_ThePageAndAChangeWork(bool keyInCertificateFile)
    {
        using var certificate = TestCertificate.Create(keyInCertificateFile: keyInCertificateFile);
        await using var server = await TestServer.StartAsync(certificate: certificate);

        using var page = await server.Client.GetAsync("");
        using var change = await server.PostAsync("api/servers/CAS1/drain?service=owa-https", change: r =>
        {
            r.Headers.Add("Origin", server.BaseAddress.GetLeftPart(UriPartial.Authority));
            r.Headers.Add("Sec-Fetch-Site", "same-origin");
        });

        Assert.That(server.BaseAddress.Scheme, Is.EqualTo("https"));
        Assert.That(server.PresentedThumbprint, Is.EqualTo(certificate.Thumbprint), "the server presents the configured certificate");
        Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await page.Content.ReadAsStringAsync(), Does.Contain("\"server\":\"CAS1\""));
        Assert.That(change.StatusCode, Is.EqualTo(HttpStatusCode.OK), await Message(change));
        Assert.That(server.Control.Calls, Does.Contain("Drain CAS1 owa-https"));
        Assert.That(server.Logger.Entries.Select(e => e.Message), Has.Some.StartsWith($"status page listening on https://{server.Server.BoundEndpoint}/"));
        Assert.That(server.Logger.Entries.Select(e => e.Message), Has.Some.StartsWith("status page certificate CN=exch-dsr status page test (from "));
    }

    [Test]
    public async Task OverHttps_AChangeFromThePlainHttpOriginIsRefused()
    {
        using var certificate = TestCertificate.Create();
        await using var server = await TestServer.StartAsync(certificate: certificate);
        var plainOrigin = $"http://{server.Server.BoundEndpoint}";

        using var response = await server.PostAsync("api/servers/CAS1/drain", change: r => r.Headers.Add("Origin", plainOrigin));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await Message(response), Is.EqualTo($"request from another origin refused (Origin: {plainOrigin})"));
        Assert.That(server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task OverHttps_APlainHttpRequestGetsNoPageAndNoPasswordIsReadInTheClear()
    {
        using var certificate = TestCertificate.Create();
        await using var server = await TestServer.StartAsync(certificate: certificate);

        // What a browser or script pointed at http:// sends, with the admin's credentials.
        using var client = new TcpClient();
        await client.ConnectAsync(server.Server.BoundEndpoint!);
        var stream = client.GetStream();
        var credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestServer.User}:{TestServer.Password}"));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /api/servers/CAS1/drain HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Exch-Dsr: 1\r\nAuthorization: Basic {credentials}\r\nContent-Length: 0\r\n\r\n"));
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var read = 0;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token)) > 0 && read < buffer.Length)
            {
                read += n;
            }
        }
        catch (IOException)
        {
            // Kestrel may reset the connection instead of closing it: either way no answer.
        }

        Assert.That(Encoding.ASCII.GetString(buffer, 0, read), Does.Not.StartWith("HTTP/"), "no HTTP answer on the TLS port");
        Assert.That(server.Control.Calls, Is.Empty);
    }

    [Test]
    public async Task ARenewedCertificate_ServesTheNextConnectionAfterReloadFiles()
    {
        using var certificate = TestCertificate.Create();
        using var renewed = TestCertificate.Create();
        await using var server = await TestServer.StartAsync(certificate: certificate);
        Assert.That((await server.Client.GetAsync("api/status")).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        certificate.ReplaceWith(renewed);
        server.Server.ReloadFiles();

        // A new client: a new connection and handshake. The renewed certificate is the one presented.
        var presented = new List<string?>();
        using var client = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, c, _, _) =>
            {
                presented.Add(c?.Thumbprint);
                return true;
            },
        });
        using var response = await client.GetAsync(new Uri(server.BaseAddress, "api/status"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(presented, Is.EqualTo(new[] { renewed.Thumbprint }));
        Assert.That(server.Logger.Entries.Count(e => e.Message.StartsWith("status page certificate CN=exch-dsr status page test", StringComparison.Ordinal)), Is.EqualTo(2),
            "logged when loaded, and again with its expiry when renewed");
    }

    [Test]
    public async Task ACertificateThatNoLongerLoads_IsKeptOnReloadFilesWithAWarning()
    {
        using var certificate = TestCertificate.Create();
        await using var server = await TestServer.StartAsync(certificate: certificate);

        await File.WriteAllTextAsync(certificate.CertificateFile, "half a renewal\n");
        server.Server.ReloadFiles();
        using var response = await server.Client.GetAsync("api/status");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(server.PresentedThumbprint, Is.EqualTo(certificate.Thumbprint), "the certificate loaded before still serves");
        var warning = server.Logger.Entries.Single(e => e.Level == LogLevel.Warning);
        Assert.That(warning.Message, Does.StartWith($"status page: cannot load http-certificate {certificate.CertificateFile} with key ").And.EndWith("; keeping the one loaded before"));
    }

    [Test]
    public async Task ExpiredCertificate_StillServesWithAWarning()
    {
        using var certificate = TestCertificate.Create(notBefore: DateTimeOffset.UtcNow.AddYears(-2), notAfter: DateTimeOffset.UtcNow.AddDays(-3));
        await using var server = await TestServer.StartAsync(certificate: certificate);

        using var page = await server.Client.GetAsync("");

        Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var warning = server.Logger.Entries.Single(e => e.Level == LogLevel.Warning);
        Assert.That(warning.Message, Does.StartWith("status page certificate CN=exch-dsr status page test (from ").And.Contain(") expired on "));
    }

    [Test]
    public async Task CertificateExpiringWithin30Days_StartsWithAWarningThatSaysWhen()
    {
        using var certificate = TestCertificate.Create(notAfter: DateTimeOffset.UtcNow.AddDays(10).AddHours(1));
        await using var server = await TestServer.StartAsync(certificate: certificate);

        var warning = server.Logger.Entries.Single(e => e.Level == LogLevel.Warning);
        Assert.That(warning.Message, Does.Contain(", in 10 day(s); browsers will warn until it is replaced (then exch-dsr reload)"));
    }

    [Test]
    public async Task CertificateFileWithoutItsKey_RefusesToStartAndSaysWhereTheKeyGoes()
    {
        using var certificate = TestCertificate.Create(withKey: false);
        var server = new StatusPageServer(
            new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), CertificateFile = certificate.CertificateFile },
            new FakeClusterControl(), new CapturingLogger());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"cannot load http-certificate {certificate.CertificateFile}: ")
            .And.EndWith("(a PEM file with the certificate and its private key, or set http-certificate-key to the key's file)"));
        Assert.That(server.BoundEndpoint, Is.Null);
    }

    [Test]
    public async Task MissingCertificateFile_RefusesToStartAndNamesIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"exch-dsr-missing-{Guid.NewGuid():N}.pem");
        var server = new StatusPageServer(
            new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), CertificateFile = path, CertificateKeyFile = path + ".key" },
            new FakeClusterControl(), new CapturingLogger());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"cannot load http-certificate {path} with key {path}.key: "));
        Assert.That(server.BoundEndpoint, Is.Null);
    }

    [Test]
    public async Task KeyOfAnotherCertificate_RefusesToStart()
    {
        using var certificate = TestCertificate.Create();
        using var other = TestCertificate.Create();
        var server = new StatusPageServer(
            new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), CertificateFile = certificate.CertificateFile, CertificateKeyFile = other.KeyFile },
            new FakeClusterControl(), new CapturingLogger());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"cannot load http-certificate {certificate.CertificateFile} with key {other.KeyFile}: "));
    }
}
