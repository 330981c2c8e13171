namespace Exch.Dsr.Capture.Files;

/// <summary>What a pcapng interface description block says about the packets of that interface.</summary>
internal readonly struct PcapNgInterface
{
    /// <summary>if_tsresol when the option is absent: microseconds.</summary>
    public const byte DefaultResolution = 6;

    /// <summary>10^-28 s ticks still divide down to nanoseconds with a divisor (10^19) that fits in 64 bits.</summary>
    public const int MaxDecimalExponent = 28;

    private const ulong NsPerSecond = 1_000_000_000;
    private const int BinaryFlag = 0x80;

    // Exactly one conversion applies: ticks multiplied by _multiplier (resolutions of 1 ns or coarser), divided
    // by _divisor (finer decimal ones), or, when _binaryExponent >= 0, ticks * 10^9 / 2^_binaryExponent.
    private readonly ulong _multiplier;
    private readonly ulong _divisor;
    private readonly int _binaryExponent;
    private readonly long _offsetNs;

    /// <param name="resolution">if_tsresol: 10^-value seconds per tick, or 2^-(value &amp; 0x7f) when the top bit is set.</param>
    /// <param name="offsetSeconds">if_tsoffset: seconds to add to every timestamp.</param>
    public PcapNgInterface(uint snapLength, byte resolution, long offsetSeconds)
    {
        SnapLength = snapLength;
        _offsetNs = offsetSeconds * (long)NsPerSecond;
        _multiplier = 1;
        _divisor = 1;
        _binaryExponent = -1;
        if ((resolution & BinaryFlag) != 0)
            _binaryExponent = resolution & ~BinaryFlag;
        else if (resolution <= 9)
            _multiplier = PowerOf10(9 - resolution);
        else
            _divisor = PowerOf10(resolution - 9);
    }

    /// <summary>0 when the interface has no snapshot length limit.</summary>
    public uint SnapLength { get; }

    public static bool IsSupportedResolution(byte resolution) =>
        (resolution & BinaryFlag) != 0 || resolution <= MaxDecimalExponent;

    public long ToNanoseconds(ulong ticks)
    {
        ulong ns;
        if (_binaryExponent >= 0)
            ns = (ulong)((UInt128)ticks * NsPerSecond >> _binaryExponent);
        else if (_divisor == 1)
            ns = ticks * _multiplier;
        else
            ns = ticks / _divisor;
        return (long)ns + _offsetNs;
    }

    private static ulong PowerOf10(int exponent)
    {
        ulong value = 1;
        for (int i = 0; i < exponent; i++)
            value *= 10;
        return value;
    }
}
