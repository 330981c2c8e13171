using System.Collections.Immutable;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.Engine.Routing;

/// <summary>A real server as the status view shows it.</summary>
public sealed record ServerView(int Id, string Name, IpAddress128 Address, MacAddress Mac, ServerState State, int? WeightOverride);

/// <summary>
/// Everything the packet path reads, immutable. The control plane builds a new one with
/// <see cref="RoutingSnapshotBuilder"/> and hands it to each engine's <c>Publish</c>; engines read the reference once
/// per frame, so a frame is routed entirely by one snapshot and no reader ever waits (YARP's snapshot model).
/// </summary>
public sealed class RoutingSnapshot
{
    /*
     * Service lookup: open addressing, linear probing, load factor <= 1/2, power-of-two size.
     * ServiceSlot, 24 bytes, two or three per 64-byte cache line:
     *   [0..8)   VIP high 64 bits
     *   [8..16)  VIP low 64 bits (IPv4 mapped)
     *   [16..20) protocol << 16 | port; 0 marks an empty slot (protocol is never 0)
     *   [20..24) service id
     * VIP set: same scheme keyed by the address alone, value = index into _servicesByVip.
     * Member MACs: ulong set, value = MAC | 1 << 63 so 0 can mark an empty slot.
     */
    private readonly ServiceSlot[] _serviceSlots;
    private readonly ServiceSlot[] _vipSlots;
    private readonly int[][] _servicesByVip;
    private readonly ulong[] _memberMacs;
    private readonly ServiceRoute?[] _servicesById;
    private readonly MacAddress[] _macById;
    private readonly ServerState[] _stateById;

    internal RoutingSnapshot(long version, ImmutableArray<ServiceRoute> services, ImmutableArray<ServerView> servers, int serverIdCapacity, int serviceIdCapacity)
    {
        Version = version;
        Services = services;
        Servers = servers;
        ServerIdCapacity = serverIdCapacity;
        ServiceIdCapacity = serviceIdCapacity;

        _servicesById = new ServiceRoute?[serviceIdCapacity];
        _macById = new MacAddress[serverIdCapacity];
        _stateById = new ServerState[serverIdCapacity];
        Array.Fill(_stateById, ServerState.Disabled);
        foreach (var server in servers)
        {
            _macById[server.Id] = server.Mac;
            _stateById[server.Id] = server.State;
        }

        var portCount = 0;
        foreach (var service in services)
        {
            _servicesById[service.Id] = service;
            portCount += service.Ports.Count;
        }

        _serviceSlots = new ServiceSlot[TableSize(portCount)];
        var vips = new Dictionary<IpAddress128, List<int>>();
        foreach (var service in services)
        {
            foreach (var port in service.Ports)
            {
                Insert(_serviceSlots, service.Vip, Key((byte)service.Protocol, port), service.Id);
            }

            if (!vips.TryGetValue(service.Vip, out var list))
            {
                vips[service.Vip] = list = [];
            }

            list.Add(service.Id);
        }

        _vipSlots = new ServiceSlot[TableSize(vips.Count)];
        _servicesByVip = new int[vips.Count][];
        var index = 0;
        foreach (var (vip, ids) in vips)
        {
            _servicesByVip[index] = [.. ids];
            Insert(_vipSlots, vip, 1, index++);
        }

        _memberMacs = new ulong[TableSize(servers.Length)];
        foreach (var server in servers)
        {
            var value = server.Mac.ToUInt64() | (1UL << 63);
            var mask = _memberMacs.Length - 1;
            var slot = (int)StableHashing.Mix(value) & mask;
            while (_memberMacs[slot] != 0 && _memberMacs[slot] != value)
            {
                slot = (slot + 1) & mask;
            }

            _memberMacs[slot] = value;
        }
    }

    /// <summary>Increases with every snapshot one builder produces.</summary>
    public long Version { get; }

    public ImmutableArray<ServiceRoute> Services { get; }

    public ImmutableArray<ServerView> Servers { get; }

    /// <summary>One more than the highest server id ever handed out by the builder.</summary>
    public int ServerIdCapacity { get; }

    /// <summary>One more than the highest service id ever handed out by the builder.</summary>
    public int ServiceIdCapacity { get; }

    public ServiceRoute? GetService(int serviceId)
        => (uint)serviceId < (uint)_servicesById.Length ? _servicesById[serviceId] : null;

    public MacAddress GetServerMac(int serverId) => _macById[serverId];

    /// <summary>The server's state; ids of servers no longer configured read as <see cref="ServerState.Disabled"/>.</summary>
    public ServerState GetServerState(int serverId)
        => (uint)serverId < (uint)_stateById.Length ? _stateById[serverId] : ServerState.Disabled;

    public bool TryFindService(in IpAddress128 vip, byte protocol, ushort port, out ServiceRoute? service)
    {
        var id = Find(_serviceSlots, vip, Key(protocol, port));
        service = id >= 0 ? _servicesById[id] : null;
        return service is not null;
    }

    public bool IsVip(in IpAddress128 address) => Find(_vipSlots, address, 1) >= 0;

    /// <summary>Ids of every service on <paramref name="vip"/> (any protocol and port); empty if it is not a VIP.</summary>
    public ReadOnlySpan<int> ServicesOnVip(in IpAddress128 vip)
    {
        var index = Find(_vipSlots, vip, 1);
        return index >= 0 ? _servicesByVip[index] : [];
    }

    /// <summary>True when <paramref name="mac"/> belongs to any configured real server (the loop guard).</summary>
    public bool IsServerMac(MacAddress mac)
    {
        var value = mac.ToUInt64() | (1UL << 63);
        var mask = _memberMacs.Length - 1;
        var slot = (int)StableHashing.Mix(value) & mask;
        while (true)
        {
            var stored = _memberMacs[slot];
            if (stored == value)
            {
                return true;
            }

            if (stored == 0)
            {
                return false;
            }

            slot = (slot + 1) & mask;
        }
    }

    private static uint Key(byte protocol, ushort port) => ((uint)protocol << 16) | port;

    private static int TableSize(int entries) => (int)Math.Max(8, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(entries * 2)));

    private static int Slot(in IpAddress128 address, uint key, int mask) => (int)StableHashing.Mix(address.StableHash() ^ key) & mask;

    private static void Insert(ServiceSlot[] slots, in IpAddress128 address, uint key, int value)
    {
        var mask = slots.Length - 1;
        var slot = Slot(address, key, mask);
        while (slots[slot].Key != 0)
        {
            slot = (slot + 1) & mask;
        }

        slots[slot] = new ServiceSlot(address.High, address.Low, key, value);
    }

    private static int Find(ServiceSlot[] slots, in IpAddress128 address, uint key)
    {
        var mask = slots.Length - 1;
        var slot = Slot(address, key, mask);
        while (true)
        {
            ref readonly var s = ref slots[slot];
            if (s.Key == 0)
            {
                return -1;
            }

            if (s.Key == key && s.High == address.High && s.Low == address.Low)
            {
                return s.Value;
            }

            slot = (slot + 1) & mask;
        }
    }

    private readonly record struct ServiceSlot(ulong High, ulong Low, uint Key, int Value);
}
