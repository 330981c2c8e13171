using System.Globalization;
using System.Net;
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

    /// <summary>
    /// The check and the path one target's probe takes, for its transitions and status: "https /owa VIP
    /// 10.203.7.100:443 via CAS1" on the DSR path, "tcp 10.203.7.11:443" at the server's own address.
    /// </summary>
    internal static string Describe(HealthCheckConfig check, ProbeTarget target, string server)
    {
        var what = check.Kind switch
        {
            HealthCheckKind.Http or HealthCheckKind.Https => $"{check.Kind.ToConfigName()} {check.Path}",
            // The file names of the program and of any script it is given ("exec sh check-owa.sh"), not whole paths.
            HealthCheckKind.Exec => string.Join(' ', ExecProbe.Split(check.Program ?? string.Empty)
                .Where(argument => argument.StartsWith('/')).Select(Path.GetFileName).Prepend("exec")),
            _ => check.Kind.ToConfigName(),
        };
        var endpoint = new IPEndPoint(target.Destination, target.Port);
        return target.DsrMark == 0 ? $"{what} {endpoint}" : $"{what} VIP {endpoint} via {server}";
    }

    internal static string FormatDuration(TimeSpan duration) =>
        duration.TotalMilliseconds % 1000 == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{(long)duration.TotalSeconds}s")
            : string.Create(CultureInfo.InvariantCulture, $"{(long)duration.TotalMilliseconds}ms");

    /// <summary>
    /// Runs <paramref name="probe"/> under the check's timeout and turns the expected failures of a dead or sick server
    /// (refused, reset, closed, timed out) into unhealthy results; only the caller's own cancellation propagates.
    /// </summary>
    internal static async ValueTask<ProbeResult> RunAsync(
        TimeSpan timeout, Func<ProbeProgress, CancellationToken, ValueTask<ProbeResult>> probe, CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var progress = new ProbeProgress();
        try
        {
            return await probe(progress, timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A SYN that is never answered (a DSR path whose server lost the VIP) reads differently from a server
            // that accepts and then says nothing.
            var stage = progress.Connected ? "no reply" : "connect timed out";
            return new ProbeResult(false, $"{stage} after {FormatDuration(timeout)}");
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

/// <summary>How far one probe got, so a timeout can say where it stopped.</summary>
internal sealed class ProbeProgress
{
    public bool Connected { get; set; }
}
