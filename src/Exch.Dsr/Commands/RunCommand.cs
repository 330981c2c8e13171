using System.CommandLine;
using Exch.Dsr.Capture.Ports;
using Exch.Dsr.DataPlane;
using Exch.Dsr.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr run --config FILE</c>: runs the service in the foreground (the generic host of
/// <see cref="ExchDsrHost"/>: forwarder, health checks, control socket) until SIGINT or SIGTERM, with one status line
/// every <c>--status-interval</c> seconds (frames forwarded and dropped) on stderr; SIGHUP reloads the configuration.
/// </summary>
/// <remarks>
/// Exit codes: 0 stopped by a signal; 2 bad arguments or configuration (every error, file:line:column);
/// 1 a start-up check failed (the message names the remedy), the port or the control socket could not be opened, or
/// forwarding failed.
/// </remarks>
internal static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c")
        {
            Description = "The exch-dsr configuration (TOML).",
            HelpName = "FILE",
            Required = true,
        };
        var refresh = new Option<double>("--neighbour-refresh")
        {
            Description = "Seconds between ARP refreshes of servers configured with mac = \"auto\"; a changed MAC is followed within one.",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 10,
        };
        var status = new Option<double>("--status-interval")
        {
            Description = "Seconds between status lines on stderr.",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 10,
        };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also log debug messages (every snapshot published)." };
        var command = new Command("run", "Run the service in the foreground until SIGINT or SIGTERM; SIGHUP reloads the configuration.") { config, refresh, status, verbose };
        command.SetAction((parse, _) => RunAsync(
            parse.GetRequiredValue(config),
            parse.GetValue(refresh),
            parse.GetValue(status),
            parse.GetValue(verbose)));
        return command;
    }

    private static async Task<int> RunAsync(FileInfo file, double refreshSeconds, double statusSeconds, bool verbose)
    {
        var errors = Console.Error;
        if (!(refreshSeconds > 0 && refreshSeconds <= 86400) || !(statusSeconds > 0 && statusSeconds <= 86400))
        {
            errors.WriteLine("exch-dsr: --neighbour-refresh and --status-interval take seconds between 0 and 86400, e.g. 10 or 0.5");
            return ExitCodes.Usage;
        }

        if (!ConfigurationFile.TryLoad(file, errors, "not started", out var config))
        {
            return ExitCodes.Usage;
        }

        using var logs = new ConsoleLogProvider(errors, ConsoleLogProvider.UnderSystemd());
        using var notifier = SystemdNotifier.FromEnvironment();
        var options = new DataPlaneOptions
        {
            NeighbourRefresh = TimeSpan.FromSeconds(refreshSeconds),
            ConfigFile = file.ToString(),
            LoadConfiguration = () => Reload(file),
        };
        var interval = TimeSpan.FromSeconds(statusSeconds);
        using var host = ExchDsrHost.Build(config, options, interval, verbose ? LogLevel.Debug : LogLevel.Information, logs, notifier);
        var forwarder = host.Services.GetRequiredService<ForwarderService>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("exch-dsr");
        try
        {
            await host.StartAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (Unwrap(e) is { } cause)
        {
            if (cause is DataPlaneStartupException startup)
            {
                WriteStartupFailure(errors, config.Appliance.Interface, startup);
            }
            else
            {
                errors.WriteLine($"exch-dsr: not started: {cause.Message}");
            }

            // Whatever had started (the forwarder, when the control socket failed) is stopped before exiting.
            await host.StopAsync().ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        await host.WaitForShutdownAsync().ConfigureAwait(false);
        if (forwarder.Plane is { } plane)
        {
            StatusReporter.Write(logger, plane.ReadStatus(), null, interval);
        }

        if (forwarder.Failure is { } failure)
        {
            errors.WriteLine($"exch-dsr: forwarding stopped on an error: {failure.Message}");
            return ExitCodes.Failure;
        }

        ServiceLog.Stopped(logger);
        return ExitCodes.Ok;
    }

    /// <summary>A reload reads the file exactly as start-up did, and answers with every error it found.</summary>
    private static ConfigurationLoad Reload(FileInfo file)
        => ConfigurationFile.TryLoad(file, out var config, out var problems)
            ? new ConfigurationLoad(config, [])
            : new ConfigurationLoad(null, problems);

    private static Exception? Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } aggregate => Unwrap(aggregate.InnerExceptions[0]),
        OperationCanceledException => null,
        _ => e,
    };

    private static void WriteStartupFailure(TextWriter errors, string interfaceName, DataPlaneStartupException e)
    {
        if (e.FailedChecks.Count == 0)
        {
            errors.WriteLine($"exch-dsr: not started: {e.Message}");
            return;
        }

        foreach (var check in e.FailedChecks)
        {
            errors.WriteLine($"exch-dsr: start-up check '{check.Name}' failed: {check.Message}");
            if (check.Remedy is not null)
            {
                errors.WriteLine($"  fix: {check.Remedy}");
            }
        }

        errors.WriteLine($"exch-dsr: not started on {interfaceName}: {e.FailedChecks.Count} start-up check{(e.FailedChecks.Count == 1 ? string.Empty : "s")} failed");
    }
}
