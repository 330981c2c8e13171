using System.Net.Sockets;
using System.Text;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Health.Probes;

/// <summary>
/// Reads the greeting, which must be 220 (and contain <c>expect</c>, if set), then says QUIT, as config/README.md
/// describes: no EHLO, so a probe costs the server no session setup.
/// </summary>
internal sealed class SmtpProbe(HealthCheckConfig check) : IHealthProbe
{
    private static readonly byte[] Quit = "QUIT\r\n"u8.ToArray();

    public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken) =>
        HealthProbes.RunAsync(check.Timeout, async (progress, ct) =>
        {
            using var socket = await TcpProbe.ConnectAsync(target, progress, ct).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var greeting = await ReadGreetingAsync(stream, ct).ConfigureAwait(false);
            if (greeting.Length == 0)
            {
                return new ProbeResult(false, "closed without a greeting");
            }

            var firstLine = greeting.Split("\r\n")[0].TrimEnd('\n');
            if (!greeting.StartsWith("220", StringComparison.Ordinal))
            {
                return new ProbeResult(false, $"banner '{firstLine}' is not 220");
            }

            await stream.WriteAsync(Quit, ct).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(check.Expect) && !greeting.Contains(check.Expect, StringComparison.Ordinal))
            {
                return new ProbeResult(false, $"banner lacks '{check.Expect}'");
            }

            return new ProbeResult(true, $"banner '{firstLine}'");
        }, cancellationToken);

    /// <summary>Reads up to the last line of a (possibly multi-line, "220-...") greeting: a code followed by a space.</summary>
    private static async ValueTask<string> ReadGreetingAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        var text = new StringBuilder();
        while (text.Length < 16 * 1024)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.Latin1.GetString(buffer, 0, read));
            // Every element but the last is a complete line; "220-" continues, anything else ends the greeting.
            var lines = text.ToString().Split('\n');
            if (lines[..^1].Any(l => l.TrimEnd('\r') is var line && (line.Length < 4 || line[3] != '-')))
            {
                break;
            }
        }

        return text.ToString();
    }
}
