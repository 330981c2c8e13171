using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.StatusPage.Tests;

/// <summary>A real <see cref="StatusPageServer"/> on 127.0.0.1 and a free port, over a <see cref="FakeClusterControl"/>.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const string User = "exadmin";
    public const string Password = "Corr3ct horse:battery";

    private readonly string? _passwordFile;

    private TestServer(StatusPageServer server, FakeClusterControl control, CapturingLogger logger, string? passwordFile, TestCertificate? certificate)
    {
        Server = server;
        Control = control;
        Logger = logger;
        _passwordFile = passwordFile;
        BaseAddress = new Uri($"{(certificate is null ? "http" : "https")}://{server.BoundEndpoint}/");

        // Over HTTPS the client trusts exactly the certificate the test made, and records what the server presented.
        var handler = new HttpClientHandler();
        if (certificate is not null)
        {
            handler.ServerCertificateCustomValidationCallback = (_, presented, _, _) =>
            {
                PresentedThumbprint = presented?.Thumbprint;
                return presented?.Thumbprint == certificate.Thumbprint;
            };
        }

        Client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
    }

    public StatusPageServer Server { get; }

    public FakeClusterControl Control { get; }

    public CapturingLogger Logger { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    /// <summary>The admin password file the server reads (null without a password).</summary>
    public string? PasswordFile => _passwordFile;

    /// <summary>The thumbprint of the certificate the server presented in the last TLS handshake (HTTPS only).</summary>
    public string? PresentedThumbprint { get; private set; }

    /// <summary>
    /// Starts a server; with a password unless <paramref name="withPassword"/> is false (loopback-only changes), over
    /// HTTPS with <paramref name="certificate"/>'s files when given.
    /// </summary>
    public static async Task<TestServer> StartAsync(bool withPassword = true, TimeSpan? controlTimeout = null, TestCertificate? certificate = null)
    {
        string? passwordFile = null;
        if (withPassword)
        {
            passwordFile = Path.Combine(Path.GetTempPath(), $"exch-dsr-admin-{Guid.NewGuid():N}.password");
            await File.WriteAllTextAsync(passwordFile, Password + "\n");
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var control = new FakeClusterControl();
        var logger = new CapturingLogger();
        var options = new StatusPageOptions
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, 0),
            AdminUser = User,
            AdminPasswordFile = passwordFile,
            ControlTimeout = controlTimeout ?? TimeSpan.FromSeconds(10),
            CertificateFile = certificate?.CertificateFile,
            CertificateKeyFile = certificate?.KeyFile,
        };
        var server = new StatusPageServer(options, control, logger);
        await server.StartAsync(CancellationToken.None);
        return new TestServer(server, control, logger, passwordFile, certificate);
    }

    /// <summary>A POST as the page's script sends it: the custom header, and the admin's credentials when given.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, string? user = User, string? password = Password, Action<HttpRequestMessage>? change = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Add("X-Exch-Dsr", "1");
        if (user is not null && password is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        }

        change?.Invoke(request);
        return Client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.StopAsync(CancellationToken.None);
        await Server.DisposeAsync();
        if (_passwordFile is not null)
        {
            File.Delete(_passwordFile);
        }
    }
}

internal sealed class CapturingLogger : ILogger<StatusPageServer>
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => Entries.Enqueue((logLevel, formatter(state, exception)));
}
