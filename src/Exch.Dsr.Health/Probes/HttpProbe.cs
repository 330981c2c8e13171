using System.Net;
using System.Net.Sockets;
using System.Text;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Health.Probes;

/// <summary>
/// GET <c>path</c> from the server's own address, or from the VIP through the server's MAC on the DSR path, with the
/// configured Host header (the address connected to, by default). Redirects that stay on the same
/// server (relative, or naming the Host header or the address) are followed, as the Piranha wget check did for
/// /owa → /owa/auth/logon.aspx; status and <c>expect</c> are judged on the page the chain ends on. https accepts any
/// certificate (<c>wget --no-check-certificate</c>): a CAS is addressed by IP, so no name would match.
/// </summary>
internal sealed class HttpProbe(HealthCheckConfig check, bool useTls) : IHealthProbe
{
    internal const int MaxRedirects = 5;

    public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken) =>
        HealthProbes.RunAsync(check.Timeout, (progress, ct) => GetAsync(target, progress, ct), cancellationToken);

    private async ValueTask<ProbeResult> GetAsync(ProbeTarget target, ProbeProgress progress, CancellationToken cancellationToken)
    {
        // A fresh handler per probe: no pooled connection survives to hide a dead server, and nothing needs disposing
        // between probes.
        using var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.Zero,

            // Our own connect: it sets the DSR mark before the SYN is routed, and tells a timeout's stage.
            ConnectCallback = async (_, ct) =>
                new NetworkStream(await TcpProbe.ConnectAsync(target, progress, ct).ConfigureAwait(false), ownsSocket: true),
        };
        if (useTls)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }

        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var destination = target.Destination;
        var host = check.Host ?? destination.ToString();
        var origin = new UriBuilder(useTls ? "https" : "http", destination.ToString(), target.Port).Uri;
        var url = new Uri(origin, check.Path ?? "/");

        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Host = host;
            request.Headers.ConnectionClose = true;
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken)
                .ConfigureAwait(false);
            var status = (int)response.StatusCode;

            // An explicitly expected 3xx is checked as is; otherwise a redirect on the same server is followed.
            if (status is >= 300 and < 400 && check.Status != status && response.Headers.Location is { } location &&
                SameServer(url, location, host, destination) is { } next)
            {
                if (hop == MaxRedirects)
                {
                    return new ProbeResult(false, $"more than {MaxRedirects} redirects");
                }

                url = next;
                continue;
            }

            var statusOk = check.Status is { } expected ? status == expected : status is >= 200 and < 400;
            if (!statusOk)
            {
                return new ProbeResult(false, $"status {status}");
            }

            if (!string.IsNullOrEmpty(check.Expect))
            {
                var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
                if (!body.Contains(check.Expect, StringComparison.Ordinal))
                {
                    return new ProbeResult(false, $"body lacks '{check.Expect}'");
                }
            }

            return new ProbeResult(true, $"status {status}");
        }
    }

    /// <summary>
    /// The URL to request next, always on the probed address and port, or null when the redirect leaves this server.
    /// </summary>
    private static Uri? SameServer(Uri current, Uri location, string host, IPAddress address)
    {
        if (!location.IsAbsoluteUri)
        {
            return new Uri(current, location);
        }

        var sameHost = string.Equals(location.Host, host, StringComparison.OrdinalIgnoreCase) ||
            (IPAddress.TryParse(location.IdnHost, out var named) && named.Equals(address));
        return sameHost ? new Uri(current, location.PathAndQuery) : null;
    }

    private static async ValueTask<string> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[HealthProbes.MaxReadBytes];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        return Encoding.UTF8.GetString(buffer, 0, length);
    }
}
