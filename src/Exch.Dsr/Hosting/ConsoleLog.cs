using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>
/// Log lines on stderr, one per message. In a terminal: "HH:mm:ss level: message". Under systemd (INVOCATION_ID or
/// JOURNAL_STREAM set) no timestamp, since journald stamps each line, and a syslog priority prefix such as
/// <c>&lt;6&gt;</c> that journald turns into the entry's priority (so <c>journalctl -p warning</c> works).
/// </summary>
internal sealed class ConsoleLogProvider(TextWriter output, bool journald) : ILoggerProvider
{
    /// <summary>Whether stderr goes to journald: systemd sets these for the processes of a unit.</summary>
    public static bool UnderSystemd() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"));

    public ILogger CreateLogger(string categoryName) => new ConsoleLogger(output, journald);

    public void Dispose()
    {
    }

    /// <summary>The sd-daemon(3) prefix for a level: the syslog priority in angle brackets.</summary>
    public static string Priority(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "<7>",
        LogLevel.Information => "<6>",
        LogLevel.Warning => "<4>",
        LogLevel.Error => "<3>",
        _ => "<2>",
    };

    private sealed class ConsoleLogger(TextWriter output, bool journald) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            if (exception is not null && !message.Contains(exception.Message, StringComparison.Ordinal))
            {
                message = $"{message}: {exception.Message}";
            }

            // journald splits on newlines, and a continuation line would lose its priority.
            message = message.ReplaceLineEndings(" ");
            string line = journald
                ? Priority(logLevel) + message
                : string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} {Level(logLevel)}: {message}");
            lock (output)
            {
                output.WriteLine(line);
            }
        }

        private static string Level(LogLevel level) => level switch
        {
            LogLevel.Trace => "trace",
            LogLevel.Debug => "debug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "error",
            _ => "crit",
        };
    }
}
