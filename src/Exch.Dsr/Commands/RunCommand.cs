using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Exch.Dsr.Capture.Ports;
using Exch.Dsr.Configuration;
using Exch.Dsr.DataPlane;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr run --config FILE</c>: runs the data plane in the foreground until SIGINT or SIGTERM, with one status
/// line about every 10 s (frames forwarded and dropped) on stderr.
/// </summary>
/// <remarks>
/// Exit codes: 0 stopped by a signal; 2 bad arguments or configuration (every error, file:line:column);
/// 1 a start-up check failed (the message names the remedy), the port could not be opened, or forwarding failed.
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
        var command = new Command("run", "Run the forwarder in the foreground until SIGINT or SIGTERM.") { config, refresh, status, verbose };
        command.SetAction(parse => Run(
            parse.GetRequiredValue(config),
            parse.GetValue(refresh),
            parse.GetValue(status),
            parse.GetValue(verbose)));
        return command;
    }

    private static int Run(FileInfo file, double refreshSeconds, double statusSeconds, bool verbose)
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

        using var loggers = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information)
            .AddProvider(new StderrLoggerProvider(errors)));
        var logger = loggers.CreateLogger("exch-dsr");
        var options = new DataPlaneOptions { NeighbourRefresh = TimeSpan.FromSeconds(refreshSeconds) };

        LiveDataPlane plane;
        try
        {
            plane = LiveDataPlane.Start(config, options, loggers);
        }
        catch (DataPlaneStartupException e)
        {
            WriteStartupFailure(errors, config.Appliance.Interface, e);
            return ExitCodes.Failure;
        }

        using (plane)
        {
            using var stopRequested = new ManualResetEventSlim();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            plane.Failed.ContinueWith(_ => stopRequested.Set(), TaskScheduler.Default);

            var interval = TimeSpan.FromSeconds(statusSeconds);
            var last = plane.ReadStatus();
            while (!stopRequested.Wait(interval))
            {
                var now = plane.ReadStatus();
                errors.WriteLine(StatusLine(now, last, interval));
                last = now;
            }

            plane.Stop();
            errors.WriteLine(StatusLine(plane.ReadStatus(), null, interval));
            if (plane.Failed.IsCompleted)
            {
                errors.WriteLine($"exch-dsr: forwarding stopped on an error: {plane.Failed.Result.Message}");
                return ExitCodes.Failure;
            }

            return ExitCodes.Ok;

            void Stop(PosixSignalContext context)
            {
                // Handled here: the process ends when Run returns, after the threads have been joined.
                context.Cancel = true;
                stopRequested.Set();
            }
        }
    }

    private static string StatusLine(DataPlaneStatus now, DataPlaneStatus? before, TimeSpan interval)
    {
        string rate = before is null
            ? "stopped"
            : $"{((now.Forwarded - before.Forwarded) / interval.TotalSeconds).ToString("0.#", CultureInfo.InvariantCulture)} frames/s";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:HH:mm:ss} status: forwarded {now.Forwarded} ({rate}), dropped {now.Dropped}, answered {now.Answered}, not ours {now.NotOurs}, kernel dropped {now.KernelDropped}, send failures {now.SendFailures}, connections {now.Connections}");
    }

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

    /// <summary>Log lines on stderr: "HH:mm:ss level: message", the exception's message after it when there is one.</summary>
    private sealed class StderrLoggerProvider(TextWriter output) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new StderrLogger(output);

        public void Dispose()
        {
        }

        private sealed class StderrLogger(TextWriter output) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                string level = logLevel switch
                {
                    LogLevel.Trace => "trace",
                    LogLevel.Debug => "debug",
                    LogLevel.Information => "info",
                    LogLevel.Warning => "warn",
                    LogLevel.Error => "error",
                    _ => "crit",
                };
                string line = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} {level}: {formatter(state, exception)}");
                lock (output)
                {
                    output.WriteLine(exception is null || line.Contains(exception.Message, StringComparison.Ordinal) ? line : $"{line}: {exception.Message}");
                }
            }
        }
    }
}
