using System.Net;
using System.Net.Sockets;

namespace Exch.Dsr.Health.Probes;

/// <summary>Healthy when a TCP connection is accepted (HAProxy's plain <c>check</c>).</summary>
internal sealed class TcpProbe(TimeSpan timeout) : IHealthProbe
{
    public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken) =>
        HealthProbes.RunAsync(timeout, async ct =>
        {
            using var socket = await ConnectAsync(target, ct).ConfigureAwait(false);
            return new ProbeResult(true, "connected");
        }, cancellationToken);

    internal static async ValueTask<Socket> ConnectAsync(ProbeTarget target, CancellationToken cancellationToken)
    {
        var socket = new Socket(target.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(target.Address, target.Port), cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
