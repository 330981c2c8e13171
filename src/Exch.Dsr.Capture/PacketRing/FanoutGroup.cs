namespace Exch.Dsr.Capture.PacketRing;

/// <summary>
/// A PACKET_FANOUT group that splits an interface's traffic between several <see cref="PacketRingPort"/>s (one per
/// forwarding thread) by client: the kernel runs a classic BPF program (PACKET_FANOUT_CBPF) on every received frame
/// that returns a hash of the client address cut to <see cref="ClientPrefixV4"/> / <see cref="ClientPrefixV6"/> bits,
/// and hands the frame to member <c>hash % members</c>.
/// </summary>
/// <remarks>
/// <para>Why by client and not by flow: persistence and connection tables belong to one forwarding thread. With the
/// prefix set to the widest persistence netmask of all services, every connection of one persistence key (all ports
/// of one client, or of one /24) reaches the same thread, so its table alone decides. A flow hash would send a
/// client's 135 and 6001 connections to different threads, and so possibly to different servers.</para>
/// <para>What the program reads (the frame as the kernel holds it at the fanout hook, network header at offset 0;
/// an 802.1Q tag has already been moved into metadata by the receive path, whether the NIC stripped it or not):
/// IPv4 and IPv6 source address; for ICMP / ICMPv6 errors (destination unreachable, packet too big, time exceeded,
/// parameter problem) the destination of the quoted packet instead, which for an error about a reply the VIP sent
/// is the client, so a path-MTU error reaches the thread that owns the flow. Non-first IPv4 fragments have the same
/// source as the first, so no reassembly is needed (and none is done: a reassembled frame could not be re-injected).
/// Everything else (ARP, a second 802.1Q tag, other ethertypes) goes to the first member.</para>
/// <para>Every member must be opened with the same group; the kernel counts members as they join, so open them all
/// before forwarding starts (frames that arrive while members join may land on another member than later ones).
/// Group ids are per network namespace: two processes using the same id on one interface would share the traffic.</para>
/// </remarks>
/// <param name="Id">The PACKET_FANOUT group id, 1–65535, unique in the network namespace.</param>
/// <param name="ClientPrefixV4">Leading bits of an IPv4 client address that choose the member, 0–32.</param>
/// <param name="ClientPrefixV6">Leading bits of an IPv6 client address that choose the member, 0–128.</param>
public sealed record FanoutGroup(ushort Id, int ClientPrefixV4 = 32, int ClientPrefixV6 = 128)
{
    /// <summary>
    /// A group id derived from the process id (never 0), so two exch-dsr processes in one namespace do not share a
    /// group by accident.
    /// </summary>
    public static ushort IdForThisProcess() => (ushort)((Environment.ProcessId % 65535) + 1);

    internal void Validate()
    {
        if (Id == 0)
        {
            throw new ArgumentException("a fanout group id is 1-65535", nameof(Id));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(ClientPrefixV4);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ClientPrefixV4, 32);
        ArgumentOutOfRangeException.ThrowIfNegative(ClientPrefixV6);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ClientPrefixV6, 128);
    }
}
