namespace Exch.Dsr.Capture.PacketRing;

/// <summary>How a <see cref="PacketRingPort"/> sizes its TPACKET_V3 ring and its send batches.</summary>
public sealed record PacketRingOptions
{
    /// <summary>The capture and injection interface, e.g. "eth1".</summary>
    public required string InterfaceName { get; init; }

    /// <summary>
    /// Bytes per ring block: a multiple of the page size. Each frame takes its length plus about 100 bytes of header
    /// and alignment, so a 256 KiB block holds about 1,600 minimum-size frames.
    /// </summary>
    public int BlockSizeBytes { get; init; } = 256 * 1024;

    /// <summary>Blocks in the ring; 64 × 256 KiB = 16 MiB rides out bursts without touching net.core.rmem_max.</summary>
    public int BlockCount { get; init; } = 64;

    /// <summary>
    /// The block retire timeout (tp_retire_blk_tov), at least 1 ms. TPACKET_V3 hands a block to user space only when
    /// it is full or when this timeout expires, so on light request/response traffic (a client waiting for its SYN-ACK,
    /// an RPC call) every frame waits up to this long in the kernel: the lab measured small HTTP requests at
    /// 0.75–0.9× HAProxy's rate with a V3 ring against 1.06–1.31× with per-frame wake-ups. Under load blocks fill
    /// long before the timeout and the figure does not matter. Keep it at 1 ms unless CPU per idle wake-up matters more
    /// than latency.
    /// </summary>
    public int BlockTimeoutMilliseconds { get; init; } = 1;

    /// <summary>The longest frame received and accepted for sending; sizes the send copy slots.</summary>
    public int MaxFrameLength { get; init; } = 9018;

    /// <summary>Frames queued by TrySend before they go out in one sendmmsg.</summary>
    public int SendBatchSize { get; init; } = 64;

    /// <summary>
    /// Joins PACKET_FANOUT group (1–65535) with PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG: N ports on N threads
    /// with the same group id share the interface's traffic, each flow always to the same port (and so the same
    /// thread), fragments reassembled first so they hash with their flow. Null: no fanout.
    /// </summary>
    public ushort? FanoutGroupId { get; init; }

    /// <summary>Promiscuous mode (PACKET_MR_PROMISC); a DSR balancer does not need it.</summary>
    public bool Promiscuous { get; init; }

    /// <summary>
    /// PACKET_QDISC_BYPASS on the sending socket (default on): frames go straight to the driver, as a forwarder wants;
    /// a full driver queue then drops with ENOBUFS instead of queueing.
    /// </summary>
    public bool QdiscBypass { get; init; } = true;
}
