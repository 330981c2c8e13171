using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Tables;

/// <summary>A connection's identity: client address and port, VIP and port, protocol.</summary>
public readonly record struct FlowKey(IpAddress128 Client, IpAddress128 Vip, ushort ClientPort, ushort VipPort, byte Protocol)
{
    public ulong StableHash()
        => StableHashing.Mix(Client.StableHash() ^ (Vip.StableHash() * 31) ^ ((ulong)ClientPort << 24) ^ ((ulong)VipPort << 8) ^ Protocol);
}

/// <summary>A connection as the status view shows it.</summary>
public readonly record struct ConnectionEntryView(FlowKey Key, int ServiceId, int ServerId, ConnectionState State, long ExpiresAtNs, bool Persistent);

/// <summary>
/// Every flow the engine forwards: 5-tuple → server, with LVS's per-state timeouts. Sized at construction, bounded, and
/// empty when all zeros (so memory is touched only where connections land). Two open-addressed families of slots
/// (<see cref="FlowSlots{TEntry, TKey}"/>): IPv4 flows in 32-byte entries, two to a cache line, <see cref="IPv4SlotsPerConnection"/>
/// slots per connection of <see cref="Capacity"/>, so that nearly every lookup finds its flow in the one line it asked
/// for; IPv6 flows in 64-byte entries, two slots per connection. Both share one count, one capacity and one sweep.
/// <para>
/// An index names a slot of either family: IPv4 slots from 0, IPv6 slots from <see cref="IPv6Offset"/> on. It is valid
/// only until the next add or remove (removal shifts the rest of a cluster back). Expiry is incremental: lazily on
/// lookup, plus <see cref="SweepDue"/> over the slots that came due by packet time. The table keeps the per-server
/// active (ESTABLISHED) and inactive (other states) counts that lc/wlc read, and the connection counts of the
/// persistence entries connections run through.
/// </para>
/// </summary>
public sealed class ConnectionTable
{
    /// <summary>
    /// Sweep units (lines) a whole empty word of the occupancy bitmap, 64 slots, counts as. Passing it is one load:
    /// counted as the 32 or 64 lines it covers, a sparse table or the unused IPv6 slots would take most of a lap;
    /// counted as one, a frame's budget of 8 would be eight word loads on every frame of a sparse table.
    /// </summary>
    public const int EmptyWordUnits = 8;

    /// <summary>Entries an add examines for expired ones when the table is full.</summary>
    public const int ReclaimScanLimit = 128;

    /// <summary>The most a connection's deadline may lag behind its last packet plus its timeout.</summary>
    public const long MaxDeadlineSlackNs = 1_000_000_000;

    /// <summary>
    /// IPv4 slots per connection of capacity: at four, a full table is a quarter loaded and 97 % of its flows sit in
    /// their home line (simulated), in the 128 bytes of slots per connection that one 64-byte slot at half load took
    /// (76 % at home), plus 32 bytes of persistence links beside them.
    /// </summary>
    public const int IPv4SlotsPerConnection = 4;

    /// <summary>IPv6 slots per connection of capacity: a full table of them is half loaded.</summary>
    public const int IPv6SlotsPerConnection = 2;

    // Reported deadlines are kept in units of 2^30 ns (about 1.07 s), rounded down, so they fit 32 bits until 2106.
    private const int PushedUnitShift = 30;

    private readonly FlowSlots<IPv4ConnectionEntry, IPv4Flow> _v4;
    private readonly FlowSlots<IPv6ConnectionEntry, FlowKey> _v6;
    private readonly int _v6Offset;
    private readonly int _slotCount;

    // Cache lines of slots in both families: what a lap of the sweep costs, in its units.
    private readonly int _lineCount;

    // One bit per slot of both families (IPv4 from bit 0, IPv6 from _v6Offset), set while it holds an entry: the sweep
    // and the listings skip free slots here, 64 to a word, instead of reading a line to learn that a slot is empty.
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

    /// <param name="slotMemory">Told each family's slots' address and length before anything is written there (huge pages).</param>
    /// <param name="hashSeed">Mixed into <see cref="Home"/> (<see cref="Forwarding.ForwardingEngineOptions.TableHashSeed"/>).</param>
    public ConnectionTable(int capacity, PersistenceTableSet persistence, Action<nint, nuint>? slotMemory = null, ulong hashSeed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _persistence = persistence;
        Capacity = capacity;
        var v4Slots = checked(capacity * IPv4SlotsPerConnection);
        var v6Slots = checked(capacity * IPv6SlotsPerConnection);
        _v6Offset = checked((v4Slots + 63) & ~63);
        _slotCount = checked(_v6Offset + v6Slots);
        _lineCount = checked((v4Slots / 2) + v6Slots);
        _occupied = new ulong[(_slotCount + 63) >> 6];
        _v4 = new FlowSlots<IPv4ConnectionEntry, IPv4Flow>(v4Slots, _occupied, 0, hashSeed);
        _v6 = new FlowSlots<IPv6ConnectionEntry, FlowKey>(v6Slots, _occupied, _v6Offset, hashSeed);
        slotMemory?.Invoke(_v4.Address, _v4.ByteLength);
        slotMemory?.Invoke(_v6.Address, _v6.ByteLength);
    }

    /// <summary>Live connections the table holds at most.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Bytes of IPv4 slots and links a table of <paramref name="capacity"/> reserves: all an IPv4-only appliance
    /// touches, since a family's pages are touched only as its flows arrive.
    /// </summary>
    public static long IPv4BytesFor(int capacity)
        => (long)capacity * IPv4SlotsPerConnection * (Unsafe.SizeOf<IPv4ConnectionEntry>() + Unsafe.SizeOf<PersistenceLink>());

    /// <summary>Bytes of IPv6 slots and links a table of <paramref name="capacity"/> reserves.</summary>
    public static long IPv6BytesFor(int capacity)
        => (long)capacity * IPv6SlotsPerConnection * (Unsafe.SizeOf<IPv6ConnectionEntry>() + Unsafe.SizeOf<PersistenceLink>());

    /// <summary>The index space of both families: IPv4 slots, a gap up to the next multiple of 64, IPv6 slots.</summary>
    public int SlotCount => _slotCount;

    /// <summary>The index of the first IPv6 slot.</summary>
    public int IPv6Offset => _v6Offset;

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

    /// <summary>The slot the next sweep call examines first.</summary>
    internal int SweepCursor => _sweepCursor;

    internal FlowSlots<IPv4ConnectionEntry, IPv4Flow> IPv4Slots => _v4;

    internal FlowSlots<IPv6ConnectionEntry, FlowKey> IPv6Slots => _v6;

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
    /// The slot a lookup of <paramref name="key"/> starts from: the first slot of a line picked by one mix of the
    /// 5-tuple and the table's seed (not <see cref="FlowKey.StableHash"/>, whose five mixes cost more than the rest of a
    /// cached lookup), mapped onto the lines by a multiply instead of a division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Home(in FlowKey key)
        => IPv4Flow.Fits(key) ? _v4.Home(IPv4Flow.From(key)) : _v6Offset + _v6.Home(key);

    /// <summary>Starts loading the line of slot <paramref name="slot"/> of either family without waiting for it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchSlot(int slot)
    {
        if (slot < _v6Offset)
        {
            _v4.Prefetch(slot);
        }
        else
        {
            _v6.Prefetch(slot - _v6Offset);
        }
    }

    /// <summary>The live entry for <paramref name="key"/>, or -1; an expired entry is removed on the way.</summary>
    public int Find(in FlowKey key, long nowNs)
    {
        int index;
        if (IPv4Flow.Fits(key))
        {
            var flow = IPv4Flow.From(key);
            index = _v4.Locate(flow, _v4.Home(flow));
        }
        else
        {
            index = Offset(_v6.Locate(key, _v6.Home(key)));
        }

        if (index >= 0 && ExpiresAtNs(index) <= nowNs)
        {
            Remove(index, nowNs);
            Expirations++;
            return -1;
        }

        return index;
    }

    /// <summary>
    /// Adds a connection (the caller found none) and links it to persistence entry <paramref name="persistenceIndex"/>
    /// of the service (or -1). Returns its index, or -1 when the table is full of live connections.
    /// </summary>
    public int Add(in FlowKey key, int serviceId, int serverId, ConnectionState state, long expiresAtNs, int persistenceIndex, long nowNs)
    {
        if (Count >= Capacity)
        {
            // Entries, not units: a full table's cursor may be crossing the other family's empty slots.
            Sweep(nowNs, ReclaimScanLimit, freeRunsCount: false);
            if (Count >= Capacity)
            {
                Rejections++;
                return -1;
            }
        }

        Debug.Assert(key.Protocol != 0, "protocol 0 marks a free slot; only TCP and UDP flows are added");

        // At most capacity of each family's slots are in use, so the probe ends at a free one.
        return IPv4Flow.Fits(key)
            ? Add(_v4, IPv4Flow.From(key), serviceId, serverId, state, expiresAtNs, persistenceIndex)
            : _v6Offset + Add(_v6, key, serviceId, serverId, state, expiresAtNs, persistenceIndex);
    }

    private int Add<TEntry, TKey>(FlowSlots<TEntry, TKey> family, in TKey key, int serviceId, int serverId, ConnectionState state, long expiresAtNs, int persistenceIndex)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        var slot = family.Occupy(key);
        ref var e = ref family[slot];
        e.State = state;
        e.ServiceId = serviceId;
        e.ServerId = serverId;
        e.ExpiresAtNs = expiresAtNs;
        e.PushedUntilUnits = uint.MaxValue;
        var table = persistenceIndex >= 0 ? _persistence.Get(serviceId) : null;
        if (table is not null)
        {
            ref var link = ref family.Link(slot);
            link.IndexPlusOne = persistenceIndex + 1;
            link.Generation = table.GenerationAt(persistenceIndex);
            e.PushedUntilUnits = ToUnits(expiresAtNs);
            table.AddConnection(persistenceIndex, expiresAtNs);
        }

        Count++;
        AdjustCounts(serviceId, serverId, state, +1);
        return slot;
    }

    public int ServerIdAt(int index) => index < _v6Offset ? _v4[index].ServerId : _v6[index - _v6Offset].ServerId;

    public int ServiceIdAt(int index) => index < _v6Offset ? _v4[index].ServiceId : _v6[index - _v6Offset].ServiceId;

    public ConnectionState StateAt(int index) => index < _v6Offset ? _v4[index].State : _v6[index - _v6Offset].State;

    public long ExpiresAtNs(int index) => index < _v6Offset ? _v4[index].ExpiresAtNs : _v6[index - _v6Offset].ExpiresAtNs;

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
    {
        if (index < _v6Offset)
        {
            Update(_v4, index, ref _v4[index], state, expiresAtNs, nowNs);
        }
        else
        {
            var slot = index - _v6Offset;
            Update(_v6, slot, ref _v6[slot], state, expiresAtNs, nowNs);
        }
    }

    /// <inheritdoc cref="Update(int, ConnectionState, long, long)"/>
    /// <remarks>For the known-flow path, which holds <paramref name="e"/> = <paramref name="family"/>[<paramref name="slot"/>] already.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Update<TEntry, TKey>(FlowSlots<TEntry, TKey> family, int slot, ref TEntry e, ConnectionState state, long expiresAtNs, long nowNs)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
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

        // Unlinked connections read uint.MaxValue here: 2^62 ns, never reached.
        if (expiresAtNs >= (long)e.PushedUntilUnits << PushedUnitShift)
        {
            PushDeadline(family, slot, ref e, expiresAtNs, nowNs);
        }
    }

    private void PushDeadline<TEntry, TKey>(FlowSlots<TEntry, TKey> family, int slot, ref TEntry e, long expiresAtNs, long nowNs)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        var link = family.Link(slot);
        var pushed = expiresAtNs + Math.Max(expiresAtNs - nowNs, 0);
        e.PushedUntilUnits = ToUnits(pushed);
        _persistence.Extend(e.ServiceId, link.IndexPlusOne - 1, link.Generation, pushed);
    }

    /// <summary>Drops the connection, releasing its persistence entry and its server's count.</summary>
    public void Remove(int index, long nowNs)
    {
        if (index < _v6Offset)
        {
            Remove(_v4, index);
        }
        else
        {
            Remove(_v6, index - _v6Offset);
        }
    }

    private void Remove<TEntry, TKey>(FlowSlots<TEntry, TKey> family, int slot)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        ref var e = ref family[slot];
        if (e.IsFree)
        {
            return;
        }

        var link = family.Link(slot);
        if (link.IndexPlusOne != 0)
        {
            _persistence.Release(e.ServiceId, link.IndexPlusOne - 1, link.Generation);
        }

        AdjustCounts(e.ServiceId, e.ServerId, e.State, -1);
        Count--;
        family.Vacate(slot);
    }

    /// <summary>
    /// Sweeps the share of the table that came due since the last call, so that the whole table is examined once per
    /// <paramref name="intervalNs"/> of packet time, but at most <paramref name="budget"/> units per call (see
    /// <see cref="Sweep(long, int)"/>).
    /// </summary>
    public void SweepDue(long nowNs, long intervalNs, int budget)
    {
        var due = _pacer.Due(nowNs, intervalNs, _lineCount, budget);
        if (due > 0)
        {
            Sweep(nowNs, due);
        }
    }

    /// <summary>
    /// Examines the next <paramref name="budget"/> units of the table round-robin and removes the expired entries. A
    /// unit is a cache line's worth of slots, examined or passed (two IPv4 slots, one IPv6 slot), which is what a
    /// sweep costs the forwarding thread: the budget reads as many lines whatever the family. Free slots are passed
    /// in the occupancy bitmap without reading their lines, and a whole empty bitmap word counts as
    /// <see cref="EmptyWordUnits"/>, not as the 32 or 64 lines it covers, so that a sparse table, or the unused IPv6
    /// slots, still laps within seconds. A slot an entry was shifted back into is examined again, so a lap of the
    /// slots misses no entry.
    /// </summary>
    public int Sweep(long nowNs, int budget) => Sweep(nowNs, budget, freeRunsCount: true);

    /// <param name="freeRunsCount">
    /// False: the budget counts entries examined only, and free slots are passed for nothing; for a table that holds
    /// entries (else the walk would not end).
    /// </param>
    private int Sweep(long nowNs, int budget, bool freeRunsCount)
    {
        Debug.Assert(freeRunsCount || Count > 0, "a walk that counts only entries needs some");

        // Spent in halves of a line when free runs count (an IPv4 slot is one, an IPv6 slot two), else in entries.
        var allowance = freeRunsCount ? 2L * budget : budget;
        var removed = 0;
        var cursor = _sweepCursor;
        for (var spent = 0L; spent < allowance;)
        {
            var following = _occupied[cursor >> 6] >> cursor;
            var halves = cursor < _v6Offset ? 1 : 2;
            if ((following & 1) == 0)
            {
                int free;
                if (following == 0 && (cursor & 63) == 0)
                {
                    free = 64;
                    spent += freeRunsCount ? 2 * EmptyWordUnits : 0;
                }
                else
                {
                    // To the next occupied slot of this word, or to the word's end; never past the allowance.
                    free = following == 0 ? 64 - (cursor & 63) : BitOperations.TrailingZeroCount(following);
                    if (freeRunsCount)
                    {
                        free = (int)Math.Min(free, (allowance - spent + halves - 1) / halves);
                        spent += (long)free * halves;
                    }
                }

                cursor += Math.Min(free, _slotCount - cursor);
                if (cursor >= _slotCount)
                {
                    cursor = 0;
                }

                continue;
            }

            spent += freeRunsCount ? halves : 1;
            if (ExpiresAtNs(cursor) <= nowNs)
            {
                Remove(cursor, nowNs);
                Expirations++;
                removed++;
                continue;
            }

            cursor = cursor + 1 == _slotCount ? 0 : cursor + 1;
        }

        _sweepCursor = cursor;
        PrefetchOccupiedFrom(cursor, budget);
        return removed;
    }

    /// <summary>
    /// Starts loading the lines of the occupied slots the next sweep call will examine: up to
    /// <paramref name="count"/> of them from <paramref name="cursor"/> on, in this bitmap word and the next. The
    /// slots a sweep reads are scattered and the calls are frames apart, a pattern the hardware prefetcher does not
    /// follow: without this each was a miss the forwarding thread waited for (5 ns a frame of a million-client
    /// benchmark that swept at its full budget).
    /// </summary>
    private void PrefetchOccupiedFrom(int cursor, int count)
    {
        var word = cursor >> 6;
        var bits = _occupied[word] & (ulong.MaxValue << cursor);
        var lastLine = -1;
        for (var words = 0; words < 2; words++)
        {
            while (bits != 0 && count > 0)
            {
                var slot = (word << 6) + BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                count--;

                // Two IPv4 slots share a line; an IPv6 slot is one (IPv6Offset is a multiple of 64 slots).
                var line = slot < _v6Offset ? slot >> 1 : slot;
                if (line != lastLine)
                {
                    PrefetchSlot(slot);
                    lastLine = line;
                }
            }

            word = word + 1 == _occupied.Length ? 0 : word + 1;
            bits = _occupied[word];
        }
    }

    /// <summary>Forgets the persistence links of a service whose persistence table was replaced or dropped.</summary>
    public void DetachPersistence(int serviceId)
    {
        foreach (var index in OccupiedSlots())
        {
            if (index < _v6Offset)
            {
                Detach(_v4, index, serviceId);
            }
            else
            {
                Detach(_v6, index - _v6Offset, serviceId);
            }
        }
    }

    private static void Detach<TEntry, TKey>(FlowSlots<TEntry, TKey> family, int slot, int serviceId)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        ref var e = ref family[slot];
        if (e.ServiceId == serviceId)
        {
            family.Link(slot) = default;
            e.PushedUntilUnits = uint.MaxValue;
        }
    }

    /// <summary>Every live entry. Allocates; for status views, not the packet path.</summary>
    public IReadOnlyList<ConnectionEntryView> Snapshot()
    {
        var list = new List<ConnectionEntryView>(Count);
        foreach (var index in OccupiedSlots())
        {
            list.Add(index < _v6Offset ? View(_v4, index) : View(_v6, index - _v6Offset));
        }

        return list;
    }

    private static ConnectionEntryView View<TEntry, TKey>(FlowSlots<TEntry, TKey> family, int slot)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        ref var e = ref family[slot];
        return new ConnectionEntryView(e.FlowKey, e.ServiceId, e.ServerId, e.State, e.ExpiresAtNs, family.Link(slot).IndexPlusOne != 0);
    }

    /// <summary>
    /// The occupied slots in order, found in the occupancy bitmap: the walks over every connection (a reload that
    /// replaces a persistence table, a status listing) read the lines of the connections only, not the whole table
    /// (128 MiB of IPv4 slots at the default capacity, whatever the number of connections).
    /// </summary>
    private OccupiedSlotEnumerator OccupiedSlots() => new(_occupied);

    private int Offset(int v6Slot) => v6Slot < 0 ? -1 : _v6Offset + v6Slot;

    private static long DeadlineSlack(long timeoutNs) => Math.Min(MaxDeadlineSlackNs, timeoutNs >> 3);

    private static uint ToUnits(long ns) => (uint)Math.Clamp(ns >> PushedUnitShift, 0, uint.MaxValue - 1);

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
