using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.DataPlane;
using Exch.Dsr.StatusPage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>
/// The generic host behind <c>exch-dsr run</c>. Hosted services start in registration order and stop in reverse:
/// the forwarder (checks, port, forwarding and control threads), the health checks, the control socket, then SIGHUP
/// handling, the status lines and, last, READY=1 to systemd. So the socket never serves a request before forwarding
/// runs, and at shutdown it closes first and the port last.
/// </summary>
internal static class ExchDsrHost
{
    public static IHost Build(ExchDsrConfig config, DataPlaneOptions options, TimeSpan statusInterval, LogLevel level, ILoggerProvider logs, SystemdNotifier notifier)
    {
        // No defaults: no appsettings.json, no environment configuration, no console logger; the TOML file is the configuration.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "exch-dsr" });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(level);

        // The host's own lines repeat ours (a failed start is reported with its remedy by the run command).
        builder.Logging.AddFilter("Microsoft", LogLevel.Critical);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

        var services = builder.Services;
        services.AddSingleton(config);
        services.AddSingleton(options);
        services.AddSingleton(notifier);
        services.AddSingleton<ForwarderService>();
        services.AddSingleton<RunningStatusPage>();
        services.AddSingleton<RunningClusterControl>();
        services.AddSingleton<IClusterControl>(sp => sp.GetRequiredService<RunningClusterControl>());
        services.AddSingleton(ControlSocketOptions.From(config.Control));

        services.AddHostedService(sp => sp.GetRequiredService<ForwarderService>());
        services.AddHostedService<HealthCheckService>();
        services.AddHostedService<ControlSocketServer>();
        if (StatusPageOptions.From(config.Control) is { } statusPage)
        {
            services.AddHostedService(sp => sp.GetRequiredService<RunningStatusPage>().Server =
                new StatusPageServer(statusPage, sp.GetRequiredService<IClusterControl>(), sp.GetRequiredService<ILogger<StatusPageServer>>()));
        }
        services.AddHostedService<ReloadOnHangup>();
        services.AddHostedService(sp => new StatusReporter(sp.GetRequiredService<ForwarderService>(), statusInterval, sp.GetRequiredService<ILogger<StatusReporter>>()));
        services.AddHostedService<SystemdReadiness>();
        return builder.Build();
    }
}
