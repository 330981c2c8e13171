using Exch.Dsr.Health.Probes;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Health;

public sealed partial class HealthMonitor
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "{Service}/{Server} DOWN: {Reason}")]
        public static partial void ServerDown(ILogger logger, string service, string server, string reason);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "{Service}/{Server} UP: {Reason}")]
        public static partial void ServerUp(ILogger logger, string service, string server, string reason);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "{Service}/{Server} probe {Healthy}: {Detail}")]
        public static partial void Probed(ILogger logger, string service, string server, bool healthy, string detail);

        [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "{Service}/{Server} probe failed unexpectedly")]
        public static partial void ProbeCrashed(ILogger logger, string service, string server, Exception exception);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
            Message = "{Service}: dsr-probe falls back to probing the own address of {Servers}, so a server that lost the VIP is not caught: {Reason}")]
        public static partial void DsrProbeFallback(ILogger logger, string service, string servers, string reason);

        [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "{Service}/{Server} change observer failed")]
        public static partial void ObserverFailed(ILogger logger, string service, string server, Exception exception);

        [LoggerMessage(EventId = 7, Level = LogLevel.Information,
            Message = "dsr-probe: policy routes for {Servers} servers and {Pairs} server/VIP pairs (rule priority {Priority}, fwmark {FirstMark} and up, tables {FirstTable} and up)")]
        public static partial void DsrRoutesInstalled(ILogger logger, int servers, int pairs, int priority, string firstMark, int firstTable);

        [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "dsr-probe: removed {Count} policy rules left by an earlier run")]
        public static partial void DsrStaleRoutesRemoved(ILogger logger, int count);

        [LoggerMessage(EventId = 9, Level = LogLevel.Debug, Message = "dsr-probe: policy routes removed")]
        public static partial void DsrRoutesRemoved(ILogger logger);

        [LoggerMessage(EventId = 10, Level = LogLevel.Information,
            Message = "dsr-probe: the VIP {Vip} is an address of this host (own-vips = false, this appliance holds it): its checks probe each server's own address while it stays")]
        public static partial void VipIsLocal(ILogger logger, string vip);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information,
            Message = "dsr-probe: the VIP {Vip} is no longer an address of this host: its checks probe through the VIP again")]
        public static partial void VipLeft(ILogger logger, string vip);

        public static void Changed(ILogger logger, HealthChange change)
        {
            if (change.Current == HealthState.Down)
            {
                ServerDown(logger, change.Service, change.Server, change.Reason);
            }
            else
            {
                ServerUp(logger, change.Service, change.Server, change.Reason);
            }
        }

        public static void Probed(ILogger logger, string service, string server, ProbeResult result) =>
            Probed(logger, service, server, result.Healthy, result.Detail);
    }
}
