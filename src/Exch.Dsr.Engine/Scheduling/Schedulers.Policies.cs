using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Scheduling;

/// <summary>LVS <c>rr</c>: candidates in turn, weights ignored beyond "0 takes no new clients".</summary>
public sealed class RoundRobinScheduler : IScheduler
{
    public SchedulerKind Kind => SchedulerKind.RoundRobin;

    public string Name => "rr";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames) => null;

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var candidates = service.Candidates;
        if (candidates.Length == 0)
        {
            return -1;
        }

        var index = (uint)cursor.Position < (uint)candidates.Length ? cursor.Position : 0;
        cursor.Position = index + 1 == candidates.Length ? 0 : index + 1;
        return candidates[index];
    }
}

/// <summary>
/// LVS <c>wrr</c> (<c>ip_vs_wrr.c</c>): walk the list repeatedly, lowering a threshold by the gcd of the weights each
/// time the walk wraps (back to the maximum weight when it reaches 0), picking members whose weight reaches it.
/// Weights 4, 3, 2 give A A B A B C A B C per cycle.
/// </summary>
public sealed class WeightedRoundRobinScheduler : IScheduler
{
    public SchedulerKind Kind => SchedulerKind.WeightedRoundRobin;

    public string Name => "wrr";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames) => null;

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var candidates = service.Candidates;
        var weights = service.CandidateWeights;
        var n = candidates.Length;
        if (n == 0 || service.MaxWeight <= 0)
        {
            return -1;
        }

        // Every candidate has weight >= gcd, so one full threshold cycle always finds one; the bound only guards
        // against a corrupted cursor.
        var limit = (n * ((service.MaxWeight / service.WeightGcd) + 1)) + 1;
        var position = (uint)cursor.Position <= (uint)n ? cursor.Position : 0;
        var currentWeight = cursor.CurrentWeight;
        for (var step = 0; step < limit; step++)
        {
            if (position == 0 || position == n)
            {
                position = 1;
                currentWeight -= service.WeightGcd;
                if (currentWeight <= 0)
                {
                    currentWeight = service.MaxWeight;
                }
            }
            else
            {
                position++;
            }

            if (weights[position - 1] >= currentWeight)
            {
                cursor.Position = position;
                cursor.CurrentWeight = currentWeight;
                return candidates[position - 1];
            }
        }

        return -1;
    }
}

/// <summary>LVS <c>lc</c>: least overhead (active × 256 + inactive); the first such candidate wins ties.</summary>
public sealed class LeastConnectionScheduler : IScheduler
{
    public SchedulerKind Kind => SchedulerKind.LeastConnection;

    public string Name => "lc";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames) => null;

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var best = -1;
        var bestOverhead = long.MaxValue;
        foreach (var id in service.Candidates)
        {
            var overhead = input.Overhead(id);
            if (overhead < bestOverhead)
            {
                best = id;
                bestOverhead = overhead;
            }
        }

        return best;
    }
}

/// <summary>
/// LVS <c>wlc</c>: least overhead / weight, compared by cross-multiplication (<c>loh * dw &gt; doh * lw</c>) so no
/// division or floating point is involved; the first such candidate wins ties.
/// </summary>
public sealed class WeightedLeastConnectionScheduler : IScheduler
{
    public SchedulerKind Kind => SchedulerKind.WeightedLeastConnection;

    public string Name => "wlc";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames) => null;

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var candidates = service.Candidates;
        var weights = service.CandidateWeights;
        var best = -1;
        long bestOverhead = 0;
        long bestWeight = 0;
        for (var i = 0; i < candidates.Length; i++)
        {
            var overhead = input.Overhead(candidates[i]);
            if (best < 0 || (bestOverhead * weights[i]) > (overhead * bestWeight))
            {
                best = candidates[i];
                bestOverhead = overhead;
                bestWeight = weights[i];
            }
        }

        return best;
    }
}

/// <summary>
/// LVS <c>sh</c>: a 256-bucket table filled round-robin with each member repeated weight times
/// (<c>ip_vs_sh_reassign</c>), indexed by a fixed hash of the full client address.
/// </summary>
public sealed class SourceHashScheduler : IScheduler
{
    public const int TableSize = 256;

    public SchedulerKind Kind => SchedulerKind.SourceHash;

    public string Name => "sh";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames)
    {
        var table = new int[TableSize];
        if (serverIds.Length == 0)
        {
            Array.Fill(table, -1);
            return table;
        }

        var member = 0;
        var used = 0;
        for (var i = 0; i < TableSize; i++)
        {
            table[i] = serverIds[member];
            if (++used >= weights[member])
            {
                member = member + 1 == serverIds.Length ? 0 : member + 1;
                used = 0;
            }
        }

        return table;
    }

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var table = service.LookupTable;
        return table.IsEmpty ? -1 : table[(int)(input.Client.StableHash() % TableSize)];
    }
}
