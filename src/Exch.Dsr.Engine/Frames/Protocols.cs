namespace Exch.Dsr.Engine.Frames;

/// <summary>EtherType values the engine reads (IEEE 802 numbers).</summary>
public static class EtherTypes
{
    public const ushort IPv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort Vlan = 0x8100;
    public const ushort IPv6 = 0x86DD;
    public const ushort ServiceVlan = 0x88A8;

    /// <summary>Pre-standard QinQ outer tag still emitted by some switches.</summary>
    public const ushort LegacyQinQ = 0x9100;

    public static bool IsVlanTag(ushort etherType) => etherType is Vlan or ServiceVlan or LegacyQinQ;
}

/// <summary>IP protocol / IPv6 next-header numbers (IANA).</summary>
public static class IpProtocols
{
    public const byte HopByHop = 0;
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte Esp = 50;
    public const byte Ah = 51;
    public const byte Icmpv6 = 58;
    public const byte NoNextHeader = 59;
    public const byte DestinationOptions = 60;
}

/// <summary>TCP header flag bits (low byte of the flags field).</summary>
[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>ICMP and ICMPv6 message types the engine classifies.</summary>
public static class IcmpTypes
{
    public const byte EchoReply = 0;

    /// <summary>Destination unreachable; code 4 is "fragmentation needed" (PMTU discovery, RFC 1191).</summary>
    public const byte DestinationUnreachable = 3;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;

    public const byte V6DestinationUnreachable = 1;

    /// <summary>ICMPv6 packet too big (PMTU discovery, RFC 8201).</summary>
    public const byte V6PacketTooBig = 2;
    public const byte V6TimeExceeded = 3;
    public const byte V6ParameterProblem = 4;
    public const byte V6EchoRequest = 128;
    public const byte V6EchoReply = 129;
    public const byte V6NeighborSolicitation = 135;
    public const byte V6NeighborAdvertisement = 136;

    /// <summary>
    /// An error that quotes the packet it is about and belongs to that packet's flow: for IPv4 destination
    /// unreachable (every code) and time exceeded, for ICMPv6 destination unreachable, packet too big, time exceeded
    /// and parameter problem (LVS's <c>ip_vs_in_icmp</c> / <c>ip_vs_in_icmp_v6</c> set, without the deprecated
    /// source quench).
    /// </summary>
    public static bool IsFlowError(byte type, bool isV6) => isV6
        ? type is V6DestinationUnreachable or V6PacketTooBig or V6TimeExceeded or V6ParameterProblem
        : type is DestinationUnreachable or TimeExceeded;
}

/// <summary>One 802.1Q / 802.1ad tag: its TPID and tag control information (PCP, DEI, VID).</summary>
public readonly record struct VlanTag(ushort Tpid, ushort Tci)
{
    public ushort VlanId => (ushort)(Tci & 0x0FFF);

    public static VlanTag Customer(ushort vlanId) => new(EtherTypes.Vlan, vlanId);

    public static VlanTag Service(ushort vlanId) => new(EtherTypes.ServiceVlan, vlanId);
}
