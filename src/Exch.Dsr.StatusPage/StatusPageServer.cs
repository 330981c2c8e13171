using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Exch.Dsr.Control;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.StatusPage;

/// <summary>
/// Serves the status page (<c>GET /</c>), its JSON (<c>/api/status</c>, <c>/api/connections</c>,
/// <c>/api/persistence</c>) and the admin actions (<c>POST /api/servers/{name}/drain|disable|enable|weight</c>,
/// <c>POST /api/reload</c>) on <c>[control] http</c>, as calls on <see cref="IClusterControl"/>.
/// </summary>
/// <remarks>
/// Kestrel runs in a web application of its own inside the service host, so the page brings no ASP.NET Core defaults
/// (configuration sources, console lifetime, developer pages) into exch-dsr. Reads are open to whoever reaches the
/// endpoint; changes pass <see cref="AdminGate"/>. Nothing a client sends can stop the server: requests are small and
/// time-limited, and a control call that fails or hangs becomes a 500 or 503 for that request alone.
/// </remarks>
public sealed partial class StatusPageServer : IHostedService, IAsyncDisposable
{
    private readonly StatusPageOptions _options;
    private readonly IClusterControl _control;
    private readonly ILogger<StatusPageServer> _logger;
    private readonly Lock _reloading = new();
    private WebApplication? _app;
    private AdminGate? _gate;
    private StatusPageHtml? _html;
    private X509Certificate2? _certificate;

    // The certificate a reload replaced: a handshake that picked it a moment before may still use it, so it is
    // disposed at the next reload instead of at once.
    private X509Certificate2? _replacedCertificate;

    public StatusPageServer(StatusPageOptions options, IClusterControl control, ILogger<StatusPageServer> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Endpoint);
        ArgumentException.ThrowIfNullOrEmpty(options.AdminUser);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ControlTimeout, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options;
        _control = control;
        _logger = logger;
    }

    /// <summary>Where the page listens once started (the real port when <see cref="StatusPageOptions.Endpoint"/> asked for 0).</summary>
    public IPEndPoint? BoundEndpoint { get; private set; }

    /// <summary>Served over HTTPS (<see cref="StatusPageOptions.CertificateFile"/> is set).</summary>
    public bool IsHttps => _options.CertificateFile is not null;

    /// <summary>Reads the password and certificate files and starts listening.</summary>
    /// <exception cref="InvalidOperationException">
    /// The endpoint is not loopback and no password file is set, the password file cannot be read or is empty, the
    /// certificate or its key cannot be loaded, or the endpoint cannot be bound; the message says which and what to do.
    /// </exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var endpoint = _options.Endpoint;
        if (_options.AdminPasswordFile is null && !AdminGate.IsLoopback(endpoint.Address))
        {
            throw new InvalidOperationException(
                $"[control] http {endpoint} is reachable from the network but no admin-password-file is set; "
                + "set one, or listen on 127.0.0.1");
        }

        var password = _options.AdminPasswordFile is { } file ? ReadPassword(file) : null;
        _gate = new AdminGate(_options.AdminUser, password);
        _html = new StatusPageHtml(_gate.NeedsPassword
            ? $"ask for the admin user '{_options.AdminUser}' and its password"
            : "are allowed from this machine only (no admin-password-file is set)");

        _certificate = _options.CertificateFile is { } certificateFile ? LoadCertificate(certificateFile, _options.CertificateKeyFile) : null;
        var app = BuildApplication(endpoint, IsHttps);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"status page: cannot listen on {endpoint}: {e.Message}; set [control] http to a free address:port, or \"off\"", e);
        }

        _app = app;
        BoundEndpoint = ReadBoundEndpoint(app, endpoint);
        Log.Listening(_logger, IsHttps ? "https" : "http", BoundEndpoint.ToString(), _gate.NeedsPassword
            ? $"HTTP Basic as '{_options.AdminUser}'"
            : "loopback clients only, no password");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
            Log.Stopped(_logger, (BoundEndpoint ?? _options.Endpoint).ToString());
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }

        Interlocked.Exchange(ref _certificate, null)?.Dispose();
        Interlocked.Exchange(ref _replacedCertificate, null)?.Dispose();
    }

    private WebApplication BuildApplication(IPEndPoint endpoint, bool https)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(StatusPageServer).Assembly.GetName().Name,
        });

        // The default ConsoleLifetime would hook SIGTERM and SIGINT a second time inside exch-dsr; the service host
        // owns the signals and stops this page through StopAsync.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // Every request is a GET or an empty POST with a short URL; anything bigger is not from the page or a script.
            kestrel.Limits.MaxRequestBodySize = 4 * 1024;
            kestrel.Limits.MaxRequestLineSize = 4 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 50;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
            kestrel.Limits.MaxConcurrentConnections = 64;
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (https)
                {
                    // Asked per handshake, so a certificate renewed on reload serves the next connection.
                    listen.UseHttps(https => https.ServerCertificateSelector = (_, _) => Volatile.Read(ref _certificate));
                }
            });
        });

        var app = builder.Build();
        MapEndpoints(app);
        return app;
    }

    private string ReadPassword(string path)
    {
        string? firstLine;
        try
        {
            using var reader = new StreamReader(path);
            firstLine = reader.ReadLine();
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                var mode = File.GetUnixFileMode(path);
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                {
                    Log.PasswordFileTooOpen(_logger, path, Convert.ToString((int)mode, 8).PadLeft(4, '0'));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot read admin-password-file {path}: {e.Message}", e);
        }

        if (string.IsNullOrEmpty(firstLine))
        {
            throw new InvalidOperationException(
                $"admin-password-file {path} has no password on its first line; write one (and chmod 600 the file)");
        }

        return firstLine;
    }

    /// <summary>
    /// Re-reads the admin password file and the certificate (exch-dsr's reload calls it), so a new password or a
    /// renewed certificate takes effect without restarting the forwarder and losing its connections. A file that
    /// cannot be read now keeps what was loaded, with a warning. The paths are the ones the page started with.
    /// </summary>
    public void ReloadFiles()
    {
        lock (_reloading)
        {
            ReloadFilesLocked();
        }
    }

    private void ReloadFilesLocked()
    {
        if (_gate is not { } gate)
        {
            return;
        }

        if (_options.AdminPasswordFile is { } passwordFile)
        {
            try
            {
                gate.ChangePassword(ReadPassword(passwordFile));
                Log.FileReloaded(_logger, "admin-password-file", passwordFile);
            }
            catch (InvalidOperationException e)
            {
                Log.FileReloadFailed(_logger, e.Message);
            }
        }

        if (_options.CertificateFile is { } certificateFile)
        {
            try
            {
                var renewed = LoadCertificate(certificateFile, _options.CertificateKeyFile);
                Interlocked.Exchange(ref _replacedCertificate, Interlocked.Exchange(ref _certificate, renewed))?.Dispose();
            }
            catch (InvalidOperationException e)
            {
                Log.FileReloadFailed(_logger, e.Message);
            }
        }
    }

    /// <summary>
    /// The certificate with its private key, from PEM files (what openssl and certbot write; a certificate from a
    /// Windows CA converts with openssl). One that has expired or is not yet valid still serves, with a warning: the
    /// page must not go dark because a certificate lapsed, and the password stays encrypted either way.
    /// </summary>
    private X509Certificate2 LoadCertificate(string path, string? keyPath)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(path, keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            var key = keyPath is null ? "" : $" with key {keyPath}";
            var hint = keyPath is null ? " (a PEM file with the certificate and its private key, or set http-certificate-key to the key's file)" : "";
            throw new InvalidOperationException($"cannot load http-certificate {path}{key}: {e.Message}{hint}", e);
        }

        var now = DateTime.UtcNow;
        var notAfter = certificate.NotAfter.ToUniversalTime();
        var notBefore = certificate.NotBefore.ToUniversalTime();
        string? problem = notAfter < now ? $"expired on {notAfter:yyyy-MM-dd HH:mm} UTC"
            : notBefore > now ? $"is not valid before {notBefore:yyyy-MM-dd HH:mm} UTC"
            : notAfter < now.AddDays(30) ? $"expires on {notAfter:yyyy-MM-dd HH:mm} UTC, in {(int)(notAfter - now).TotalDays} day(s)"
            : null;
        if (problem is null)
        {
            Log.Certificate(_logger, certificate.Subject, path, notAfter);
        }
        else
        {
            Log.CertificateProblem(_logger, certificate.Subject, path, problem);
        }

        return certificate;
    }

    private static IPEndPoint ReadBoundEndpoint(WebApplication app, IPEndPoint requested)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var port = addresses?.Select(a => Uri.TryCreate(a, UriKind.Absolute, out var uri) ? uri.Port : -1).FirstOrDefault(p => p > 0);
        return new IPEndPoint(requested.Address, port is > 0 ? port.Value : requested.Port);
    }

    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
