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
/// <para>A reload hands the table its new server list (<see cref="Watch"/>): the watched addresses, slots and adopted
/// MACs live in one immutable-shaped set that the control thread replaces with one reference store.</para>
/// </remarks>
public sealed class NeighbourTable
{
    // Slot layout (64 bits): bit 63 set = a MAC was seen; bits 0-47 = the MAC, first octet most significant.
    private const long SeenFlag = long.MinValue;
    private const long MacMask = 0xFFFF_FFFF_FFFFL;

    // Replaced whole by Watch (a reload), read with one volatile load by the forwarding threads.
    private WatchSet _set;

    public NeighbourTable(IReadOnlyList<RealServerConfig> servers) => _set = new WatchSet(servers, null);

    /// <summary>The IPv4 addresses the resolver asks for with ARP: every IPv4 server configured as <c>auto</c>.</summary>
    public ReadOnlySpan<IpAddress128> ArpTargets => Volatile.Read(ref _set).ArpTargets;

    /// <summary>The IPv6 addresses the resolver asks for with neighbour solicitations: every IPv6 server configured as <c>auto</c>.</summary>
    public ReadOnlySpan<IpAddress128> NdpTargets => Volatile.Read(ref _set).NdpTargets;

    /// <summary>Whether any server needs asking (ARP or NDP).</summary>
    public bool HasTargets => Volatile.Read(ref _set).Watched.Length > 0;

    /// <summary>The servers, in configuration order.</summary>
    public IReadOnlyList<RealServerConfig> Servers => Volatile.Read(ref _set).Servers;

    /// <summary>
    /// Watches <paramref name="servers"/> from now on (a reload added, removed or readdressed some). A server that keeps
    /// its name and address keeps the MAC learned for it; a new <c>auto</c> server is unknown until it answers.
    /// Control thread only. A frame observed by a forwarding thread during the swap may be lost; the next request
    /// of the resolver brings it again.
    /// </summary>
    public void Watch(IReadOnlyList<RealServerConfig> servers) => Volatile.Write(ref _set, new WatchSet(servers, _set));

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

        var set = Volatile.Read(ref _set);
        var watched = set.Watched;
        for (int i = 0; i < watched.Length; i++)
        {
            if (watched[i] == senderIp)
            {
                Volatile.Write(ref set.Observed[i], SeenFlag | (long)senderMac.ToUInt64());
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
        var set = _set;
        List<NeighbourChange>? changes = null;
        for (int i = 0; i < set.Observed.Length; i++)
        {
            long slot = Volatile.Read(ref set.Observed[i]);
            if ((slot & SeenFlag) == 0)
            {
                continue;
            }

            var mac = MacAddress.FromUInt64((ulong)(slot & MacMask));
            int server = set.WatchedServer[i];
            if (set.Adopted[server] is { } known && known == mac)
            {
                continue;
            }

            (changes ??= []).Add(new NeighbourChange(set.Servers[server].Name, set.Servers[server].Address, set.Adopted[server], mac));
            set.Adopted[server] = mac;
        }

        return changes ?? (IReadOnlyList<NeighbourChange>)[];
    }

    /// <summary>The MAC frames for server <paramref name="index"/> are rewritten to, or null while unknown. Control thread only.</summary>
    public MacAddress? MacOf(int index) => _set.Adopted[index];

    /// <summary>The servers of one configuration: who is watched, what was seen (forwarding threads), what was adopted.</summary>
    private sealed class WatchSet
    {
        public WatchSet(IReadOnlyList<RealServerConfig> servers, WatchSet? previous)
        {
            Servers = [.. servers];
            Adopted = new MacAddress?[Servers.Length];
            var watched = new List<(IpAddress128, int)>();
            for (int i = 0; i < Servers.Length; i++)
            {
                if (Servers[i].Mac is { } configured)
                {
                    Adopted[i] = MacAddress.Read(configured.GetAddressBytes());
                }
                else
                {
                    watched.Add((IpAddress128.FromIPAddress(Servers[i].Address), i));
                }
            }

            Watched = [.. watched.Select(w => w.Item1)];
            ArpTargets = [.. Watched.Where(a => a.IsIPv4)];
            NdpTargets = [.. Watched.Where(a => !a.IsIPv4)];
            WatchedServer = [.. watched.Select(w => w.Item2)];
            Observed = new long[Watched.Length];
            if (previous is not null)
            {
                CarryOver(previous);
            }
        }

        public RealServerConfig[] Servers { get; }

        public IpAddress128[] Watched { get; }

        public IpAddress128[] ArpTargets { get; }

        public IpAddress128[] NdpTargets { get; }

        public int[] WatchedServer { get; }

        public long[] Observed { get; }

        public MacAddress?[] Adopted { get; }

        private void CarryOver(WatchSet previous)
        {
            for (int i = 0; i < Watched.Length; i++)
            {
                var server = Servers[WatchedServer[i]];
                int old = Array.FindIndex(previous.Watched, a => a == Watched[i]);
                if (old >= 0 && previous.Servers[previous.WatchedServer[old]].Name == server.Name)
                {
                    Observed[i] = Volatile.Read(ref previous.Observed[old]);
                    Adopted[WatchedServer[i]] = previous.Adopted[previous.WatchedServer[old]];
                }
            }
        }
    }
}
