using Exch.Dsr.Configuration;
using Exch.Dsr.DataPlane;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>
/// The first hosted service: runs the start-up checks, opens the port and starts forwarding; stopped last. A
/// forwarding or control thread that ends on an error stops the application (exit code 1).
/// </summary>
internal sealed class ForwarderService(
    ExchDsrConfig config,
    DataPlaneOptions options,
    ILoggerFactory loggers,
    IHostApplicationLifetime lifetime,
    ILogger<ForwarderService> logger) : IHostedService, IDisposable
{
    /// <summary>The running data plane; null before <see cref="StartAsync"/> succeeded.</summary>
    public LiveDataPlane? Plane { get; private set; }

    /// <summary>The error that stopped forwarding, if one did.</summary>
    public Exception? Failure { get; private set; }

    /// <exception cref="DataPlaneStartupException">A start-up check failed or the port could not be opened.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var plane = LiveDataPlane.Start(config, options, loggers);
        Plane = plane;
        plane.Failed.ContinueWith(
            failed =>
            {
                Failure = failed.Result;
                ServiceLog.ForwardingFailed(logger, failed.Result.Message);
                lifetime.StopApplication();
            },
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion,
            TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Plane?.Stop();
        return Task.CompletedTask;
    }

    public void Dispose() => Plane?.Dispose();
}

/// <summary>The second hosted service: the health checks, started once forwarding runs and stopped before it stops.</summary>
internal sealed class HealthCheckService(ForwarderService forwarder) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        forwarder.Plane?.StartHealthAsync() ?? throw new InvalidOperationException("the forwarder has not started");

    public Task StopAsync(CancellationToken cancellationToken) => forwarder.Plane?.StopHealthAsync() ?? Task.CompletedTask;
}
