using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Tables;

/// <summary>A connection's identity: client address and port, VIP and port, protocol.</summary>
public readonly record struct FlowKey(IpAddress128 Client, IpAddress128 Vip, ushort ClientPort, ushort VipPort, byte Protocol)
{
    public ulong StableHash()
        => StableHashing.Mix(Client.StableHash() ^ (Vip.StableHash() * 31) ^ ((ulong)ClientPort << 24) ^ ((ulong)VipPort << 8) ^ Protocol);
}

/*
 * ConnectionEntry, 64 bytes, one cache line's worth (LVS's ip_vs_conn is several hundred bytes). The entries ARE the
 * hash table (open addressing, linear probing), so a lookup that hits its home slot reads one entry and nothing else.
 * The slots live in a pinned byte array from its first 64-byte boundary on, so each entry is exactly one cache line
 * (a managed ConnectionEntry[] is only 8-byte aligned: most entries would straddle two lines, two misses).
 *   [0..8)   client address, high 64 bits
 *   [8..16)  client address, low 64 bits (IPv4 stored mapped)
 *   [16..24) VIP, high 64 bits
 *   [24..32) VIP, low 64 bits
 *   [32..40) expires-at, ns (state timeout from the last packet)
 *   [40..42) client port
 *   [42..44) VIP port
 *   [44]     protocol; 0 marks a free slot (a flow is TCP or UDP), so the table starts as the zero pages the
 *            allocator hands out: nothing to initialise, and memory is only touched where connections land
 *   [45]     state (ConnectionState)
 *   [46..48) service id
 *   [48..52) server id
 *   [52..56) the deadline last pushed to the persistence entry, in units of 2^30 ns (~1.07 s), rounded down
 *   [56..60) persistence entry index, or -1
 *   [60..64) persistence entry generation at link time
 */
[StructLayout(LayoutKind.Sequential)]
internal struct ConnectionEntry
{
    public ulong ClientHigh;
    public ulong ClientLow;
    public ulong VipHigh;
    public ulong VipLow;
    public long ExpiresAtNs;
    public ushort ClientPort;
    public ushort VipPort;
    public byte Protocol;
    public ConnectionState State;
    public ushort ServiceId;
    public int ServerId;
    public uint PushedUntilUnits;
    public int PersistenceIndex;
    public int PersistenceGeneration;

    public readonly bool IsFree => Protocol == 0;

    public void Free() => Protocol = 0;
}

/// <summary>A connection as the status view shows it.</summary>
public readonly record struct ConnectionEntryView(FlowKey Key, int ServiceId, int ServerId, ConnectionState State, long ExpiresAtNs, bool Persistent);

/// <summary>
/// Every flow the engine forwards: 5-tuple → server, with LVS's per-state timeouts. Sized at construction, bounded, and
/// empty when all zeros (so memory is touched only where connections land): twice
/// <see cref="Capacity"/> slots, open addressing with linear probing, so a lookup reads the entry in its home slot
/// (and, at a load of at most one half, the next one about every third time) instead of a bucket and then a chain,
/// and <see cref="PrefetchSlot"/> can start that one read early. Removal shifts the rest of the cluster back (no
/// tombstones), so an index is valid only until the next add or remove. Expiry is incremental: lazily on lookup,
/// plus <see cref="SweepDue"/> over the slots that came due by packet time. It keeps the per-server active
/// (ESTABLISHED) and inactive (other states) counts that lc/wlc read, and the connection counts of the persistence
/// entries connections run through.
/// </summary>
public sealed class ConnectionTable
{
    /// <summary>Slots an add sweeps for expired entries when the table is full.</summary>
    public const int ReclaimScanLimit = 128;

    /// <summary>The most a connection's deadline may lag behind its last packet plus its timeout.</summary>
    public const long MaxDeadlineSlackNs = 1_000_000_000;

    // Reported deadlines are kept in units of 2^30 ns (about 1.07 s), rounded down, so they fit 32 bits until 2106.
    private const int PushedUnitShift = 30;

    private readonly LineAlignedArray<ConnectionEntry> _slots;
    private readonly ulong _hashSeed;
    private readonly int _slotCount;

    // One bit per slot, set while it holds an entry: the sweep skips free slots here, 64 to a word and the whole
    // bitmap in cache, instead of reading a 64-byte line to learn that a slot is empty (at a tenth full, nine of every
    // ten lines a sweep read were empty slots).
    private readonly ulong[] _occupied;
    private readonly PersistenceTableSet _persistence;
    private int[] _active = [];
    private int[] _inactive = [];

    // The same two counts per (service, server), [service × _memberServers + server], so a status read copies them
    // instead of scanning every slot on the forwarding thread.
    private int[] _memberActive = [];
    private int[] _memberInactive = [];
    private int _memberServices;
    private int _memberServers;
    private int _sweepCursor;
    private SweepPacer _pacer;

    /// <param name="slotMemory">Told the slots' address and length before anything is written there (huge pages).</param>
    /// <param name="hashSeed">Mixed into <see cref="Home"/> (<see cref="Forwarding.ForwardingEngineOptions.TableHashSeed"/>).</param>
    public ConnectionTable(int capacity, PersistenceTableSet persistence, Action<nint, nuint>? slotMemory = null, ulong hashSeed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _hashSeed = hashSeed;
        _persistence = persistence;
        Capacity = capacity;
        _slotCount = checked(capacity * 2);
        _slots = new LineAlignedArray<ConnectionEntry>(_slotCount);
        slotMemory?.Invoke(_slots.Address, _slots.ByteLength);
        _occupied = new ulong[(_slotCount + 63) >> 6];
    }

    /// <summary>Live connections the table holds at most.</summary>
    public int Capacity { get; }

    /// <summary>Bytes a table of <paramref name="capacity"/> connections reserves: two 64-byte slots each.</summary>
    public static long BytesFor(int capacity) => 2L * capacity * Unsafe.SizeOf<ConnectionEntry>();

    /// <summary>Slots of the open-addressed array: 2 × <see cref="Capacity"/>, 64 bytes each.</summary>
    public int SlotCount => _slotCount;

    public int Count { get; private set; }

    public long Expirations { get; private set; }

    /// <summary>Adds refused because the table was full of live connections.</summary>
    public long Rejections { get; private set; }

    /// <summary>ESTABLISHED connections by server id.</summary>
    public ReadOnlySpan<int> ActiveByServer => _active;

    /// <summary>Connections in every other state by server id.</summary>
    public ReadOnlySpan<int> InactiveByServer => _inactive;

    /// <summary>Service ids the per-member counts cover.</summary>
    public int MemberServiceCapacity => _memberServices;

    /// <summary>Server ids the per-member counts cover.</summary>
    public int MemberServerCapacity => _memberServers;

    /// <summary>ESTABLISHED connections by (service, server), at <c>serviceId × <see cref="MemberServerCapacity"/> + serverId</c>.</summary>
    public ReadOnlySpan<int> ActiveByMember => _memberActive;

    /// <summary>Connections in every other state by (service, server), laid out as <see cref="ActiveByMember"/>.</summary>
    public ReadOnlySpan<int> InactiveByMember => _memberInactive;

    /// <summary>Grows the per-server counts to <paramref name="serverIdCapacity"/> ids (allocates; call on publish).</summary>
    public void EnsureServerCapacity(int serverIdCapacity)
        => EnsureMemberCapacity(_memberServices, serverIdCapacity);

    /// <summary>
    /// Grows the per-server and per-(service, server) counts to cover the given ids, keeping what they hold
    /// (allocates; call on publish). Never shrinks: entries of a removed service or server still count until they go.
    /// </summary>
    public void EnsureMemberCapacity(int serviceIdCapacity, int serverIdCapacity)
    {
        if (serverIdCapacity > _active.Length)
        {
            Array.Resize(ref _active, serverIdCapacity);
            Array.Resize(ref _inactive, serverIdCapacity);
        }

        var services = Math.Max(serviceIdCapacity, _memberServices);
        var servers = Math.Max(serverIdCapacity, _memberServers);
        if (services == _memberServices && servers == _memberServers)
        {
            return;
        }

        _memberActive = Regrid(_memberActive, services, servers);
        _memberInactive = Regrid(_memberInactive, services, servers);
        _memberServices = services;
        _memberServers = servers;
    }

    /// <summary>
    /// Starts loading slot <paramref name="slot"/> (a key's <see cref="Home"/>) into the cache without waiting for it,
    /// so that the misses of a batch of frames overlap instead of following one another.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchSlot(int slot)
        => CacheLine.Prefetch(ref _slots[slot]);

    /// <summary>
    /// One step of a lookup's probe ahead of time: when <paramref name="slot"/> (already loaded) holds another flow,
    /// starts loading the next slot and returns it, else (free, or <paramref name="key"/>'s own by client address and
    /// ports) returns -1. Reads only; the lookup proper still compares the whole key.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int PrefetchPastSlot(in FlowKey key, int slot)
    {
        ref readonly var e = ref _slots[slot];
        if (!e.IsFree && (e.ClientLow != key.Client.Low || e.ClientPort != key.ClientPort || e.VipPort != key.VipPort))
        {
            var next = slot + 1 == _slotCount ? 0 : slot + 1;
            CacheLine.Prefetch(ref _slots[next]);
            return next;
        }

        return -1;
    }

    /// <summary>The live entry for <paramref name="key"/>, or -1; an expired entry is removed on the way.</summary>
    public int Find(in FlowKey key, long nowNs)
    {
        var slot = Locate(key);
        if (slot >= 0 && _slots[slot].ExpiresAtNs <= nowNs)
        {
            Remove(slot, nowNs);
            Expirations++;
            return -1;
        }

        return slot;
    }

    /// <summary>The slot holding <paramref name="key"/>, live or expired, or -1.</summary>
    private int Locate(in FlowKey key) => Locate(key, Home(key));

    private int Locate(in FlowKey key, int home)
    {
        var slots = _slots;
        var slot = home;
        while (true)
        {
            ref readonly var e = ref slots[slot];
            if (e.IsFree)
            {
                return -1;
            }

            if (e.ClientLow == key.Client.Low && e.ClientPort == key.ClientPort && e.VipPort == key.VipPort
                && e.ClientHigh == key.Client.High && e.VipLow == key.Vip.Low && e.VipHigh == key.Vip.High
                && e.Protocol == key.Protocol)
            {
                return slot;
            }

            slot = slot + 1 == slots.Length ? 0 : slot + 1;
        }
    }

    /// <summary>
    /// Adds a connection (the caller found none) and links it to persistence entry <paramref name="persistenceIndex"/>
    /// of the service (or -1). Returns its index, or -1 when the table is full of live connections.
    /// </summary>
    public int Add(in FlowKey key, int serviceId, int serverId, ConnectionState state, long expiresAtNs, int persistenceIndex, long nowNs)
    {
        if (Count >= Capacity)
        {
            Sweep(nowNs, ReclaimScanLimit);
            if (Count >= Capacity)
            {
                Rejections++;
                return -1;
            }
        }

        Debug.Assert(key.Protocol != 0, "protocol 0 marks a free slot; only TCP and UDP flows are added");

        // At most half the slots are in use, so the probe ends at a free one.
        var slots = _slots;
        var index = Home(key);
        while (!slots[index].IsFree)
        {
            index = index + 1 == slots.Length ? 0 : index + 1;
        }

        ref var e = ref slots[index];
        e.ClientHigh = key.Client.High;
        e.ClientLow = key.Client.Low;
        e.VipHigh = key.Vip.High;
        e.VipLow = key.Vip.Low;
        e.ClientPort = key.ClientPort;
        e.VipPort = key.VipPort;
        e.Protocol = key.Protocol;
        e.State = state;
        e.ServiceId = (ushort)serviceId;
        e.ServerId = serverId;
        e.ExpiresAtNs = expiresAtNs;
        e.PersistenceIndex = -1;
        _occupied[index >> 6] |= 1UL << index;
        var table = persistenceIndex >= 0 ? _persistence.Get(serviceId) : null;
        if (table is not null)
        {
            e.PersistenceIndex = persistenceIndex;
            e.PersistenceGeneration = table.GenerationAt(persistenceIndex);
            e.PushedUntilUnits = ToUnits(expiresAtNs);
            table.AddConnection(persistenceIndex, expiresAtNs);
        }

        Count++;
        AdjustCounts(serviceId, serverId, state, +1);
        return index;
    }

    public int ServerIdAt(int index) => _slots[index].ServerId;

    public int ServiceIdAt(int index) => _slots[index].ServiceId;

    public ConnectionState StateAt(int index) => _slots[index].State;

    public long ExpiresAtNs(int index) => _slots[index].ExpiresAtNs;

    /// <summary>
    /// Moves the connection to <paramref name="state"/> with a new deadline, keeping active/inactive counts.
    /// <para>
    /// In an unchanged state the deadline is written only when it moves by at least
    /// <see cref="MaxDeadlineSlackNs"/> (1 s; an eighth of the timeout for timeouts under 8 s), so the slot of a busy
    /// flow stays clean in the cache and is not written back to memory for every packet. The price: a flow can time
    /// out up to that much before its last packet plus its timeout.
    /// </para>
    /// <para>
    /// The persistence entry learns a connection's deadline only when it passes the one last pushed, and is then
    /// told one timeout more (<c>2 × deadline − now</c>), so a busy connection writes its persistence entry about
    /// once per timeout instead of on every packet: that entry is another cache miss per frame at a million clients.
    /// An unswept connection can therefore keep an idle client's entry for up to one connection timeout longer; LVS
    /// re-arms a template that still controls connections for a whole template timeout, so the semantics stand.
    /// </para>
    /// </summary>
    public void Update(int index, ConnectionState state, long expiresAtNs, long nowNs)
        => Update(ref _slots[index], state, expiresAtNs, nowNs);

    /// <summary>
    /// The live entry for <paramref name="key"/> (whose <see cref="Home"/> the caller computed once, for its prefetch
    /// too) by reference, or a null reference, changing nothing: an expired entry is left for <see cref="Find"/>, so
    /// a caller that looks and then leaves the frame to another path has had no effect. The known-flow path reads and
    /// updates the entry in place instead of indexing the slots once per field. Valid until the next add or remove.
    /// </summary>
    internal ref ConnectionEntry FindLive(in FlowKey key, int home, long nowNs)
    {
        var slot = Locate(key, home);
        if (slot < 0)
        {
            return ref Unsafe.NullRef<ConnectionEntry>();
        }

        ref var entry = ref _slots[slot];
        return ref entry.ExpiresAtNs > nowNs ? ref entry : ref Unsafe.NullRef<ConnectionEntry>();
    }

    /// <inheritdoc cref="Update(int, ConnectionState, long, long)"/>
    internal void Update(ref ConnectionEntry e, ConnectionState state, long expiresAtNs, long nowNs)
    {
        if (e.State != state)
        {
            AdjustCounts(e.ServiceId, e.ServerId, e.State, -1);
            AdjustCounts(e.ServiceId, e.ServerId, state, +1);
            e.State = state;
            e.ExpiresAtNs = expiresAtNs;
        }
        else if ((ulong)(expiresAtNs - e.ExpiresAtNs) >= (ulong)DeadlineSlack(expiresAtNs - nowNs))
        {
            // A shorter deadline (a reload shortened the timeout) reads as a huge unsigned step and is written too.
            e.ExpiresAtNs = expiresAtNs;
        }
        if (e.PersistenceIndex >= 0 && expiresAtNs >= (long)e.PushedUntilUnits << PushedUnitShift)
        {
            var pushed = expiresAtNs + Math.Max(expiresAtNs - nowNs, 0);
            e.PushedUntilUnits = ToUnits(pushed);
            _persistence.Extend(e.ServiceId, e.PersistenceIndex, e.PersistenceGeneration, pushed);
        }
    }

    /// <summary>Drops the connection, releasing its persistence entry and its server's count.</summary>
    public void Remove(int index, long nowNs)
    {
        var slots = _slots;
        ref var e = ref slots[index];
        if (e.IsFree)
        {
            return;
        }

        if (e.PersistenceIndex >= 0)
        {
            _persistence.Release(e.ServiceId, e.PersistenceIndex, e.PersistenceGeneration);
        }

        AdjustCounts(e.ServiceId, e.ServerId, e.State, -1);
        Count--;

        // Backward-shift deletion: every later entry of the cluster whose home is not between the hole and itself
        // moves into the hole, so no lookup ever stops early at a gap.
        var hole = index;
        var next = index + 1 == slots.Length ? 0 : index + 1;
        while (!slots[next].IsFree)
        {
            var home = Home(KeyOf(in slots[next]));
            var distanceFromHome = next >= home ? next - home : next + slots.Length - home;
            var distanceFromHole = next >= hole ? next - hole : next + slots.Length - hole;
            if (distanceFromHome >= distanceFromHole)
            {
                slots[hole] = slots[next];
                hole = next;
            }

            next = next + 1 == slots.Length ? 0 : next + 1;
        }

        slots[hole].Free();
        _occupied[hole >> 6] &= ~(1UL << hole);
    }

    /// <summary>
    /// Sweeps the share of the slots that came due since the last call, so that the whole table is examined once per
    /// <paramref name="intervalNs"/> of packet time, but at most <paramref name="budget"/> slots per call.
    /// </summary>
    public void SweepDue(long nowNs, long intervalNs, int budget)
    {
        var due = _pacer.Due(nowNs, intervalNs, _slotCount, budget);
        if (due > 0)
        {
            Sweep(nowNs, due);
        }
    }

    /// <summary>
    /// Examines the next <paramref name="budget"/> slots round-robin and removes the expired entries. A slot an entry
    /// was shifted back into is examined again, so a lap of the slots misses no entry. Free slots are passed over in
    /// the occupancy bitmap; only an occupied slot's line is read.
    /// </summary>
    public int Sweep(long nowNs, int budget)
    {
        var removed = 0;
        var cursor = _sweepCursor;
        var slots = _slots;
        for (var i = 0; i < budget;)
        {
            var following = _occupied[cursor >> 6] >> cursor;
            if ((following & 1) == 0)
            {
                // To the next occupied slot of this word, or past the word's end; never further than the budget.
                var free = following == 0 ? 64 - (cursor & 63) : BitOperations.TrailingZeroCount(following);
                free = Math.Min(free, Math.Min(budget - i, slots.Length - cursor));
                i += free;
                cursor += free;
                if (cursor >= slots.Length)
                {
                    cursor = 0;
                }

                continue;
            }

            ref readonly var e = ref slots[cursor];
            if (!e.IsFree && e.ExpiresAtNs <= nowNs)
            {
                Remove(cursor, nowNs);
                Expirations++;
                removed++;
                continue;
            }

            cursor = cursor + 1 == slots.Length ? 0 : cursor + 1;
            i++;
        }

        _sweepCursor = cursor;
        PrefetchOccupiedFrom(cursor);
        return removed;
    }

    /// <summary>
    /// Starts loading the line of the next occupied slot from <paramref name="cursor"/> on (looking one word ahead),
    /// which the next sweep call examines first: the occupied slots a sweep reads are scattered, a pattern the
    /// hardware prefetcher does not follow, so without this each was a miss the forwarding thread waited for.
    /// </summary>
    private void PrefetchOccupiedFrom(int cursor)
    {
        var following = _occupied[cursor >> 6] >> cursor;
        int next;
        if (following != 0)
        {
            next = cursor + BitOperations.TrailingZeroCount(following);
        }
        else
        {
            var word = (cursor >> 6) + 1 == _occupied.Length ? 0 : (cursor >> 6) + 1;
            if (_occupied[word] == 0)
            {
                return;
            }

            next = (word << 6) + BitOperations.TrailingZeroCount(_occupied[word]);
        }

        CacheLine.Prefetch(ref _slots[next]);
    }

    /// <summary>Forgets the persistence links of a service whose persistence table was replaced or dropped.</summary>
    public void DetachPersistence(int serviceId)
    {
        foreach (var slot in OccupiedSlots())
        {
            ref var e = ref _slots[slot];
            if (e.ServiceId == serviceId)
            {
                e.PersistenceIndex = -1;
            }
        }
    }

    /// <summary>Every live entry. Allocates; for status views, not the packet path.</summary>
    public IReadOnlyList<ConnectionEntryView> Snapshot()
    {
        var list = new List<ConnectionEntryView>(Count);
        foreach (var slot in OccupiedSlots())
        {
            ref readonly var e = ref _slots[slot];
            list.Add(new ConnectionEntryView(KeyOf(in e), e.ServiceId, e.ServerId, e.State, e.ExpiresAtNs, e.PersistenceIndex >= 0));
        }

        return list;
    }

    /// <summary>
    /// The occupied slots in order, found in the occupancy bitmap: the walks over every connection (a reload that
    /// replaces a persistence table, a status listing) read the lines of the connections only, not the whole table
    /// (128 MiB at the default capacity, whatever the number of connections).
    /// </summary>
    private OccupiedSlotEnumerator OccupiedSlots() => new(_occupied);

    private static FlowKey KeyOf(in ConnectionEntry e)
        => new(new(e.ClientHigh, e.ClientLow), new(e.VipHigh, e.VipLow), e.ClientPort, e.VipPort, e.Protocol);

    private static long DeadlineSlack(long timeoutNs) => Math.Min(MaxDeadlineSlackNs, timeoutNs >> 3);

    private static uint ToUnits(long ns) => (uint)Math.Clamp(ns >> PushedUnitShift, 0, uint.MaxValue);

    /// <summary>
    /// The home slot: one multiply-and-mix of the 5-tuple and the table's seed (not <see cref="FlowKey.StableHash"/>,
    /// whose five mixes cost more than the rest of a cached lookup), mapped onto the slots by a multiply instead of a
    /// division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Home(in FlowKey key)
    {
        var vip = (key.Vip.Low + key.Protocol) ^ (key.Vip.High * 0xC2B2_AE3D_27D4_EB4FUL);
        var hash = StableHashing.Mix(_hashSeed ^ key.Client.Low ^ (key.Client.High * 0x9E37_79B9_7F4A_7C15UL)
            ^ (vip * 0x1656_67B1_9E37_79F9UL) ^ ((ulong)key.ClientPort << 48) ^ ((ulong)key.VipPort << 32));
        return (int)(((hash >> 32) * (ulong)(uint)_slotCount) >> 32);
    }

    // Ids outside the arrays are never counted, neither on the way in nor out, so the counts stay exact as long as
    // the arrays are grown (on publish) before an entry with those ids is added: they never shrink.
    private void AdjustCounts(int serviceId, int serverId, ConnectionState state, int delta)
    {
        if ((uint)serverId >= (uint)_active.Length)
        {
            return;
        }

        var established = state == ConnectionState.Established;
        (established ? _active : _inactive)[serverId] += delta;
        if ((uint)serviceId < (uint)_memberServices && (uint)serverId < (uint)_memberServers)
        {
            (established ? _memberActive : _memberInactive)[(serviceId * _memberServers) + serverId] += delta;
        }
    }

    private int[] Regrid(int[] counts, int services, int servers)
    {
        var grown = new int[services * servers];
        for (var service = 0; service < _memberServices; service++)
        {
            Array.Copy(counts, service * _memberServers, grown, service * servers, _memberServers);
        }

        return grown;
    }

    private struct OccupiedSlotEnumerator(ulong[] occupied)
    {
        private int _word = -1;
        private ulong _bits;

        public int Current { get; private set; }

        public readonly OccupiedSlotEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (_bits == 0)
            {
                if (++_word == occupied.Length)
                {
                    return false;
                }

                _bits = occupied[_word];
            }

            Current = (_word << 6) + BitOperations.TrailingZeroCount(_bits);
            _bits &= _bits - 1;
            return true;
        }
    }
}
