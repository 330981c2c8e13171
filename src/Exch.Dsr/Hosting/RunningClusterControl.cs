using Exch.Dsr.Control;
using Exch.Dsr.StatusPage;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>
/// The <see cref="IClusterControl"/> the control socket is built with, before the data plane exists: every call goes
/// to the running data plane's control. Reloads, from the socket or SIGHUP, are bracketed for systemd with
/// RELOADING=1 and READY=1; one that succeeds also has the status page read its password and certificate files again.
/// </summary>
internal sealed class RunningClusterControl(ForwarderService forwarder, RunningStatusPage statusPage, SystemdNotifier notifier, ILogger<RunningClusterControl> logger) : IClusterControl
{
    public Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken) => Control.ReadStatusAsync(cancellationToken);

    public Task<IReadOnlyList<ConnectionRow>> ListConnectionsAsync(TableFilter filter, CancellationToken cancellationToken) =>
        Control.ListConnectionsAsync(filter, cancellationToken);

    public Task<IReadOnlyList<PersistenceRow>> ListPersistenceAsync(TableFilter filter, CancellationToken cancellationToken) =>
        Control.ListPersistenceAsync(filter, cancellationToken);

    public Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service, CancellationToken cancellationToken) =>
        Control.SetAdminStateAsync(server, action, service, cancellationToken);

    public Task<ControlResult> SetWeightAsync(string server, int weight, string? service, CancellationToken cancellationToken) =>
        Control.SetWeightAsync(server, weight, service, cancellationToken);

    public Task<ControlResult> ReloadAsync(CancellationToken cancellationToken) => ReloadAsync("control socket", cancellationToken);

    /// <summary>A reload, announced to systemd; <paramref name="trigger"/> (SIGHUP, control socket) goes into the log.</summary>
    public async Task<ControlResult> ReloadAsync(string trigger, CancellationToken cancellationToken)
    {
        var control = Control;
        Notify(notifier.Reloading($"reloading {control.ConfigFile} ({trigger})"), "RELOADING=1");
        ControlResult result;
        try
        {
            result = await control.ReloadAsync(trigger, cancellationToken).ConfigureAwait(false);
            if (result.Ok)
            {
                statusPage.Server?.ReloadFiles();
            }
        }
        finally
        {
            // READY=1 also after a refused reload: the service runs on with its previous configuration.
            Notify(notifier.Ready(ReadinessStatus()), "READY=1");
        }

        return result;
    }

    /// <summary>The STATUS line systemctl shows: the interface and what is configured.</summary>
    public string ReadinessStatus()
    {
        var config = forwarder.Plane?.Cluster.Config;
        return config is null
            ? "starting"
            : $"Forwarding on {config.Appliance.Interface}: {config.Services.Count} services, {config.Servers.Count} servers";
    }

    private DataPlane.ClusterControl Control => forwarder.Plane?.Control ?? throw new InvalidOperationException("the forwarder is not running");

    private void Notify(bool sent, string state)
    {
        if (sent)
        {
            ServiceLog.Notified(logger, state);
        }
    }
}

/// <summary>The status page once the host created it (none with <c>http = "off"</c>), for a reload to reach it.</summary>
internal sealed class RunningStatusPage
{
    public StatusPageServer? Server { get; set; }
}
