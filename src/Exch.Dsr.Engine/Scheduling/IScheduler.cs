using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Scheduling;

/// <summary>
/// A scheduling policy. Implementations are stateless singletons shared by every engine: build-time work (lookup
/// tables) happens in <see cref="BuildLookupTable"/> while the snapshot is built, and the little state a policy keeps
/// between picks (the rr/wrr position) lives in a <see cref="SchedulerCursor"/> owned by each engine, so engines on
/// different threads never share mutable state.
/// </summary>
public interface IScheduler
{
    SchedulerKind Kind { get; }

    /// <summary>The LVS name: rr, wrr, lc, wlc, sh, mh.</summary>
    string Name { get; }

    /// <summary>
    /// Precomputes a table of server ids for the hash policies (sh, mh); null for the others.
    /// <paramref name="serverIds"/>, <paramref name="weights"/> and <paramref name="serverNames"/> describe the members
    /// that may take new clients (weight &gt; 0), in configuration order.
    /// </summary>
    int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames);

    /// <summary>Picks a server id among <see cref="ServiceRoute.Candidates"/>, or -1 when there is none.</summary>
    int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor);
}

/// <summary>What a policy may look at: the client (for hashing) and the per-server connection counts (for lc/wlc).</summary>
public readonly ref struct SchedulingInput
{
    public SchedulingInput(IpAddress128 client, ReadOnlySpan<int> activeByServer, ReadOnlySpan<int> inactiveByServer)
    {
        Client = client;
        ActiveByServer = activeByServer;
        InactiveByServer = inactiveByServer;
    }

    public IpAddress128 Client { get; }

    /// <summary>Established connections by server id.</summary>
    public ReadOnlySpan<int> ActiveByServer { get; }

    /// <summary>Connections in any other state by server id.</summary>
    public ReadOnlySpan<int> InactiveByServer { get; }

    /// <summary>LVS's <c>ip_vs_dest_conn_overhead</c>: active connections weigh 256 inactive ones.</summary>
    public long Overhead(int serverId)
        => ((long)(serverId < ActiveByServer.Length ? ActiveByServer[serverId] : 0) << 8)
           + (serverId < InactiveByServer.Length ? InactiveByServer[serverId] : 0);
}

/// <summary>Per-engine, per-service scheduler position. The default value is the start position.</summary>
public struct SchedulerCursor
{
    /// <summary>rr: the next candidate index. wrr: 1 + the last candidate index, 0 meaning the list head.</summary>
    public int Position;

    /// <summary>wrr: the current weight threshold.</summary>
    public int CurrentWeight;
}
