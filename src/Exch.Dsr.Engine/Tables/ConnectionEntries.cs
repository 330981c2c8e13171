using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Tables;

/// <summary>
/// What <see cref="FlowSlots{TEntry, TKey}"/> and <see cref="ConnectionTable"/> need of a connection slot, whatever its
/// family's layout; <typeparamref name="TKey"/> is the flow key in the form the layout compares (an
/// <see cref="IPv4Flow"/> for the 32-byte entry, a <see cref="FlowKey"/> for the 64-byte one). The implementations
/// are structs, so every call through this interface in generic code over them is a direct, inlined field access:
/// the two layouts share one table implementation at no cost per frame.
/// </summary>
internal interface IConnectionEntry<TSelf, TKey>
    where TSelf : unmanaged, IConnectionEntry<TSelf, TKey>
    where TKey : struct
{
    /// <summary>The home hash of <paramref name="key"/>, with the table's seed mixed in.</summary>
    static abstract ulong Hash(in TKey key, ulong seed);

    /// <summary>Protocol 0 marks a free slot (a flow is TCP or UDP), so a table of zero pages is empty.</summary>
    bool IsFree { get; }

    ConnectionState State { get; set; }

    int ServiceId { get; set; }

    int ServerId { get; set; }

    long ExpiresAtNs { get; set; }

    /// <summary>
    /// The deadline last pushed to the linked persistence entry, in units of 2^30 ns rounded down; <see cref="uint.MaxValue"/>
    /// while the connection is linked to none, so the per-frame test "has the deadline passed it" is also the test for a link.
    /// </summary>
    uint PushedUntilUnits { get; set; }

    TKey Key { get; }

    FlowKey FlowKey { get; }

    /// <summary>True when the slot holds <paramref name="key"/> (a free slot holds none).</summary>
    bool Holds(in TKey key);

    /// <summary>Writes <paramref name="key"/> into a free slot; the other fields are the caller's to set.</summary>
    void Occupy(in TKey key);

    void Free();
}

/// <summary>
/// An IPv4 flow in the form its 32-byte connection entry holds it: client address (low half) and VIP (high half) in
/// one word, client port (low) and VIP port (high) in another, so a lookup compares three loads.
/// </summary>
internal readonly record struct IPv4Flow(ulong Addresses, uint Ports, byte Protocol)
{
    public IPv4Flow(uint client, uint vip, ushort clientPort, ushort vipPort, byte protocol)
        : this(client | ((ulong)vip << 32), clientPort | ((uint)vipPort << 16), protocol)
    {
    }

    public uint Vip => (uint)(Addresses >> 32);

    public ushort VipPort => (ushort)(Ports >> 16);

    /// <summary>True when both ends of <paramref name="key"/> are IPv4: the flows the 32-byte entries hold.</summary>
    public static bool Fits(in FlowKey key) => key.Client.IsIPv4 && key.Vip.IsIPv4;

    /// <summary><paramref name="key"/>, which <see cref="Fits"/>, in this form.</summary>
    public static IPv4Flow From(in FlowKey key)
        => new(key.Client.IPv4Value, key.Vip.IPv4Value, key.ClientPort, key.VipPort, key.Protocol);

    public FlowKey ToFlowKey()
        => new(IpAddress128.FromIPv4((uint)Addresses), IpAddress128.FromIPv4(Vip), (ushort)Ports, VipPort, Protocol);
}

/*
 * IPv4ConnectionEntry, 32 bytes: two to a cache line, so that at the table's load nearly every IPv4 flow is found in the
 * one line ProcessBatch prefetched (97 % of a million flows against 76 % for one 64-byte entry a line; RESULTS.md §4).
 * The persistence link lives apart (FlowSlots' links), read only when a connection is added, removed, or reports its
 * deadline about once per timeout.
 *   [0..4)   client address, host order
 *   [4..8)   VIP, host order
 *   [8..10)  client port
 *   [10..12) VIP port
 *   [12]     protocol; 0 marks a free slot
 *   [13]     state (ConnectionState)
 *   [14..16) service id
 *   [16..20) server id
 *   [20..24) the deadline last pushed to the persistence entry, in units of 2^30 ns; uint.MaxValue when not linked
 *   [24..32) expires-at, ns (state timeout from the last packet)
 */
[StructLayout(LayoutKind.Sequential)]
internal struct IPv4ConnectionEntry : IConnectionEntry<IPv4ConnectionEntry, IPv4Flow>
{
    private ulong _addresses;
    private uint _ports;
    private byte _protocol;
    private ConnectionState _state;
    private ushort _serviceId;
    private int _serverId;
    private uint _pushedUntilUnits;
    private long _expiresAtNs;

    public readonly bool IsFree => _protocol == 0;

    public ConnectionState State { readonly get => _state; set => _state = value; }

    public int ServiceId { readonly get => _serviceId; set => _serviceId = (ushort)value; }

    public int ServerId { readonly get => _serverId; set => _serverId = value; }

    public long ExpiresAtNs { readonly get => _expiresAtNs; set => _expiresAtNs = value; }

    public uint PushedUntilUnits { readonly get => _pushedUntilUnits; set => _pushedUntilUnits = value; }

    public readonly IPv4Flow Key => new(_addresses, _ports, _protocol);

    public readonly FlowKey FlowKey => Key.ToFlowKey();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(in IPv4Flow key, ulong seed)
    {
        // The sender chooses its address and port: they fill distinct bits of one word (so no two of its flows to one
        // service mix alike before the seed); the VIP side is the service's.
        var sender = (uint)key.Addresses | ((ulong)(ushort)key.Ports << 32);
        var service = (key.Vip | ((ulong)key.VipPort << 32) | ((ulong)key.Protocol << 48)) * 0x9E37_79B9_7F4A_7C15UL;
        return StableHashing.Mix(seed ^ sender ^ service);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Holds(in IPv4Flow key)
        => _addresses == key.Addresses && _ports == key.Ports && _protocol == key.Protocol;

    public void Occupy(in IPv4Flow key)
    {
        _addresses = key.Addresses;
        _ports = key.Ports;
        _protocol = key.Protocol;
    }

    public void Free() => _protocol = 0;
}

/*
 * IPv6ConnectionEntry, 64 bytes, one cache line: flows with an IPv6 client or VIP. Its persistence link lives apart as
 * the IPv4 entry's does, so both layouts share one table implementation.
 *   [0..8)   client address, high 64 bits
 *   [8..16)  client address, low 64 bits
 *   [16..24) VIP, high 64 bits
 *   [24..32) VIP, low 64 bits
 *   [32..40) expires-at, ns
 *   [40..42) client port
 *   [42..44) VIP port
 *   [44]     protocol; 0 marks a free slot
 *   [45]     state (ConnectionState)
 *   [46..48) service id
 *   [48..52) server id
 *   [52..56) the deadline last pushed to the persistence entry, in units of 2^30 ns; uint.MaxValue when not linked
 *   [56..64) unused: the entry is a whole line so that no entry straddles two
 */
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct IPv6ConnectionEntry : IConnectionEntry<IPv6ConnectionEntry, FlowKey>
{
    private ulong _clientHigh;
    private ulong _clientLow;
    private ulong _vipHigh;
    private ulong _vipLow;
    private long _expiresAtNs;
    private ushort _clientPort;
    private ushort _vipPort;
    private byte _protocol;
    private ConnectionState _state;
    private ushort _serviceId;
    private int _serverId;
    private uint _pushedUntilUnits;

    public readonly bool IsFree => _protocol == 0;

    public ConnectionState State { readonly get => _state; set => _state = value; }

    public int ServiceId { readonly get => _serviceId; set => _serviceId = (ushort)value; }

    public int ServerId { readonly get => _serverId; set => _serverId = value; }

    public long ExpiresAtNs { readonly get => _expiresAtNs; set => _expiresAtNs = value; }

    public uint PushedUntilUnits { readonly get => _pushedUntilUnits; set => _pushedUntilUnits = value; }

    public readonly FlowKey Key
        => new(new(_clientHigh, _clientLow), new(_vipHigh, _vipLow), _clientPort, _vipPort, _protocol);

    public readonly FlowKey FlowKey => Key;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(in FlowKey key, ulong seed)
    {
        var vip = (key.Vip.Low + key.Protocol) ^ (key.Vip.High * 0xC2B2_AE3D_27D4_EB4FUL);
        return StableHashing.Mix(seed ^ key.Client.Low ^ (key.Client.High * 0x9E37_79B9_7F4A_7C15UL)
            ^ (vip * 0x1656_67B1_9E37_79F9UL) ^ ((ulong)key.ClientPort << 48) ^ ((ulong)key.VipPort << 32));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Holds(in FlowKey key)
        => _clientLow == key.Client.Low && _clientPort == key.ClientPort && _vipPort == key.VipPort
            && _clientHigh == key.Client.High && _vipLow == key.Vip.Low && _vipHigh == key.Vip.High
            && _protocol == key.Protocol;

    public void Occupy(in FlowKey key)
    {
        _clientHigh = key.Client.High;
        _clientLow = key.Client.Low;
        _vipHigh = key.Vip.High;
        _vipLow = key.Vip.Low;
        _clientPort = key.ClientPort;
        _vipPort = key.VipPort;
        _protocol = key.Protocol;
    }

    public void Free() => _protocol = 0;
}

/// <summary>A connection's link to the persistence entry it runs through: entry index + 1 (0: none) and its generation.</summary>
internal struct PersistenceLink
{
    public int IndexPlusOne;
    public int Generation;
}
