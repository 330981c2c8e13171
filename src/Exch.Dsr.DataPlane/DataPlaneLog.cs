using System.Net;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.DataPlane;

/// <summary>The data plane's log lines, with fixed event ids. None is written per packet: frames are counted instead.</summary>
internal static partial class DataPlaneLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Forwarding on {Interface} with the {Backend} backend, appliance MAC {Mac}, {Services} services, {Servers} servers; own-vips {OwnVips}")]
    public static partial void Started(ILogger logger, string @interface, string backend, string mac, int services, int servers, bool ownVips);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Start-up check {Check}: {Message}")]
    public static partial void CheckWarning(ILogger logger, string check, string message);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Start-up check {Check}: {Message}")]
    public static partial void CheckOk(ILogger logger, string check, string message);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Capture: {Message}")]
    public static partial void PortWarning(ILogger logger, string message);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "threads = {Threads}: the live data plane runs one forwarding thread for now (persistence tables are per engine, and a fanout that hashes flows would split one client's connections across engines)")]
    public static partial void SingleThreadOnly(ILogger logger, int threads);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Server {Server} ({Address}) has no known MAC yet and is kept out of the routing snapshot until it answers ARP (IPv4) or neighbour discovery (IPv6)")]
    public static partial void ServerUnresolved(ILogger logger, string server, IPAddress address);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Server {Server} ({Address}) is at {Mac} (learned from ARP or neighbour discovery); it is in the routing snapshot")]
    public static partial void ServerResolved(ILogger logger, string server, IPAddress address, string mac);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Server {Server} ({Address}) moved from {Previous} to {Mac}; frames now go to the new MAC")]
    public static partial void ServerMoved(ILogger logger, string server, IPAddress address, string previous, string mac);

    [LoggerMessage(EventId = 14, Level = LogLevel.Debug, Message = "Published a routing snapshot with {Servers} of {Configured} servers")]
    public static partial void SnapshotPublished(ILogger logger, int servers, int configured);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "Announcing {Vips} VIPs with gratuitous ARP")]
    public static partial void GratuitousArpSent(ILogger logger, int vips);

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "The forwarding thread on {Interface} stopped: {Message}")]
    public static partial void WorkerFailed(ILogger logger, string @interface, string message, Exception exception);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "The neighbour resolver failed: {Message}")]
    public static partial void ResolverFailed(ILogger logger, string message, Exception exception);

    [LoggerMessage(EventId = 22, Level = LogLevel.Information, Message = "Stopped forwarding on {Interface}")]
    public static partial void Stopped(ILogger logger, string @interface);
}
