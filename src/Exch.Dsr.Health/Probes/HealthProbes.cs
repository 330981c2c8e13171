using System.Globalization;
using System.Net.Sockets;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Health.Probes;

/// <summary>Builds the probe a check configuration asks for, and the shared timeout and error handling.</summary>
public static class HealthProbes
{
    /// <summary>Replies and bodies are read up to this many bytes: enough for an OWA logon page, bounded against a runaway server.</summary>
    internal const int MaxReadBytes = 256 * 1024;

    public static IHealthProbe Create(HealthCheckConfig check) => check.Kind switch
    {
        HealthCheckKind.Tcp => new TcpProbe(check.Timeout),
        HealthCheckKind.SendExpect => new SendExpectProbe(check),
        HealthCheckKind.Http => new HttpProbe(check, useTls: false),
        HealthCheckKind.Https => new HttpProbe(check, useTls: true),
        HealthCheckKind.Smtp => new SmtpProbe(check),
        HealthCheckKind.Exec => new ExecProbe(check),
        _ => throw new ArgumentException($"check kind {check.Kind} has no probe", nameof(check)),
    };

    /// <summary>A short name of the check for log lines, e.g. "https /owa" or "tcp 443".</summary>
    public static string Describe(HealthCheckConfig check) => check.Kind switch
    {
        HealthCheckKind.Http => $"http {check.Path}",
        HealthCheckKind.Https => $"https {check.Path}",
        HealthCheckKind.Exec => $"exec {check.Program}",
        HealthCheckKind.SendExpect => $"send-expect {check.Port}",
        HealthCheckKind.Smtp => $"smtp {check.Port}",
        _ => $"{check.Kind.ToString().ToLowerInvariant()} {check.Port}",
    };

    internal static string FormatDuration(TimeSpan duration) =>
        duration.TotalMilliseconds % 1000 == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{(long)duration.TotalSeconds}s")
            : string.Create(CultureInfo.InvariantCulture, $"{(long)duration.TotalMilliseconds}ms");

    /// <summary>
    /// Runs <paramref name="probe"/> under the check's timeout and turns the expected failures of a dead or sick server
    /// (refused, reset, closed, timed out) into unhealthy results; only the caller's own cancellation propagates.
    /// </summary>
    internal static async ValueTask<ProbeResult> RunAsync(
        TimeSpan timeout, Func<CancellationToken, ValueTask<ProbeResult>> probe, CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            return await probe(timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ProbeResult(false, $"timed out after {FormatDuration(timeout)}");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Describe(ex) is { } detail)
        {
            return new ProbeResult(false, detail);
        }
    }

    private static string? Describe(Exception ex) => ex switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connect refused",
        SocketException s => $"socket error {s.SocketErrorCode}",
        // HttpClient and SslStream wrap the socket error; the innermost one names the cause.
        HttpRequestException { InnerException: { } inner } => Describe(inner) ?? $"http error: {inner.Message}",
        HttpRequestException h => $"http error: {h.Message}",
        IOException { InnerException: { } inner } => Describe(inner) ?? $"connection failed: {inner.Message}",
        IOException io => $"connection failed: {io.Message}",
        System.Security.Authentication.AuthenticationException a => $"tls failed: {a.Message}",
        _ => null,
    };
}
