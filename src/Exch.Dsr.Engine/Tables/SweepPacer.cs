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

    /// <param name="intervalNs">1 ns to 60 s, so that the credit stays within a long for up to 2^25 units.</param>
    public int Due(long nowNs, long intervalNs, int units, int budget)
    {
        var elapsed = Math.Clamp(nowNs - _atNs, 0, intervalNs);
        _atNs = nowNs;
        var credit = _credit + (elapsed * units);

        // Counted off rather than divided: at most budget + 1 steps, usually none or one, where a 64-bit division
        // on every frame cost more than the sweep it paces.
        var due = 0;
        while (credit >= intervalNs)
        {
            if (due == budget)
            {
                _credit = 0;
                return budget;
            }

            credit -= intervalNs;
            due++;
        }

        _credit = credit;
        return due;
    }
}
