using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.Engine.Forwarding;

/// <summary>Engine-wide event counters. Values index the counter array, so keep them dense.</summary>
public enum EngineEvent : byte
{
    NewConnections,
    NewPersistenceEntries,
    Redispatches,
    SorryForwards,
    FragmentsFollowed,
    ConnectionExpirations,
    ConnectionTableRejections,
    PersistenceExpirations,
    PersistenceEvictions,
    PersistenceRejections,
    FragmentEvictions,
    SnapshotsAdopted,

    /// <summary>ICMP errors passed to the server of the flow they quote (forwarded with reason IcmpError).</summary>
    IcmpErrorsForwarded,
}

/// <summary>Counters per service per server. Values index the per-member counter block.</summary>
public enum MemberCounter : byte
{
    Frames,
    Bytes,
    NewConnections,
    NewPersistenceEntries,
    Redispatches,
}

/// <summary>
/// A copy of an engine's counters, filled by <see cref="ForwardingEngine.CopyCountersTo"/>. Reuse one instance:
/// copying allocates only when the number of services or servers grew since the last copy.
/// </summary>
public sealed class EngineCountersSnapshot
{
    internal static readonly int VerdictCount = Enum.GetValues<ForwardVerdict>().Length;
    internal static readonly int MalformedCount = Enum.GetValues<MalformedReason>().Length;
    internal static readonly int EventCount = Enum.GetValues<EngineEvent>().Length;
    internal static readonly int MemberCounterCount = Enum.GetValues<MemberCounter>().Length;

    internal long[] Verdicts { get; } = new long[VerdictCount];

    internal long[] MalformedReasons { get; } = new long[MalformedCount];

    internal long[] Events { get; } = new long[EventCount];

    internal long[] Members { get; set; } = [];

    internal int[] MemberActive { get; set; } = [];

    internal int[] MemberInactive { get; set; } = [];

    internal int[] MemberPersistence { get; set; } = [];

    internal int[] ServicePersistence { get; set; } = [];

    public int ServiceIdCapacity { get; internal set; }

    public int ServerIdCapacity { get; internal set; }

    public long Verdict(ForwardVerdict verdict) => Verdicts[(int)verdict];

    public long Malformed(MalformedReason reason) => MalformedReasons[(int)reason];

    public long Event(EngineEvent engineEvent) => Events[(int)engineEvent];

    public long Member(int serviceId, int serverId, MemberCounter counter)
        => (uint)serviceId < (uint)ServiceIdCapacity && (uint)serverId < (uint)ServerIdCapacity
            ? Members[(((serviceId * ServerIdCapacity) + serverId) * MemberCounterCount) + (int)counter]
            : 0;

    /// <summary>ESTABLISHED connections of the service on the server (the connection table's entries, swept or not).</summary>
    public int ActiveConnections(int serviceId, int serverId) => TableCount(MemberActive, serviceId, serverId);

    /// <summary>Connections of the service on the server in every other state.</summary>
    public int InactiveConnections(int serviceId, int serverId) => TableCount(MemberInactive, serviceId, serverId);

    /// <summary>Persistence entries of the service that send its clients to the server.</summary>
    public int PersistenceEntries(int serviceId, int serverId) => TableCount(MemberPersistence, serviceId, serverId);

    /// <summary>Entries in the service's persistence table (0 when the service is not persistent).</summary>
    public int PersistenceEntries(int serviceId)
        => (uint)serviceId < (uint)ServicePersistence.Length ? ServicePersistence[serviceId] : 0;

    /// <summary>Total frames handled.</summary>
    public long Frames
    {
        get
        {
            long total = 0;
            foreach (var v in Verdicts)
            {
                total += v;
            }

            return total;
        }
    }

    private int TableCount(int[] counts, int serviceId, int serverId)
        => (uint)serviceId < (uint)ServiceIdCapacity && (uint)serverId < (uint)ServerIdCapacity
            ? counts[(serviceId * ServerIdCapacity) + serverId]
            : 0;
}
