using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Scheduling;

/// <summary>
/// LVS <c>mh</c>: Maglev consistent hashing (Eisenbud et al., NSDI 2016) over a prime table of
/// <see cref="TableSize"/> entries. Each member's permutation (offset, skip) comes from a fixed hash of its NAME, so
/// two appliances with one configuration build identical tables, and a member keeps its permutation when others come
/// and go: removing one of N members moves about 1/N of the clients. Weights work as in <c>ip_vs_mh</c>: in every
/// round a member claims weight/gcd slots instead of one.
/// </summary>
public sealed class MaglevScheduler : IScheduler
{
    /// <summary>Prime, and larger than 100 × any sensible member count, which keeps the load imbalance near 1%.</summary>
    public const int TableSize = 65537;

    /// <summary>Caps the turns per round so a huge weight ratio cannot make one round fill the table by itself.</summary>
    private const int MaxTurns = 256;

    private const ulong OffsetSeed = 0x6D68_6F66_6673_6574UL;
    private const ulong SkipSeed = 0x6D68_736B_6970_7321UL;

    public SchedulerKind Kind => SchedulerKind.Maglev;

    public string Name => "mh";

    public int[]? BuildLookupTable(ReadOnlySpan<int> serverIds, ReadOnlySpan<int> weights, IReadOnlyList<string> serverNames)
    {
        var table = new int[TableSize];
        Array.Fill(table, -1);
        var n = serverIds.Length;
        if (n == 0)
        {
            return table;
        }

        var gcd = 0;
        var maxWeight = 0;
        foreach (var w in weights)
        {
            gcd = Gcd(gcd, w);
            maxWeight = Math.Max(maxWeight, w);
        }

        var offsets = new long[n];
        var skips = new long[n];
        var next = new long[n];
        var turns = new int[n];
        for (var i = 0; i < n; i++)
        {
            offsets[i] = (long)(StableHashing.HashString(serverNames[i], OffsetSeed) % TableSize);
            skips[i] = (long)(StableHashing.HashString(serverNames[i], SkipSeed) % (TableSize - 1)) + 1;
            var t = weights[i] / gcd;
            turns[i] = maxWeight / gcd > MaxTurns ? Math.Max(1, (int)((long)t * MaxTurns / (maxWeight / gcd))) : t;
        }

        var filled = 0;
        while (true)
        {
            for (var i = 0; i < n; i++)
            {
                for (var turn = 0; turn < turns[i]; turn++)
                {
                    // Skip is in [1, M-1] and M is prime, so the permutation visits every slot within M steps.
                    long slot;
                    do
                    {
                        slot = (offsets[i] + (next[i] * skips[i])) % TableSize;
                        next[i]++;
                    }
                    while (table[slot] >= 0);

                    table[slot] = serverIds[i];
                    if (++filled == TableSize)
                    {
                        return table;
                    }
                }
            }
        }
    }

    public int Select(ServiceRoute service, in SchedulingInput input, ref SchedulerCursor cursor)
    {
        var table = service.LookupTable;
        return table.IsEmpty ? -1 : table[(int)(input.Client.StableHash() % TableSize)];
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
