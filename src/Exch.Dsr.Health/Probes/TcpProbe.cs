using System.Net;
using System.Net.Sockets;

namespace Exch.Dsr.Health.Probes;

/// <summary>Healthy when a TCP connection is accepted (HAProxy's plain <c>check</c>).</summary>
internal sealed class TcpProbe(TimeSpan timeout) : IHealthProbe
{
    // <asm-generic/socket.h>; Linux only, as the whole appliance.
    private const int SolSocket = 1;
    private const int SoMark = 36;

    public ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken) =>
        HealthProbes.RunAsync(timeout, async (progress, ct) =>
        {
            using var socket = await ConnectAsync(target, progress, ct).ConfigureAwait(false);
            return new ProbeResult(true, "connected");
        }, cancellationToken);

    /// <summary>Connects to <see cref="ProbeTarget.Destination"/>, with the DSR mark set before the SYN is routed.</summary>
    internal static async ValueTask<Socket> ConnectAsync(ProbeTarget target, ProbeProgress progress, CancellationToken cancellationToken)
    {
        var destination = target.Destination;
        var socket = new Socket(destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (target.DsrMark != 0)
            {
                SetMark(socket, target.DsrMark);
            }

            await socket.ConnectAsync(new IPEndPoint(destination, target.Port), cancellationToken).ConfigureAwait(false);
            progress.Connected = true;
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>SO_MARK (socket(7)); needs CAP_NET_ADMIN, else a SocketException with AccessDenied.</summary>
    internal static void SetMark(Socket socket, uint mark) =>
        socket.SetRawSocketOption(SolSocket, SoMark, BitConverter.GetBytes(mark));
}
