namespace Exch.Dsr.Engine.Forwarding;

/// <summary>
/// Table capacities and per-call work budgets of one engine. Everything is allocated at construction; a table takes
/// resident memory only as entries arrive (empty is all zeros), never more than its capacity.
/// </summary>
public sealed record ForwardingEngineOptions
{
    /// <summary>
    /// Live connections at most (at most 16,777,215), of either address family: four 32-byte IPv4 slots and two 64-byte
    /// IPv6 slots each, with an 8-byte persistence link per slot, so 1M connections reserve 160 MiB for IPv4 flows and
    /// 144 MiB for IPv6 flows, each taken only as flows of that family arrive.
    /// </summary>
    public int ConnectionCapacity { get; init; } = 1 << 20;

    public int FragmentCapacity { get; init; } = 4096;

    public TimeSpan FragmentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Mixed into the hashes that place entries in the connection, persistence and fragment tables, so that a sender
    /// who knows this code cannot pick source addresses and ports that all land in one probe cluster or bucket chain
    /// and make every lookup walk it (LVS seeds its connection hash with a random ip_vs_conn_rnd for the same
    /// reason). 0, the default, keeps replays and tests reproducible; the live forwarder draws one at random per
    /// thread. It changes where entries sit and so the order the sweeps reach them; lc and wlc count connections
    /// not yet swept, so only their picks can come out differently under another seed.
    /// </summary>
    public ulong TableHashSeed { get; init; }

    /// <summary>
    /// Connection-sweep units examined for expiry per clock reading, at most (more after a gap, with
    /// <see cref="SweepAfterQuietGaps"/>): a unit is a cache line of slots (two IPv4 slots, one IPv6 slot), and a whole
    /// empty word of the occupancy bitmap counts as <see cref="Tables.ConnectionTable.EmptyWordUnits"/>.
    /// </summary>
    public int ConnectionSweepBudget { get; init; } = 8;

    /// <summary>
    /// Persistence entries examined for expiry per clock reading, at most (the persistent services in turn; more after
    /// a gap, with <see cref="SweepAfterQuietGaps"/>).
    /// </summary>
    public int PersistenceSweepBudget { get; init; } = 4;

    /// <summary>
    /// After a gap in the traffic the sweeps may examine one unit per 2.5 µs of it, up to 128 budgets, instead of one
    /// budget: at ten frames a second a lap over two million slots then takes minutes, not hours, so lc and wlc do not
    /// count expired connections for hours on a quiet appliance. For the live forwarder, whose thread was idle in the
    /// gap; replay leaves it off, since a gap between a capture's timestamps is not time the replay had to spare.
    /// </summary>
    public bool SweepAfterQuietGaps { get; init; }

    /// <summary>
    /// The expiry sweeps go over the connection table, and over each persistence table, once per this much packet
    /// time (at most 60 s): a frame examines what came due since the last one, within the budgets above. Sweeping
    /// follows time, not traffic: at millions of frames a second a fixed number of slots per frame would read the
    /// whole table many times a second, a cache line per slot, to find nothing.
    /// </summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Called once with the address and length in bytes of the connection slots (the table every lookup reads a
    /// random line of), before anything is written there. The live forwarder asks the kernel for huge pages over it,
    /// so that at a million clients a lookup does not also walk the page tables; the engine itself makes no system
    /// calls. Null (replay, tests): the memory is left as allocated.
    /// </summary>
    public Action<nint, nuint>? ConnectionTableMemory { get; init; }
}
