namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// Hash functions whose output is fixed across processes and machines. Tables and schedulers use these instead of
/// <see cref="string.GetHashCode()"/> (randomized per process) so two appliances with one configuration agree.
/// </summary>
public static class StableHashing
{
    /// <summary>The SplitMix64 finalizer: every input bit affects every output bit.</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xBF58_476D_1CE4_E5B9UL;
        x ^= x >> 27;
        x *= 0x94D0_49BB_1331_11EBUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>FNV-1a over the UTF-16 code units of <paramref name="text"/>, seeded, then mixed.</summary>
    public static ulong HashString(string text, ulong seed)
    {
        var hash = 0xCBF2_9CE4_8422_2325UL ^ seed;
        foreach (var c in text)
        {
            hash = (hash ^ (byte)c) * 0x0000_0100_0000_01B3UL;
            hash = (hash ^ (byte)(c >> 8)) * 0x0000_0100_0000_01B3UL;
        }

        return Mix(hash);
    }
}
