using System.Collections.Frozen;

namespace Exch.Dsr.Engine.Scheduling;

/// <summary>The LVS scheduling algorithms the engine implements.</summary>
public enum SchedulerKind : byte
{
    RoundRobin,
    WeightedRoundRobin,
    LeastConnection,
    WeightedLeastConnection,
    SourceHash,
    Maglev,
}

/// <summary>The scheduler policies by kind and by their LVS names (rr, wrr, lc, wlc, sh, mh).</summary>
public static class Schedulers
{
    private static readonly IScheduler[] ByKindTable =
    [
        new RoundRobinScheduler(),
        new WeightedRoundRobinScheduler(),
        new LeastConnectionScheduler(),
        new WeightedLeastConnectionScheduler(),
        new SourceHashScheduler(),
        new MaglevScheduler(),
    ];

    public static FrozenDictionary<string, IScheduler> ByName { get; } =
        ByKindTable.ToFrozenDictionary(s => s.Name, StringComparer.OrdinalIgnoreCase);

    public static IScheduler Get(SchedulerKind kind) => ByKindTable[(int)kind];

    public static bool TryParse(string name, out SchedulerKind kind)
    {
        if (ByName.TryGetValue(name, out var scheduler))
        {
            kind = scheduler.Kind;
            return true;
        }

        kind = default;
        return false;
    }
}
