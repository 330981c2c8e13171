namespace Exch.Dsr.Capture.Ports;

/// <summary>
/// One NIC queue seen by one forwarding thread: receive a batch of frames in place, rewrite them, send them back out
/// the same interface. Implemented by <see cref="LibPcap.PcapPort"/> (libpcap) and
/// <see cref="PacketRing.PacketRingPort"/> (AF_PACKET TPACKET_V2 or V3 receive ring + sendmmsg, optionally one of several in a client-keyed fanout group).
/// </summary>
/// <remarks>
/// <para>Threading: <see cref="Receive"/>, <see cref="TrySend"/> and <see cref="Flush"/> belong to one thread (the
/// port's owner). <see cref="Wakeup"/>, <see cref="ReadCounters"/> and <see cref="IDisposable.Dispose"/> may be called
/// from any thread; disposing wakes a blocked receive, which then throws <see cref="ObjectDisposedException"/> on its
/// next call. Native resources are released after the receive in progress has returned.</para>
/// <para>Frame lifetime: the spans of a <see cref="FrameBatch"/> point into native memory owned by the port (the ring
/// itself, or libpcap's copy area) and stay valid until the next <see cref="Receive"/> or <see cref="IDisposable.Dispose"/>
/// on the same port. A frame whose 802.1Q tag the NIC (or veth) moved into metadata is handed over with the tag put
/// back, so what the caller sees, and re-injects, is the frame as it was on the wire.</para>
/// </remarks>
public interface IFramePort : IDisposable
{
    /// <summary>The interface this port captures from and injects into.</summary>
    string InterfaceName { get; }

    /// <summary>Longest frame (Ethernet header to end of payload, VLAN tag included) received whole and accepted by <see cref="TrySend"/>.</summary>
    int MaxFrameLength { get; }

    /// <summary>
    /// Fills <paramref name="batch"/> with up to <see cref="FrameBatch.Capacity"/> frames, waiting at most
    /// <paramref name="timeoutMilliseconds"/> (0: do not wait, <see cref="Timeout.Infinite"/>: until frames or a wake-up)
    /// when none is ready. Sends still queued by <see cref="TrySend"/> are flushed first. Returns the number of frames
    /// (0 on timeout or wake-up). Allocates nothing. Throws <see cref="FramePortException"/> only for fatal errors
    /// (the interface vanished, the socket broke).
    /// </summary>
    int Receive(FrameBatch batch, int timeoutMilliseconds);

    /// <summary>
    /// Queues one frame to be sent out the interface (the bytes are copied, or written immediately, before this returns).
    /// False when the frame cannot be sent at all (empty or longer than <see cref="MaxFrameLength"/>), counted in
    /// <see cref="FramePortCounters.SendRejected"/>. Kernel refusals (ENOBUFS, EAGAIN, ...) are counted, not thrown.
    /// </summary>
    bool TrySend(ReadOnlySpan<byte> frame);

    /// <summary>Hands every queued frame to the kernel; returns how many it accepted.</summary>
    int Flush();

    /// <summary>Makes a blocked (or the next) <see cref="Receive"/> return promptly. Safe from any thread.</summary>
    void Wakeup();

    /// <summary>A snapshot of this port's counters, the kernel's receive/drop figures included. Safe from any thread.</summary>
    FramePortCounters ReadCounters();
}
