using System.Net;

namespace Exch.Dsr.Health.Probes;

/// <summary>One kind of health check. A probe never throws for a failing server and never outlives its timeout.</summary>
public interface IHealthProbe
{
    ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken);
}

/// <summary>The outcome of one probe; <see cref="Detail"/> is a short reason fit for a log line.</summary>
public readonly record struct ProbeResult(bool Healthy, string Detail);

/// <summary>What one probe is aimed at: the server's own address and the checked port, and the service's VIP (for exec %v).</summary>
public sealed record ProbeTarget(IPAddress Address, int Port, IPAddress Vip)
{
    /// <summary>
    /// The SO_MARK of a DSR-path probe: a policy route for this mark sends the VIP to <see cref="Address"/>'s MAC, so
    /// the probe reaches the server exactly as client traffic does. 0 probes <see cref="Address"/> itself.
    /// </summary>
    public uint DsrMark { get; init; }

    /// <summary>The address a probe connects to: the VIP on the DSR path, else the server's own address.</summary>
    public IPAddress Destination => DsrMark == 0 ? Address : Vip;
}
