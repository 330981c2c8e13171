using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Hosting;

/// <summary>The service host's log lines, with fixed event ids (60-79).</summary>
internal static partial class ServiceLog
{
    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "status: forwarded {Forwarded} ({Rate}), dropped {Dropped}{DropReasons}, answered {Answered}, not ours {NotOurs}, kernel dropped {KernelDropped}, send failures {SendFailures}, connections {Connections} of {ConnectionCapacity}")]
    public static partial void Status(ILogger logger, long forwarded, string rate, long dropped, string dropReasons, long answered, long notOurs, long kernelDropped, long sendFailures, int connections, long connectionCapacity);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "SIGHUP received: reloading the configuration")]
    public static partial void Hangup(ILogger logger);

    [LoggerMessage(EventId = 68, Level = LogLevel.Information, Message = "SIGHUP was ignored when exch-dsr started (nohup, or a supervisor that ignores it); exch-dsr takes it back: SIGHUP reloads the configuration")]
    public static partial void HangupWasIgnored(ILogger logger);

    [LoggerMessage(EventId = 62, Level = LogLevel.Error, Message = "Reload failed: {Message}")]
    public static partial void ReloadFailed(ILogger logger, string message);

    [LoggerMessage(EventId = 63, Level = LogLevel.Information, Message = "Stopping: {Reason}")]
    public static partial void Stopping(ILogger logger, string reason);

    [LoggerMessage(EventId = 64, Level = LogLevel.Information, Message = "exch-dsr stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 65, Level = LogLevel.Error, Message = "Forwarding failed, stopping: {Message}")]
    public static partial void ForwardingFailed(ILogger logger, string message);

    [LoggerMessage(EventId = 66, Level = LogLevel.Debug, Message = "systemd notified: {State}")]
    public static partial void Notified(ILogger logger, string state);

    [LoggerMessage(EventId = 67, Level = LogLevel.Information, Message = "Ready: {Status}")]
    public static partial void Ready(ILogger logger, string status);
}
