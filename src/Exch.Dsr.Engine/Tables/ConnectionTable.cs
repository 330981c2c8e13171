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
 * ConnectionEntry, 64 bytes, one cache line's worth (LVS's ip_vs_conn is several hundred bytes). Managed arrays are
 * only 8-byte aligned, so an entry may straddle two lines; a lookup touches one entry per chain step either way.
 *   [0..8)   client address, high 64 bits
 *   [8..16)  client address, low 64 bits (IPv4 stored mapped)
 *   [16..24) VIP, high 64 bits
 *   [24..32) VIP, low 64 bits
 *   [32..40) expires-at, ns (state timeout from the last packet)
 *   [40..42) client port
 *   [42..44) VIP port
 *   [44]     protocol
 *   [45]     state (ConnectionState)
 *   [46..48) service id
 *   [48..52) server id; -1 marks a free entry
 *   [52..56) next entry in the hash bucket, or in the free list; -1 ends
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
    public int HashNext;
    public int PersistenceIndex;
    public int PersistenceGeneration;
}

/// <summary>A connection as the status view shows it.</summary>
public readonly record struct ConnectionEntryView(FlowKey Key, int ServiceId, int ServerId, ConnectionState State, long ExpiresAtNs, bool Persistent);

/// <summary>
/// Every flow the engine forwards: 5-tuple → server, with LVS's per-state timeouts. Preallocated and bounded. Expiry
/// is incremental: lazily on lookup, plus <see cref="Sweep"/> over a few entries per call. It keeps the per-server
/// active (ESTABLISHED) and inactive (other states) counts that lc/wlc read, and the connection counts of the
/// persistence entries connections run through.
/// </summary>
public sealed class ConnectionTable
{
    /// <summary>Entries an add sweeps for an expired one when the table is full.</summary>
    public const int ReclaimScanLimit = 64;

    private readonly ConnectionEntry[] _entries;
    private readonly int[] _buckets;
    private readonly int _bucketMask;
    private readonly PersistenceTableSet _persistence;
    private int[] _active = [];
    private int[] _inactive = [];
    private int _free;
    private int _sweepCursor;

    public ConnectionTable(int capacity, PersistenceTableSet persistence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _persistence = persistence;
        _entries = new ConnectionEntry[capacity];
        _buckets = new int[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity)];
        _bucketMask = _buckets.Length - 1;
        Array.Fill(_buckets, -1);
        for (var i = 0; i < capacity; i++)
        {
            _entries[i].ServerId = -1;
            _entries[i].HashNext = i + 1 < capacity ? i + 1 : -1;
        }

        _free = 0;
    }

    public int Capacity => _entries.Length;

    public int Count { get; private set; }

    public long Expirations { get; private set; }

    /// <summary>Adds refused because the table was full of live connections.</summary>
    public long Rejections { get; private set; }

    /// <summary>ESTABLISHED connections by server id.</summary>
    public ReadOnlySpan<int> ActiveByServer => _active;

    /// <summary>Connections in every other state by server id.</summary>
    public ReadOnlySpan<int> InactiveByServer => _inactive;

    /// <summary>Grows the per-server counts to <paramref name="serverIdCapacity"/> ids (allocates; call on publish).</summary>
    public void EnsureServerCapacity(int serverIdCapacity)
    {
        if (serverIdCapacity > _active.Length)
        {
            Array.Resize(ref _active, serverIdCapacity);
            Array.Resize(ref _inactive, serverIdCapacity);
        }
    }

    /// <summary>The live entry for <paramref name="key"/>, or -1; an expired entry is removed on the way.</summary>
    public int Find(in FlowKey key, long nowNs)
    {
        var index = _buckets[(int)key.StableHash() & _bucketMask];
        while (index >= 0)
        {
            ref readonly var e = ref _entries[index];
            if (e.ClientLow == key.Client.Low && e.ClientPort == key.ClientPort && e.VipPort == key.VipPort
                && e.ClientHigh == key.Client.High && e.VipLow == key.Vip.Low && e.VipHigh == key.Vip.High
                && e.Protocol == key.Protocol)
            {
                if (e.ExpiresAtNs <= nowNs)
                {
                    Remove(index, nowNs);
                    Expirations++;
                    return -1;
                }

                return index;
            }

            index = e.HashNext;
        }

        return -1;
    }

    /// <summary>
    /// Adds a connection (the caller found none) and links it to persistence entry <paramref name="persistenceIndex"/>
    /// of the service (or -1). Returns its index, or -1 when the table is full of live connections.
    /// </summary>
    public int Add(in FlowKey key, int serviceId, int serverId, ConnectionState state, long expiresAtNs, int persistenceIndex, long nowNs)
    {
        if (_free < 0)
        {
            Sweep(nowNs, ReclaimScanLimit);
            if (_free < 0)
            {
                Rejections++;
                return -1;
            }
        }

        var index = _free;
        ref var e = ref _entries[index];
        _free = e.HashNext;
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
        var table = persistenceIndex >= 0 ? _persistence.Get(serviceId) : null;
        if (table is not null)
        {
            e.PersistenceIndex = persistenceIndex;
            e.PersistenceGeneration = table.GenerationAt(persistenceIndex);
            table.AddConnection(persistenceIndex, expiresAtNs);
        }

        ref var bucket = ref _buckets[(int)key.StableHash() & _bucketMask];
        e.HashNext = bucket;
        bucket = index;
        Count++;
        AdjustServerCount(serverId, state, +1);
        return index;
    }

    public int ServerIdAt(int index) => _entries[index].ServerId;

    public int ServiceIdAt(int index) => _entries[index].ServiceId;

    public ConnectionState StateAt(int index) => _entries[index].State;

    public long ExpiresAtNs(int index) => _entries[index].ExpiresAtNs;

    /// <summary>Moves the connection to <paramref name="state"/> with a new deadline, keeping active/inactive counts.</summary>
    public void Update(int index, ConnectionState state, long expiresAtNs)
    {
        ref var e = ref _entries[index];
        if (e.State != state)
        {
            AdjustServerCount(e.ServerId, e.State, -1);
            AdjustServerCount(e.ServerId, state, +1);
            e.State = state;
        }

        e.ExpiresAtNs = expiresAtNs;
        if (e.PersistenceIndex >= 0)
        {
            _persistence.Extend(e.ServiceId, e.PersistenceIndex, e.PersistenceGeneration, expiresAtNs);
        }
    }

    /// <summary>Drops the connection, releasing its persistence entry and its server's count.</summary>
    public void Remove(int index, long nowNs)
    {
        ref var e = ref _entries[index];
        if (e.ServerId < 0)
        {
            return;
        }

        ref var link = ref _buckets[(int)new FlowKey(new(e.ClientHigh, e.ClientLow), new(e.VipHigh, e.VipLow), e.ClientPort, e.VipPort, e.Protocol).StableHash() & _bucketMask];
        while (link != index)
        {
            link = ref _entries[link].HashNext;
        }

        link = e.HashNext;
        if (e.PersistenceIndex >= 0)
        {
            _persistence.Release(e.ServiceId, e.PersistenceIndex, e.PersistenceGeneration);
        }

        AdjustServerCount(e.ServerId, e.State, -1);
        e.ServerId = -1;
        e.HashNext = _free;
        _free = index;
        Count--;
    }

    /// <summary>Examines the next <paramref name="budget"/> slots round-robin and removes the expired ones.</summary>
    public int Sweep(long nowNs, int budget)
    {
        var removed = 0;
        var cursor = _sweepCursor;
        for (var i = 0; i < budget; i++)
        {
            if (_entries[cursor].ServerId >= 0 && _entries[cursor].ExpiresAtNs <= nowNs)
            {
                Remove(cursor, nowNs);
                Expirations++;
                removed++;
            }

            cursor = cursor + 1 == _entries.Length ? 0 : cursor + 1;
        }

        _sweepCursor = cursor;
        return removed;
    }

    /// <summary>Forgets the persistence links of a service whose persistence table was replaced or dropped.</summary>
    public void DetachPersistence(int serviceId)
    {
        for (var i = 0; i < _entries.Length; i++)
        {
            if (_entries[i].ServerId >= 0 && _entries[i].ServiceId == serviceId)
            {
                _entries[i].PersistenceIndex = -1;
            }
        }
    }

    /// <summary>Every live entry. Allocates; for status views, not the packet path.</summary>
    public IReadOnlyList<ConnectionEntryView> Snapshot()
    {
        var list = new List<ConnectionEntryView>(Count);
        foreach (ref readonly var e in _entries.AsSpan())
        {
            if (e.ServerId >= 0)
            {
                var key = new FlowKey(new(e.ClientHigh, e.ClientLow), new(e.VipHigh, e.VipLow), e.ClientPort, e.VipPort, e.Protocol);
                list.Add(new ConnectionEntryView(key, e.ServiceId, e.ServerId, e.State, e.ExpiresAtNs, e.PersistenceIndex >= 0));
            }
        }

        return list;
    }

    private void AdjustServerCount(int serverId, ConnectionState state, int delta)
    {
        if ((uint)serverId >= (uint)_active.Length)
        {
            return;
        }

        if (state == ConnectionState.Established)
        {
            _active[serverId] += delta;
        }
        else
        {
            _inactive[serverId] += delta;
        }
    }
}
