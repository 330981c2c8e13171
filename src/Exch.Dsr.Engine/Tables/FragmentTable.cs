using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.Engine.Tables;

/*
 * FragmentEntry, 64 bytes:
 *   [0..16)  source address (IPv4 stored mapped)
 *   [16..32) destination address
 *   [32..40) expires-at, ns
 *   [40..44) identification (IPv4: 16 bits; IPv6: the fragment header's 32 bits)
 *   [44..48) server id; -1 marks a free entry
 *   [48..52) service id
 *   [52..56) next entry in the hash bucket; -1 ends
 *   [56]     protocol, then padding to 64
 */
[StructLayout(LayoutKind.Sequential)]
internal struct FragmentEntry
{
    public ulong SourceHigh;
    public ulong SourceLow;
    public ulong DestinationHigh;
    public ulong DestinationLow;
    public long ExpiresAtNs;
    public uint Identification;
    public int ServerId;
    public int ServiceId;
    public int HashNext;
    public byte Protocol;
}

/// <summary>
/// Where the first fragment of a datagram went, so the later fragments (which carry no ports) follow it. A small ring:
/// entries are reused oldest first, which is also the order in which reassembly would give up on them.
/// </summary>
public sealed class FragmentTable
{
    /// <summary>Linux's default ipfrag_time: a receiver discards incomplete datagrams after 30 s.</summary>
    public static readonly long DefaultTimeoutNs = 30L * 1_000_000_000;

    private readonly FragmentEntry[] _entries;
    private readonly int[] _buckets;
    private readonly int _bucketMask;
    private readonly long _timeoutNs;
    private readonly ulong _hashSeed;
    private int _next;

    /// <param name="hashSeed">Mixed into the bucket hash (<see cref="Forwarding.ForwardingEngineOptions.TableHashSeed"/>).</param>
    public FragmentTable(int capacity, long timeoutNs, ulong hashSeed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _hashSeed = hashSeed;
        _entries = new FragmentEntry[capacity];
        _buckets = new int[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity)];
        _bucketMask = _buckets.Length - 1;
        _timeoutNs = timeoutNs;
        Array.Fill(_buckets, -1);
        for (var i = 0; i < capacity; i++)
        {
            _entries[i].ServerId = -1;
            _entries[i].HashNext = -1;
        }
    }

    public int Capacity => _entries.Length;

    /// <summary>Entries overwritten before their timeout ran out.</summary>
    public long Evictions { get; private set; }

    public bool TryFind(in IpAddress128 source, in IpAddress128 destination, byte protocol, uint identification, long nowNs, out int serviceId, out int serverId)
    {
        var index = Find(source, destination, protocol, identification);
        if (index >= 0 && _entries[index].ExpiresAtNs > nowNs)
        {
            serviceId = _entries[index].ServiceId;
            serverId = _entries[index].ServerId;
            return true;
        }

        serviceId = -1;
        serverId = -1;
        return false;
    }

    /// <summary>Records (or refreshes) where the datagram's first fragment went.</summary>
    public void Record(in IpAddress128 source, in IpAddress128 destination, byte protocol, uint identification, int serviceId, int serverId, long nowNs)
    {
        var index = Find(source, destination, protocol, identification);
        if (index < 0)
        {
            index = _next;
            _next = _next + 1 == _entries.Length ? 0 : _next + 1;
            ref var old = ref _entries[index];
            if (old.ServerId >= 0)
            {
                if (old.ExpiresAtNs > nowNs)
                {
                    Evictions++;
                }

                Unlink(index);
            }

            ref var e = ref _entries[index];
            e.SourceHigh = source.High;
            e.SourceLow = source.Low;
            e.DestinationHigh = destination.High;
            e.DestinationLow = destination.Low;
            e.Protocol = protocol;
            e.Identification = identification;
            ref var bucket = ref _buckets[Bucket(source, destination, protocol, identification)];
            e.HashNext = bucket;
            bucket = index;
        }

        _entries[index].ServiceId = serviceId;
        _entries[index].ServerId = serverId;
        _entries[index].ExpiresAtNs = nowNs + _timeoutNs;
    }

    private int Find(in IpAddress128 source, in IpAddress128 destination, byte protocol, uint identification)
    {
        var index = _buckets[Bucket(source, destination, protocol, identification)];
        while (index >= 0)
        {
            ref readonly var e = ref _entries[index];
            if (e.Identification == identification && e.SourceLow == source.Low && e.SourceHigh == source.High
                && e.DestinationLow == destination.Low && e.DestinationHigh == destination.High && e.Protocol == protocol)
            {
                return index;
            }

            index = e.HashNext;
        }

        return -1;
    }

    private void Unlink(int index)
    {
        ref readonly var e = ref _entries[index];
        ref var link = ref _buckets[Bucket(new(e.SourceHigh, e.SourceLow), new(e.DestinationHigh, e.DestinationLow), e.Protocol, e.Identification)];
        while (link != index)
        {
            link = ref _entries[link].HashNext;
        }

        link = e.HashNext;
        _entries[index].ServerId = -1;
    }

    private int Bucket(in IpAddress128 source, in IpAddress128 destination, byte protocol, uint identification)
        => (int)StableHashing.Mix(_hashSeed ^ source.StableHash() ^ (destination.StableHash() * 31) ^ ((ulong)identification << 8) ^ protocol) & _bucketMask;
}
