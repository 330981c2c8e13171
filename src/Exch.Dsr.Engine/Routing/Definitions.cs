using System.Net;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.Engine.Routing;

/// <summary>A real server. <see cref="Name"/> is its identity: ids, counters and table entries follow it across reloads.</summary>
public sealed record RealServer(string Name, IPAddress Address, MacAddress Mac);

/// <summary>A server's membership of one virtual service with that service's weight (0 = no new clients).</summary>
public sealed record ServiceMember(string Server, int Weight = 1);

public enum TransportProtocol : byte
{
    Tcp = IpProtocols.Tcp,
    Udp = IpProtocols.Udp,
}

/// <summary>What a service does with clients and connections of a member whose health check fails.</summary>
public enum OnDownBehavior : byte
{
    /// <summary>No new clients; existing connections and persistent clients stay (LVS quiescent weight 0).</summary>
    Quiesce,

    /// <summary>No new clients; existing connections stay, persistence entries expire so returning clients move.</summary>
    QuiesceExpire,

    /// <summary>Everything moves: connections and persistent clients are re-dispatched on their next packet.</summary>
    ShutdownSessions,
}

/// <summary>
/// Idle timeouts per connection state. Defaults are LVS's (<c>ip_vs_proto_tcp.c</c> <c>tcp_timeouts</c>,
/// <c>ip_vs_proto_udp.c</c>).
/// </summary>
public sealed record ConnectionTimeouts
{
    public static ConnectionTimeouts Lvs { get; } = new();

    public TimeSpan TcpNone { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan TcpEstablished { get; init; } = TimeSpan.FromSeconds(900);

    public TimeSpan TcpSynSent { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan TcpSynReceived { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan TcpFinWait { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan TcpTimeWait { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan TcpClose { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan TcpCloseWait { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan TcpLastAck { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan TcpListen { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan TcpSynAck { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan Udp { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>The timeout of <paramref name="state"/>.</summary>
    public TimeSpan For(ConnectionState state) => state switch
    {
        ConnectionState.Established => TcpEstablished,
        ConnectionState.SynSent => TcpSynSent,
        ConnectionState.SynReceived => TcpSynReceived,
        ConnectionState.FinWait => TcpFinWait,
        ConnectionState.TimeWait => TcpTimeWait,
        ConnectionState.Close => TcpClose,
        ConnectionState.CloseWait => TcpCloseWait,
        ConnectionState.LastAck => TcpLastAck,
        ConnectionState.Listen => TcpListen,
        ConnectionState.SynAck => TcpSynAck,
        ConnectionState.Udp => Udp,
        _ => TcpNone,
    };
}

/// <summary>
/// Connection states: LVS's TCP states in LVS's order (the transition table is indexed by them) plus one for UDP.
/// </summary>
public enum ConnectionState : byte
{
    None,
    Established,
    SynSent,
    SynReceived,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
    Udp,
}

/// <summary>
/// A virtual service: one VIP, one protocol, one or more ports. All ports of a service form one persistence domain,
/// so a client persisted on port 443 lands on the same server on port 80 (LVS port-0 / firewall-mark services).
/// Engine-side definition, independent of any configuration file format.
/// </summary>
public sealed record VirtualService
{
    public const int DefaultPersistenceTableSize = 65536;

    public required string Name { get; init; }

    public required IPAddress Vip { get; init; }

    public TransportProtocol Protocol { get; init; } = TransportProtocol.Tcp;

    public required IReadOnlyList<ushort> Ports { get; init; }

    public SchedulerKind Scheduler { get; init; } = SchedulerKind.WeightedLeastConnection;

    /// <summary>Persistence idle timeout; null disables persistence.</summary>
    public TimeSpan? PersistenceTimeout { get; init; }

    /// <summary>Client prefix sharing one persistence entry: 0-32 for an IPv4 VIP, 0-128 for IPv6. Null = whole address.</summary>
    public int? PersistencePrefixLength { get; init; }

    public int PersistenceTableSize { get; init; } = DefaultPersistenceTableSize;

    public IReadOnlyList<ServiceMember> Members { get; init; } = [];

    public OnDownBehavior OnDown { get; init; } = OnDownBehavior.Quiesce;

    public ConnectionTimeouts Timeouts { get; init; } = ConnectionTimeouts.Lvs;

    /// <summary>Schedule TCP flows first seen mid-stream (LVS <c>sloppy_tcp</c>) instead of dropping them.</summary>
    public bool Sloppy { get; init; }

    /// <summary>A real server name used when no member is usable; null drops such traffic.</summary>
    public string? SorryServer { get; init; }
}

/// <summary>
/// Health and administrative state of a real server: per server (every service it is a member of) or per member
/// (one service, see <see cref="MemberKey"/>).
/// </summary>
public enum ServerState : byte
{
    /// <summary>Takes new clients.</summary>
    Up,

    /// <summary>Failed health checks; the service's <see cref="OnDownBehavior"/> decides what happens.</summary>
    Down,

    /// <summary>No new clients; existing connections and persistent clients stay.</summary>
    Drained,

    /// <summary>Out of service: connections and persistent clients are re-dispatched.</summary>
    Disabled,
}

/// <summary>
/// The live state of one server as the control plane sees it; a weight override replaces the member's configured
/// weight (in every service for a per-server status, in one service for a per-member status).
/// </summary>
public readonly record struct ServerStatus(ServerState State, int? WeightOverride = null);

/// <summary>
/// One server in one service, the key of a per-member <see cref="ServerStatus"/>: health checks run per service (a CAS
/// can fail its OWA check while its RPC ports answer) and an operator can drain or disable a server in one service.
/// </summary>
public readonly record struct MemberKey(string Service, string Server);
