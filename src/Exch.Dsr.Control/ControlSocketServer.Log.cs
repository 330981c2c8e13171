using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Control;

public sealed partial class ControlSocketServer
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "control socket listening on {Path} (mode {Mode}, {Group})")]
        public static partial void Listening(ILogger logger, string path, string mode, string group);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "control socket {Path} closed")]
        public static partial void Stopped(ILogger logger, string path);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "removed stale control socket {Path} (nothing answered on it)")]
        public static partial void StaleRemoved(ILogger logger, string path);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "control: {Action} by {Peer}: {Message}")]
        public static partial void Applied(ILogger logger, string action, string peer, string message);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "control: {Action} by {Peer} refused: {Reason}")]
        public static partial void Refused(ILogger logger, string action, string peer, string reason);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "control: malformed request from {Peer}: {Reason}")]
        public static partial void Malformed(ILogger logger, string peer, string reason);

        [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "control: request from {Peer} longer than the limit; connection closed")]
        public static partial void Oversized(ILogger logger, string peer);

        [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "control: {Command} from {Peer} failed")]
        public static partial void RequestFailed(ILogger logger, string command, string peer, Exception exception);

        [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "control socket: accept failed; retrying")]
        public static partial void AcceptFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "could not remove control socket {Path}")]
        public static partial void UnlinkFailed(ILogger logger, string path, Exception exception);
    }
}
