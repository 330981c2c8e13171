using Microsoft.Extensions.Logging;

namespace Exch.Dsr.StatusPage;

public sealed partial class StatusPageServer
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "status page listening on {Scheme}://{Endpoint}/ (changes: {Changes})")]
        public static partial void Listening(ILogger logger, string scheme, string endpoint, string changes);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "status page on {Endpoint} stopped")]
        public static partial void Stopped(ILogger logger, string endpoint);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "status page: {Action} by {User} from {Remote}: {Message}")]
        public static partial void Applied(ILogger logger, string action, string user, string remote, string message);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "status page: {Action} by {User} from {Remote} refused: {Message} {Errors}")]
        public static partial void Refused(ILogger logger, string action, string user, string remote, string message, string errors);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "status page: {Method} {Path} from {Remote} rejected ({Status}): {Reason}")]
        public static partial void Rejected(ILogger logger, string method, string path, string remote, int status, string reason);

        [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "status page: {Method} {Path} from {Remote} failed")]
        public static partial void RequestFailed(ILogger logger, string method, string path, string remote, Exception exception);

        [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "status page: {Method} {Path} from {Remote}: exch-dsr did not answer within {Timeout}")]
        public static partial void ControlTimedOut(ILogger logger, string method, string path, string remote, TimeSpan timeout);

        [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "admin-password-file {Path} can be read by group or others (mode {Mode}); chmod 600 it")]
        public static partial void PasswordFileTooOpen(ILogger logger, string path, string mode);

        [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "status page certificate {Subject} (from {Path}), valid until {NotAfter:yyyy-MM-dd HH:mm} UTC")]
        public static partial void Certificate(ILogger logger, string subject, string path, DateTime notAfter);

        [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "status page certificate {Subject} (from {Path}) {Problem}; browsers will warn until it is replaced (then exch-dsr reload)")]
        public static partial void CertificateProblem(ILogger logger, string subject, string path, string problem);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "status page: {Key} {Path} read again")]
        public static partial void FileReloaded(ILogger logger, string key, string path);

        [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "status page: {Message}; keeping the one loaded before")]
        public static partial void FileReloadFailed(ILogger logger, string message);
    }
}
