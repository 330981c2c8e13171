namespace Exch.Dsr.Engine.Tables;

/// <summary>
/// Turns packet time into sweep work: how many units (slots, entries) to examine on this call so that a sweep covers
/// a table once per interval however many frames arrive, and never more than a budget per call. A frame that gets
/// the whole budget drops the rest of the credit: after a pause, catching up at full budget would be a burst of work
/// for nothing, since lookups expire what they meet anyway.
/// </summary>
internal struct SweepPacer
{
    private long _atNs;

    // Slot-nanoseconds (units × ns), so that fractions of a unit per frame add up.
    private long _credit;

    /// <param name="intervalNs">1 ns to 60 s, so that the credit stays within a long for up to 1.5 × 10^8 units.</param>
    public int Due(long nowNs, long intervalNs, int units, int budget)
    {
        var elapsed = Math.Clamp(nowNs - _atNs, 0, intervalNs);
        _atNs = nowNs;
        var credit = _credit + (elapsed * units);

        // Usually nothing or one unit is due: those cases are a comparison each, where a 64-bit division on every
        // frame cost more than the sweep it paces. The division is left for the frames after a gap.
        if (credit < intervalNs)
        {
            _credit = credit;
            return 0;
        }

        if (credit >= SaturatingProduct(budget + 1L, intervalNs))
        {
            _credit = 0;
            return budget;
        }

        var due = credit < 2 * intervalNs ? 1 : (int)(credit / intervalNs);
        _credit = credit - (due * intervalNs);
        return due;
    }

    private static long SaturatingProduct(long a, long b)
    {
        var high = Math.BigMul(a, b, out long low);
        return high != 0 || low < 0 ? long.MaxValue : low;
    }
}
