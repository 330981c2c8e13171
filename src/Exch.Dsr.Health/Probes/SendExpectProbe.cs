using System.Net.Sockets;
using System.Text;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Health.Probes;

/// <summary>
/// Piranha's nanny send/expect: connect, send <c>send</c>, read until <c>expect</c> (a plain substring) appears.
/// An empty expect accepts any reply; with nothing to send as well, a connection alone is enough, since a server
/// that speaks only when spoken to would otherwise never answer.
/// </summary>
internal sealed class SendExpectProbe(HealthCheckConfig check) : IHealthProbe
{
    private readonly byte[] _send = Encoding.UTF8.GetBytes(check.Send ?? "");
    private readonly string _expect = check.Expect ?? "";

    public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken) =>
        HealthProbes.RunAsync(check.Timeout, async (progress, ct) =>
        {
            using var socket = await TcpProbe.ConnectAsync(target, progress, ct).ConfigureAwait(false);
            if (_send.Length == 0 && _expect.Length == 0)
            {
                return new ProbeResult(true, "connected");
            }

            await using var stream = new NetworkStream(socket, ownsSocket: false);
            if (_send.Length > 0)
            {
                await stream.WriteAsync(_send, ct).ConfigureAwait(false);
            }

            var reply = await ReadUntilAsync(stream, _expect, ct).ConfigureAwait(false);
            if (_expect.Length == 0)
            {
                return reply.Length > 0 ? new ProbeResult(true, "replied") : new ProbeResult(false, "closed without a reply");
            }

            return reply.Contains(_expect, StringComparison.Ordinal)
                ? new ProbeResult(true, $"reply has '{_expect}'")
                : new ProbeResult(false, $"reply lacks '{_expect}'");
        }, cancellationToken);

    /// <summary>
    /// Reads until <paramref name="expect"/> is in the text (any byte, when empty), the peer closes, or the read limit;
    /// Latin-1 keeps every byte one char so a match cannot be split by decoding.
    /// </summary>
    internal static async ValueTask<string> ReadUntilAsync(Stream stream, string expect, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var text = new StringBuilder();
        while (text.Length < HealthProbes.MaxReadBytes)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.Latin1.GetString(buffer, 0, read));
            if (expect.Length == 0 || text.ToString().Contains(expect, StringComparison.Ordinal))
            {
                break;
            }
        }

        return text.ToString();
    }
}
