using Microsoft.Extensions.Logging;

namespace Exch.Dsr.DataPlane;

/// <summary>The cluster state's and control's log lines, with fixed event ids (30-59; the data plane uses 1-29).</summary>
internal static partial class ClusterLog
{
    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Control: {Action}")]
    public static partial void AdminApplied(ILogger logger, string action);

    [LoggerMessage(EventId = 31, Level = LogLevel.Warning, Message = "Control: refused {Action}: {Reason}")]
    public static partial void AdminRefused(ILogger logger, string action, string reason);

    [LoggerMessage(EventId = 32, Level = LogLevel.Information, Message = "Reloading {File} ({Trigger})")]
    public static partial void Reloading(ILogger logger, string file, string trigger);

    [LoggerMessage(EventId = 33, Level = LogLevel.Error, Message = "Reload: {Error}")]
    public static partial void ReloadError(ILogger logger, string error);

    [LoggerMessage(EventId = 34, Level = LogLevel.Error, Message = "Reload refused, the running configuration is kept: {Reason}")]
    public static partial void ReloadRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 35, Level = LogLevel.Information, Message = "Reloaded {File}: {Summary}")]
    public static partial void Reloaded(ILogger logger, string file, string summary);

    [LoggerMessage(EventId = 36, Level = LogLevel.Information, Message = "Health checks started for {Targets} targets")]
    public static partial void HealthStarted(ILogger logger, int targets);

    [LoggerMessage(EventId = 37, Level = LogLevel.Error, Message = "The control thread failed: {Message}")]
    public static partial void ControlThreadFailed(ILogger logger, string message, Exception exception);

    [LoggerMessage(EventId = 38, Level = LogLevel.Warning, Message = "Reading the forwarding tables failed: {Message}")]
    public static partial void SamplingFailed(ILogger logger, string message);
}
