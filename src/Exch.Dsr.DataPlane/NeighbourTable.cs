using System.Net;
using System.Net.Sockets;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane;

/// <summary>A server's MAC as the neighbour table last adopted it: learned from ARP, or moved to a new address.</summary>
/// <param name="Server">The server's configured name.</param>
/// <param name="Address">The server's address.</param>
/// <param name="Previous">The MAC it had before, or null when this is the first answer.</param>
/// <param name="Current">The MAC it has now.</param>
public sealed record NeighbourChange(string Server, IPAddress Address, MacAddress? Previous, MacAddress Current);

/// <summary>
/// The MACs of real servers configured with <c>mac = "auto"</c>, learned from ARP (IPv4) and neighbour discovery
/// (IPv6) frames the forwarding threads see: answers to the resolver's ARP requests and neighbour solicitations, and
/// any ARP or solicitation a server sends from its address.
/// </summary>
/// <remarks>
/// <para>Two sides, no lock. Forwarding threads call <see cref="Observe"/> for every ARP and NDP frame: a scan of a small
/// array of addresses and one <see cref="Volatile.Write(ref long, long)"/> of the MAC into the server's slot; several
/// threads may write the same slot, the last writer wins, which is what a neighbour cache does. The control thread
/// alone calls <see cref="AdoptObserved"/>, which compares the slots with the MACs it adopted before and reports the
/// differences, and alone reads <see cref="MacOf"/>.</para>
/// <para>IPv4 servers are asked with ARP (<see cref="ArpTargets"/>), IPv6 servers with neighbour solicitations
/// (<see cref="NdpTargets"/>); both answers land in the same slots.</para>
/// </remarks>
public sealed class NeighbourTable
{
    // Slot layout (64 bits): bit 63 set = a MAC was seen; bits 0-47 = the MAC, first octet most significant.
    private const long SeenFlag = long.MinValue;
    private const long MacMask = 0xFFFF_FFFF_FFFFL;

    private readonly RealServerConfig[] _servers;
    private readonly IpAddress128[] _watched;
    private readonly IpAddress128[] _arpTargets;
    private readonly IpAddress128[] _ndpTargets;
    private readonly int[] _watchedServer;
    private readonly long[] _observed;
    private readonly MacAddress?[] _adopted;

    public NeighbourTable(IReadOnlyList<RealServerConfig> servers)
    {
        _servers = [.. servers];
        _adopted = new MacAddress?[_servers.Length];
        var watched = new List<(IpAddress128, int)>();
        for (int i = 0; i < _servers.Length; i++)
        {
            if (_servers[i].Mac is { } configured)
            {
                _adopted[i] = MacAddress.Read(configured.GetAddressBytes());
            }
            else
            {
                watched.Add((IpAddress128.FromIPAddress(_servers[i].Address), i));
            }
        }

        _watched = [.. watched.Select(w => w.Item1)];
        _arpTargets = [.. _watched.Where(a => a.IsIPv4)];
        _ndpTargets = [.. _watched.Where(a => !a.IsIPv4)];
        _watchedServer = [.. watched.Select(w => w.Item2)];
        _observed = new long[_watched.Length];
    }

    /// <summary>The IPv4 addresses the resolver asks for with ARP: every IPv4 server configured as <c>auto</c>.</summary>
    public ReadOnlySpan<IpAddress128> ArpTargets => _arpTargets;

    /// <summary>The IPv6 addresses the resolver asks for with neighbour solicitations: every IPv6 server configured as <c>auto</c>.</summary>
    public ReadOnlySpan<IpAddress128> NdpTargets => _ndpTargets;

    /// <summary>Whether any server needs asking (ARP or NDP).</summary>
    public bool HasTargets => _watched.Length > 0;

    /// <summary>The servers, in configuration order.</summary>
    public IReadOnlyList<RealServerConfig> Servers => _servers;

    /// <summary>
    /// Records that <paramref name="senderIp"/> was seen at <paramref name="senderMac"/> (an ARP frame's sender fields,
    /// or a neighbour advertisement's target and link-layer address).
    /// Forwarding threads; allocation-free, lock-free. Returns whether the address is one of the watched servers.
    /// </summary>
    public bool Observe(IpAddress128 senderIp, MacAddress senderMac)
    {
        if (senderMac.IsZero || senderMac.IsMulticast)
        {
            return false;
        }

        var watched = _watched;
        for (int i = 0; i < watched.Length; i++)
        {
            if (watched[i] == senderIp)
            {
                Volatile.Write(ref _observed[i], SeenFlag | (long)senderMac.ToUInt64());
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Adopts what the forwarding threads observed since the last call: one change per server whose MAC is new or
    /// different. Control thread only.
    /// </summary>
    public IReadOnlyList<NeighbourChange> AdoptObserved()
    {
        List<NeighbourChange>? changes = null;
        for (int i = 0; i < _observed.Length; i++)
        {
            long slot = Volatile.Read(ref _observed[i]);
            if ((slot & SeenFlag) == 0)
            {
                continue;
            }

            var mac = MacAddress.FromUInt64((ulong)(slot & MacMask));
            int server = _watchedServer[i];
            if (_adopted[server] is { } known && known == mac)
            {
                continue;
            }

            (changes ??= []).Add(new NeighbourChange(_servers[server].Name, _servers[server].Address, _adopted[server], mac));
            _adopted[server] = mac;
        }

        return changes ?? (IReadOnlyList<NeighbourChange>)[];
    }

    /// <summary>The MAC frames for server <paramref name="index"/> are rewritten to, or null while unknown. Control thread only.</summary>
    public MacAddress? MacOf(int index) => _adopted[index];
}
