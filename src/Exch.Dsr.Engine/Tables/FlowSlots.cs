using System.Runtime.CompilerServices;

namespace Exch.Dsr.Engine.Tables;

/// <summary>
/// The open-addressed slots of one address family of the <see cref="ConnectionTable"/>: linear probing from a home
/// slot at the start of a cache line, removal by backward shift (no tombstones), the persistence links beside the
/// slots, and the slots' bits in the table's occupancy bitmap. Mechanics only: what an entry means (counts, persistence,
/// expiry) is the connection table's.
/// <para>
/// A flow's home is the first slot of a line picked by its hash, so with two 32-byte entries a line a lookup reads both
/// entries of the line it prefetched before it would need another; the probe then goes on slot by slot into the next
/// lines. An index is valid only until the next add or remove.
/// </para>
/// </summary>
internal sealed class FlowSlots<TEntry, TKey>
    where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
    where TKey : struct
{
    private static readonly int s_perLine = CacheLine.Size / Unsafe.SizeOf<TEntry>();

    private readonly LineAlignedArray<TEntry> _slots;
    private readonly PersistenceLink[] _links;
    private readonly ulong[] _occupied;
    private readonly int _bitOffset;
    private readonly int _lines;
    private readonly ulong _hashSeed;

    /// <param name="slotCount">A multiple of the entries a line holds.</param>
    /// <param name="occupied">The table's occupancy bitmap; this family's slots are its bits from <paramref name="bitOffset"/> on.</param>
    public FlowSlots(int slotCount, ulong[] occupied, int bitOffset, ulong hashSeed)
    {
        _slots = new LineAlignedArray<TEntry>(slotCount);
        _links = new PersistenceLink[slotCount];
        _occupied = occupied;
        _bitOffset = bitOffset;
        _lines = slotCount / s_perLine;
        _hashSeed = hashSeed;
    }

    public int SlotCount => _slots.Length;

    /// <summary>Where the first slot starts (a 64-byte boundary).</summary>
    public nint Address => _slots.Address;

    public nuint ByteLength => _slots.ByteLength;

    public ref TEntry this[int slot]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref _slots[slot];
    }

    public ref PersistenceLink Link(int slot) => ref _links[slot];

    /// <summary>The first slot of the line <paramref name="key"/> hashes to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Home(in TKey key)
        => (int)(((TEntry.Hash(key, _hashSeed) >> 32) * (ulong)(uint)_lines) >> 32) * s_perLine;

    /// <summary>Starts loading the line of <paramref name="slot"/> (an entry never straddles two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int slot) => CacheLine.PrefetchLine(ref _slots[slot]);

    /// <summary>
    /// One step of a probe ahead of time: when every slot of <paramref name="slot"/>'s line from it on holds another
    /// flow, starts loading the next line and returns its first slot; else (a free slot, or <paramref name="key"/>'s
    /// own) -1. Reads only the line already asked for.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int PrefetchPast(in TKey key, int slot)
    {
        var lineEnd = slot - (slot % s_perLine) + s_perLine;
        for (var s = slot; s < lineEnd; s++)
        {
            ref var e = ref _slots[s];
            if (e.IsFree || e.Holds(key))
            {
                return -1;
            }
        }

        var next = lineEnd == _slots.Length ? 0 : lineEnd;
        CacheLine.PrefetchLine(ref _slots[next]);
        return next;
    }

    /// <summary>The slot holding <paramref name="key"/>, live or expired, or -1.</summary>
    public int Locate(in TKey key, int home)
        => Unsafe.IsNullRef(ref Find(key, home, out var slot)) ? -1 : slot;

    /// <summary>
    /// The entry holding <paramref name="key"/>, live or expired, and its <paramref name="slot"/>; a null reference
    /// when there is none. The known-flow path reads and updates it in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TEntry Find(in TKey key, int home, out int slot)
    {
        slot = home;
        while (true)
        {
            ref var e = ref _slots[slot];
            if (e.Holds(key))
            {
                return ref e;
            }

            if (e.IsFree)
            {
                return ref Unsafe.NullRef<TEntry>();
            }

            slot = slot + 1 == _slots.Length ? 0 : slot + 1;
        }
    }

    /// <summary>Writes <paramref name="key"/> into the first free slot of its probe and returns it (the caller keeps a free one).</summary>
    public int Occupy(in TKey key)
    {
        var slot = Home(key);
        while (!_slots[slot].IsFree)
        {
            slot = slot + 1 == _slots.Length ? 0 : slot + 1;
        }

        _slots[slot].Occupy(key);
        _links[slot] = default;
        var bit = _bitOffset + slot;
        _occupied[bit >> 6] |= 1UL << bit;
        return slot;
    }

    /// <summary>
    /// Frees <paramref name="slot"/> by backward shift: every later entry of the cluster whose home is not between the
    /// hole and itself moves into the hole, link and all, so no lookup ever stops early at a gap.
    /// </summary>
    public void Vacate(int slot)
    {
        var count = _slots.Length;
        var hole = slot;
        var next = slot + 1 == count ? 0 : slot + 1;
        while (!_slots[next].IsFree)
        {
            var home = Home(_slots[next].Key);
            var distanceFromHome = next >= home ? next - home : next + count - home;
            var distanceFromHole = next >= hole ? next - hole : next + count - hole;
            if (distanceFromHome >= distanceFromHole)
            {
                _slots[hole] = _slots[next];
                _links[hole] = _links[next];
                hole = next;
            }

            next = next + 1 == count ? 0 : next + 1;
        }

        _slots[hole].Free();
        var bit = _bitOffset + hole;
        _occupied[bit >> 6] &= ~(1UL << bit);
    }
}
