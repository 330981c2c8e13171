using System.Globalization;
using System.Runtime.InteropServices;
using Exch.Dsr.Control;
using Exch.Dsr.DataPlane;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>SIGHUP reloads the configuration, as <c>systemctl reload</c> (ExecReload=kill -HUP) asks.</summary>
internal sealed class ReloadOnHangup(RunningClusterControl control, IHostApplicationLifetime lifetime, ILogger<ReloadOnHangup> logger) : IHostedService, IDisposable
{
    private PosixSignalRegistration? _hangup;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (HangupSignal.TakeBackIfIgnored())
        {
            ServiceLog.HangupWasIgnored(logger);
        }

        _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // Handled here: SIGHUP's default action would end the process.
            context.Cancel = true;
            ServiceLog.Hangup(logger);
            _ = ReloadAsync();
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _hangup?.Dispose();
        _hangup = null;
        return Task.CompletedTask;
    }

    public void Dispose() => _hangup?.Dispose();

    private async Task ReloadAsync()
    {
        try
        {
            // The outcome is logged by the control side, errors one line each.
            await control.ReloadAsync("SIGHUP", lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ServiceLog.ReloadFailed(logger, e.Message);
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }
}

/// <summary>
/// The last hosted service: once everything before it has started, tells systemd READY=1; when shutdown begins,
/// STOPPING=1 (ApplicationStopping fires before any hosted service is stopped).
/// </summary>
internal sealed class SystemdReadiness(SystemdNotifier notifier, RunningClusterControl control, IHostApplicationLifetime lifetime, ILogger<SystemdReadiness> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        string status = control.ReadinessStatus();
        if (notifier.Ready(status))
        {
            ServiceLog.Notified(logger, "READY=1");
        }

        lifetime.ApplicationStopping.Register(() =>
        {
            ServiceLog.Stopping(logger, "shutting down");
            if (notifier.Stopping("stopping"))
            {
                ServiceLog.Notified(logger, "STOPPING=1");
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>One status line every <c>--status-interval</c>: frames forwarded (and the rate), dropped, answered, connections.</summary>
internal sealed class StatusReporter(ForwarderService forwarder, TimeSpan interval, ILogger<StatusReporter> logger) : BackgroundService
{
    /// <summary>Logs one status line; <paramref name="before"/> null marks the last one, after the stop.</summary>
    public static void Write(ILogger logger, DataPlaneStatus now, DataPlaneStatus? before, TimeSpan interval)
    {
        string rate = before is null
            ? "stopped"
            : $"{((now.Forwarded - before.Forwarded) / interval.TotalSeconds).ToString("0.#", CultureInfo.InvariantCulture)} frames/s";
        ServiceLog.Status(logger, now.Forwarded, rate, now.Dropped, now.DropReasons.Length == 0 ? string.Empty : $" ({now.DropReasons})", now.Answered, now.NotOurs, now.KernelDropped, now.SendFailures, now.Connections, now.ConnectionCapacity);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (forwarder.Plane is not { } plane)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval);
        var last = plane.ReadStatus();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = plane.ReadStatus();
                Write(logger, now, last, interval);
                last = now;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping; the host writes the last line after the forwarder has stopped.
        }
    }
}
