namespace Exch.Dsr.Control;

/// <summary>
/// What the control socket can ask of a running exch-dsr. Implemented by the service host over the live data plane;
/// the socket server only translates requests to these calls and their results to tables or JSON.
/// </summary>
/// <remarks>
/// Every method may be called from any thread, concurrently. Reads of the forwarding tables are served by the
/// forwarding thread between two batches, so they are consistent per thread and never lock the packet path.
/// Administrative changes and reloads publish a new routing snapshot before they return.
/// </remarks>
public interface IClusterControl
{
    /// <summary>Every service with its members, their state, weight, connection and persistence counts and rates.</summary>
    Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken);

    /// <summary>Tracked connections matching <paramref name="filter"/> (at most <see cref="TableFilter.Limit"/>).</summary>
    Task<IReadOnlyList<ConnectionRow>> ListConnectionsAsync(TableFilter filter, CancellationToken cancellationToken);

    /// <summary>Persistence entries matching <paramref name="filter"/> (at most <see cref="TableFilter.Limit"/>).</summary>
    Task<IReadOnlyList<PersistenceRow>> ListPersistenceAsync(TableFilter filter, CancellationToken cancellationToken);

    /// <summary>Drains, disables or enables <paramref name="server"/> in every service, or in <paramref name="service"/> only.</summary>
    Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service, CancellationToken cancellationToken);

    /// <summary>Sets <paramref name="server"/>'s weight (0 to 65535) everywhere, or in <paramref name="service"/> only.</summary>
    Task<ControlResult> SetWeightAsync(string server, int weight, string? service, CancellationToken cancellationToken);

    /// <summary>Re-reads the configuration file; on any error the running configuration stays and every error is returned.</summary>
    Task<ControlResult> ReloadAsync(CancellationToken cancellationToken);
}

public enum AdminAction
{
    Drain,
    Disable,
    Enable,
}

/// <summary>The outcome of a change: <see cref="Ok"/> with what changed, or the reasons it was refused (unknown server, bad file...).</summary>
public sealed record ControlResult(bool Ok, string Message, IReadOnlyList<string> Errors)
{
    public static ControlResult Success(string message) => new(true, message, []);

    public static ControlResult Failure(string message, IReadOnlyList<string>? errors = null) => new(false, message, errors ?? []);
}

/// <summary>Restricts a table listing; null fields match everything. <see cref="Client"/> is an address or a CIDR prefix.</summary>
public sealed record TableFilter(string? Service = null, string? Server = null, string? Client = null, int Limit = 10000);

/// <summary>The state of a running exch-dsr.</summary>
/// <param name="Interface">The data interface.</param>
/// <param name="Backend">pcap or ring.</param>
/// <param name="ConfigFile">The file the running configuration came from.</param>
/// <param name="ConfigLoadedAt">When it was (re)loaded, UTC.</param>
/// <param name="StartedAt">When the forwarder started, UTC.</param>
/// <param name="Services">In configuration order.</param>
public sealed record ClusterStatus(
    string Interface,
    string Backend,
    string ConfigFile,
    DateTimeOffset ConfigLoadedAt,
    DateTimeOffset StartedAt,
    IReadOnlyList<ServiceStatus> Services,
    DataPlaneTotals Totals);

/// <param name="Name">The service's name.</param>
/// <param name="Protocol">tcp or udp.</param>
/// <param name="Vip">The virtual address.</param>
/// <param name="Ports">Its ports, as configured (e.g. "135,7575,7576").</param>
/// <param name="Scheduler">rr, wrr, lc, wlc, sh or mh.</param>
/// <param name="Persistence">Persistence timeout, null when the service has none.</param>
/// <param name="PersistenceEntries">Persistence entries of the service's domain.</param>
/// <param name="Members">In configuration order.</param>
public sealed record ServiceStatus(
    string Name,
    string Protocol,
    string Vip,
    string Ports,
    string Scheduler,
    TimeSpan? Persistence,
    int PersistenceEntries,
    IReadOnlyList<MemberStatus> Members);

/// <param name="Server">The real server's name.</param>
/// <param name="Address">Its real IP.</param>
/// <param name="Mac">Its MAC, null while unresolved.</param>
/// <param name="State">up, down, drained, disabled or unresolved: what the engine uses.</param>
/// <param name="Health">The health check's view (up, down, unknown), null when the service has no check.</param>
/// <param name="HealthReason">The last check's result, e.g. "https /owa: body lacks 'utlook' (3 of 3)".</param>
/// <param name="Weight">The weight in use (0 when drained).</param>
/// <param name="ActiveConnections">Established connections.</param>
/// <param name="InactiveConnections">Connections in other states.</param>
/// <param name="PersistenceEntries">Persistence entries pointing at this member.</param>
/// <param name="Packets">Frames forwarded to this member since start.</param>
/// <param name="Bytes">Bytes forwarded to this member since start.</param>
/// <param name="PacketsPerSecond">Over the last sampling interval (about 2 s).</param>
/// <param name="BitsPerSecond">Over the last sampling interval (about 2 s).</param>
public sealed record MemberStatus(
    string Server,
    string Address,
    string? Mac,
    string State,
    string? Health,
    string? HealthReason,
    int Weight,
    int ActiveConnections,
    int InactiveConnections,
    int PersistenceEntries,
    long Packets,
    long Bytes,
    double PacketsPerSecond,
    double BitsPerSecond);

/// <summary>Totals over the forwarding threads.</summary>
public sealed record DataPlaneTotals(long Forwarded, long Dropped, long Answered, long NotOurs, long KernelDropped, long SendFailures, int Connections)
{
    /// <summary>Connections the forwarding threads track at most, together; 0 when not known.</summary>
    public long ConnectionCapacity { get; init; }
}

/// <summary>One connection, as <c>ipvsadm -Lnc</c> shows it.</summary>
/// <param name="Protocol">tcp or udp.</param>
/// <param name="State">ESTABLISHED, SYN_RECV, FIN_WAIT, CLOSE, UDP...</param>
/// <param name="Expires">Time left before it expires.</param>
public sealed record ConnectionRow(string Protocol, string State, TimeSpan Expires, string Client, string Vip, string Server, string Service);

/// <summary>One persistence entry (an LVS template): client (masked) to server, within a persistence domain.</summary>
/// <param name="Connections">Live connections through it; the entry cannot expire while there are any.</param>
public sealed record PersistenceRow(string Service, string Client, string Server, TimeSpan Expires, int Connections);
