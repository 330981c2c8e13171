using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.Engine.Tables;

/*
 * PersistenceEntry, 56 bytes (an LVS template is a whole ip_vs_conn, ~128 bytes and more):
 *   [0..8)   masked client address, high 64 bits
 *   [8..16)  masked client address, low 64 bits (IPv4 stored mapped, ::ffff:a.b.c.d)
 *   [16..24) expires-at, ns: the idle timer, restarted by every NEW connection of the client
 *   [24..28) server id; -1 marks an entry that was removed
 *   [28..32) live connections through the entry (maintained by the connection table)
 *   [32..36) next entry in the hash bucket, or in the list of removed entries; -1 ends
 *   [36..40) LRU link towards the most recently used end; -1 ends
 *   [40..44) LRU link towards the least recently used end; -1 ends
 *   [44..48) generation, bumped on every reuse, so a connection holding a stale index is recognised
 *   [48..56) latest deadline any connection through it reported, ns: a connection not yet swept still counts as
 *            live only until then, so lazy connection expiry cannot keep an idle client's entry alive. A busy
 *            connection reports one timeout ahead and only about once per timeout (ConnectionTable.Update), so this
 *            may run up to one connection timeout late, never early.
 */
[StructLayout(LayoutKind.Sequential)]
internal struct PersistenceEntry
{
    public ulong ClientHigh;
    public ulong ClientLow;
    public long ExpiresAtNs;
    public int ServerId;
    public int Connections;
    public int HashNext;
    public int LruNewer;
    public int LruOlder;
    public int Generation;
    public long ConnectionsUntilNs;

    /// <summary>Connections still run through the entry (their count is exact once expired ones are swept).</summary>
    public readonly bool HasLiveConnections(long nowNs) => Connections > 0 && ConnectionsUntilNs > nowNs;

    public readonly bool IsExpired(long nowNs) => ExpiresAtNs <= nowNs && !HasLiveConnections(nowNs);
}

/// <summary>A persistence entry as the status view shows it.</summary>
public readonly record struct PersistenceEntryView(IpAddress128 Client, int ServerId, int Connections, long ExpiresAtNs);

/// <summary>
/// LVS persistence templates for one service (one persistence domain): masked client address → server id.
/// Preallocated and bounded; nothing allocates after construction. Chained hashing with int links into one entry
/// array, plus an exact LRU list ordered by the last new connection. A new table is all zeros and nothing is
/// initialised (buckets hold an entry index plus one; entries are handed out in order until the first is removed), so
/// a table of a million entries costs memory only as clients arrive, and a replay or a start does not wait for it.
/// <para>
/// An entry expires when its idle timer has run out AND no connection runs through it (a connection counts until its
/// own deadline even before the connection table has swept it). When the table is full, the
/// least recently used entry without connections is reclaimed (counted as an expiration if its timer had run out, else
/// as an eviction); entries with live connections are skipped, so a flood of new sources cannot push out active
/// clients. If the scan finds only entries with live connections, the add is refused (<see cref="Rejections"/>).
/// </para>
/// </summary>
public sealed class PersistenceTable
{
    /// <summary>How many LRU entries an add examines for one it may reclaim before giving up.</summary>
    public const int ReclaimScanLimit = 64;

    private readonly PersistenceEntry[] _entries;
    private readonly int[] _buckets;
    private readonly int _bucketMask;
    private readonly ulong _hashSeed;

    // Entries from here on have never been used; below it, removed ones are chained from _free.
    private int _neverUsed;
    private int _free = -1;
    private int _mostRecent = -1;
    private int _leastRecent = -1;

    // The next entry the sweep examines (index order).
    private int _sweepCursor;

    // Entries by server id, so a status read copies them instead of walking every entry on the forwarding thread.
    private int[] _byServer = [];

    /// <param name="hashSeed">Mixed into the bucket hash (<see cref="Forwarding.ForwardingEngineOptions.TableHashSeed"/>).</param>
    public PersistenceTable(int capacity, long timeoutNs, int serverIdCapacity = 0, ulong hashSeed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _hashSeed = hashSeed;
        _entries = new PersistenceEntry[capacity];
        _buckets = new int[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity)];
        _bucketMask = _buckets.Length - 1;
        TimeoutNs = timeoutNs;
        EnsureServerCapacity(serverIdCapacity);
    }

    public int Capacity => _entries.Length;

    public int Count { get; private set; }

    /// <summary>The idle timeout; the engine updates it when a reload changes the service's timeout.</summary>
    public long TimeoutNs { get; set; }

    /// <summary>Entries reclaimed while their timer had not run out (the table was full).</summary>
    public long Evictions { get; private set; }

    public long Expirations { get; private set; }

    /// <summary>Adds refused because every examined entry had live connections.</summary>
    public long Rejections { get; private set; }

    /// <summary>Entries by server id.</summary>
    public ReadOnlySpan<int> EntriesByServer => _byServer;

    /// <summary>
    /// Grows the per-server entry counts to <paramref name="serverIdCapacity"/> ids (allocates; call on publish,
    /// before entries with those ids are added: an id outside the counts is not counted in or out).
    /// </summary>
    public void EnsureServerCapacity(int serverIdCapacity)
    {
        if (serverIdCapacity > _byServer.Length)
        {
            Array.Resize(ref _byServer, serverIdCapacity);
        }
    }

    /// <summary>The entry for <paramref name="client"/> (already masked), or -1; an expired entry is removed on the way.</summary>
    public int Find(in IpAddress128 client, long nowNs)
    {
        var index = _buckets[Bucket(client)] - 1;
        while (index >= 0)
        {
            ref var e = ref _entries[index];
            if (e.ClientHigh == client.High && e.ClientLow == client.Low)
            {
                if (e.IsExpired(nowNs))
                {
                    Remove(index);
                    Expirations++;
                    return -1;
                }

                return index;
            }

            index = e.HashNext;
        }

        return -1;
    }

    /// <summary>Adds an entry (the caller found none) with a fresh timer; returns its index or -1 when refused.</summary>
    public int Add(in IpAddress128 client, int serverId, long nowNs)
    {
        if (_free < 0 && _neverUsed == _entries.Length && !Reclaim(nowNs))
        {
            Rejections++;
            return -1;
        }

        int index;
        if (_free >= 0)
        {
            index = _free;
            _free = _entries[index].HashNext;
        }
        else
        {
            index = _neverUsed++;
        }

        ref var e = ref _entries[index];
        e.ClientHigh = client.High;
        e.ClientLow = client.Low;
        e.ExpiresAtNs = nowNs + TimeoutNs;
        e.ServerId = serverId;
        e.Connections = 0;
        e.ConnectionsUntilNs = 0;
        e.Generation++;
        ref var bucket = ref _buckets[Bucket(client)];
        e.HashNext = bucket - 1;
        bucket = index + 1;
        LinkMostRecent(index);
        Count++;
        if ((uint)serverId < (uint)_byServer.Length)
        {
            _byServer[serverId]++;
        }

        return index;
    }

    /// <summary>A new connection of the client: restart the idle timer and make the entry most recently used.</summary>
    public void Touch(int index, long nowNs)
    {
        _entries[index].ExpiresAtNs = nowNs + TimeoutNs;
        if (_mostRecent != index)
        {
            Unlink(index);
            LinkMostRecent(index);
        }
    }

    public int ServerIdAt(int index) => _entries[index].ServerId;

    public int GenerationAt(int index) => _entries[index].Generation;

    public int ConnectionsAt(int index) => _entries[index].Connections;

    public long ExpiresAtNs(int index) => _entries[index].ExpiresAtNs;

    internal void AddConnection(int index, long connectionExpiresAtNs)
    {
        ref var e = ref _entries[index];
        e.Connections++;
        e.ConnectionsUntilNs = Math.Max(e.ConnectionsUntilNs, connectionExpiresAtNs);
    }

    /// <summary>A connection through the entry moved its deadline; ignored when the entry has since been reused.</summary>
    internal void ExtendConnection(int index, int generation, long connectionExpiresAtNs)
    {
        ref var e = ref _entries[index];
        if (e.Generation == generation && e.ConnectionsUntilNs < connectionExpiresAtNs)
        {
            e.ConnectionsUntilNs = connectionExpiresAtNs;
        }
    }

    /// <summary>A connection through the entry ended; ignored when the entry has since been reused.</summary>
    internal void ReleaseConnection(int index, int generation)
    {
        ref var e = ref _entries[index];
        if (e.Generation == generation && e.ServerId >= 0 && e.Connections > 0)
        {
            e.Connections--;
        }
    }

    /// <summary>Drops the entry; connections still referring to it see a generation mismatch from now on.</summary>
    public void Remove(int index)
    {
        ref var e = ref _entries[index];
        if (e.ServerId < 0)
        {
            return;
        }

        ref var bucket = ref _buckets[Bucket(new IpAddress128(e.ClientHigh, e.ClientLow))];
        if (bucket - 1 == index)
        {
            bucket = e.HashNext + 1;
        }
        else
        {
            ref var link = ref _entries[bucket - 1].HashNext;
            while (link != index)
            {
                link = ref _entries[link].HashNext;
            }

            link = e.HashNext;
        }

        Unlink(index);
        if ((uint)e.ServerId < (uint)_byServer.Length)
        {
            _byServer[e.ServerId]--;
        }

        e.ServerId = -1;
        e.Connections = 0;
        e.HashNext = _free;
        _free = index;
        Count--;
    }

    /// <summary>
    /// Examines the next <paramref name="budget"/> entries in index order, a lap over every entry ever used, and
    /// removes the expired ones. Not from the least recently used end: a client that keeps one connection open for
    /// hours (Outlook) and opens no other stays at that end, so a few of them there would stop a sweep from reaching
    /// the expired entries behind them; and index order reads the entries in sequence, where the LRU list is a chain
    /// of random lines, one miss after another.
    /// </summary>
    public int Sweep(long nowNs, int budget)
    {
        var used = _neverUsed;
        var examine = Math.Min(budget, used);
        var cursor = _sweepCursor;
        var removed = 0;
        for (var examined = 0; examined < examine; examined++)
        {
            if (cursor >= used)
            {
                cursor = 0;
            }

            ref readonly var e = ref _entries[cursor];
            if (e.ServerId >= 0 && e.IsExpired(nowNs))
            {
                Remove(cursor);
                Expirations++;
                removed++;
            }

            cursor++;
        }

        _sweepCursor = cursor;
        return removed;
    }

    /// <summary>Every entry, most recently used first. Allocates; for status views, not the packet path.</summary>
    public IReadOnlyList<PersistenceEntryView> Snapshot()
    {
        var list = new List<PersistenceEntryView>(Count);
        for (var index = _mostRecent; index >= 0; index = _entries[index].LruOlder)
        {
            ref readonly var e = ref _entries[index];
            list.Add(new PersistenceEntryView(new IpAddress128(e.ClientHigh, e.ClientLow), e.ServerId, e.Connections, e.ExpiresAtNs));
        }

        return list;
    }

    private bool Reclaim(long nowNs)
    {
        var index = _leastRecent;
        for (var examined = 0; index >= 0 && examined < ReclaimScanLimit; examined++)
        {
            ref readonly var e = ref _entries[index];
            if (!e.HasLiveConnections(nowNs))
            {
                if (e.ExpiresAtNs <= nowNs)
                {
                    Expirations++;
                }
                else
                {
                    Evictions++;
                }

                Remove(index);
                return true;
            }

            var newer = e.LruNewer;
            RequeueHeld(index, nowNs);
            index = newer;
        }

        return false;
    }

    /// <summary>
    /// Moves an entry that live connections hold to the most recently used end. A client that keeps one connection
    /// open for hours (Outlook) and opens no other is never touched, so its entry would stay at the least recently
    /// used end, and enough of them there would make every reclaim, which starts at that end, give up before the
    /// idle entries behind them. Such an entry can neither expire nor be evicted while it is held: it is in use.
    /// </summary>
    private void RequeueHeld(int index, long nowNs)
    {
        if (index != _mostRecent && _entries[index].HasLiveConnections(nowNs))
        {
            Unlink(index);
            LinkMostRecent(index);
        }
    }

    // With seed 0 this is the address's StableHash.
    internal int Bucket(in IpAddress128 client)
        => (int)StableHashing.Mix(client.High ^ StableHashing.Mix(client.Low ^ _hashSeed)) & _bucketMask;

    private void LinkMostRecent(int index)
    {
        ref var e = ref _entries[index];
        e.LruNewer = -1;
        e.LruOlder = _mostRecent;
        if (_mostRecent >= 0)
        {
            _entries[_mostRecent].LruNewer = index;
        }

        _mostRecent = index;
        if (_leastRecent < 0)
        {
            _leastRecent = index;
        }
    }

    private void Unlink(int index)
    {
        ref var e = ref _entries[index];
        if (e.LruNewer >= 0)
        {
            _entries[e.LruNewer].LruOlder = e.LruOlder;
        }
        else
        {
            _mostRecent = e.LruOlder;
        }

        if (e.LruOlder >= 0)
        {
            _entries[e.LruOlder].LruNewer = e.LruNewer;
        }
        else
        {
            _leastRecent = e.LruNewer;
        }

        e.LruNewer = -1;
        e.LruOlder = -1;
    }
}

/// <summary>The persistence tables of one engine, by stable service id; the connection table releases through it.</summary>
public sealed class PersistenceTableSet
{
    private PersistenceTable?[] _tables = [];

    public PersistenceTable? Get(int serviceId)
        => (uint)serviceId < (uint)_tables.Length ? _tables[serviceId] : null;

    internal void Set(int serviceId, PersistenceTable? table)
    {
        if (serviceId >= _tables.Length)
        {
            Array.Resize(ref _tables, serviceId + 1);
        }

        _tables[serviceId] = table;
    }

    internal void Release(int serviceId, int index, int generation)
        => Get(serviceId)?.ReleaseConnection(index, generation);

    internal void Extend(int serviceId, int index, int generation, long connectionExpiresAtNs)
        => Get(serviceId)?.ExtendConnection(index, generation, connectionExpiresAtNs);
}
