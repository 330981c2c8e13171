namespace Exch.Dsr.Capture.PacketRing;

/// <summary>How a <see cref="PacketRingPort"/> sizes its receive ring and its send batches.</summary>
public sealed record PacketRingOptions
{
    /// <summary>How the receive ring hands frames over: per frame (TPACKET_V2) or per block (TPACKET_V3).</summary>
    public RingReceiveMode ReceiveMode { get; init; } = RingReceiveMode.Frame;

    /// <summary>The capture and injection interface, e.g. "eth1".</summary>
    public required string InterfaceName { get; init; }

    /// <summary>
    /// Bytes per ring block: a multiple of the page size. In <see cref="RingReceiveMode.Block"/> mode each frame takes
    /// its length plus about 100 bytes of header and alignment, so a 256 KiB block holds about 1,600 minimum-size
    /// frames; in <see cref="RingReceiveMode.Frame"/> mode every frame takes a fixed slot sized for the interface's
    /// MTU (1,616 bytes at MTU 1500: 162 slots per 256 KiB block, 10,368 in the default ring).
    /// </summary>
    public int BlockSizeBytes { get; init; } = 256 * 1024;

    /// <summary>Blocks in the ring; 64 × 256 KiB = 16 MiB rides out bursts without touching net.core.rmem_max.</summary>
    public int BlockCount { get; init; } = 64;

    /// <summary>
    /// The block retire timeout (tp_retire_blk_tov), at least 1 ms; <see cref="RingReceiveMode.Block"/> mode only. TPACKET_V3 hands a block to user space only when
    /// it is full or when this timeout expires, so on light request/response traffic (a client waiting for its SYN-ACK,
    /// an RPC call) every frame waits up to this long in the kernel: the lab measured small HTTP requests at
    /// 0.75–0.9× HAProxy's rate with a V3 ring against 1.06–1.31× with per-frame wake-ups. Under load blocks fill
    /// long before the timeout and the figure does not matter. Keep it at 1 ms unless CPU per idle wake-up matters more
    /// than latency, or use <see cref="RingReceiveMode.Frame"/>.
    /// </summary>
    public int BlockTimeoutMilliseconds { get; init; } = 1;

    /// <summary>The longest frame received and accepted for sending; sizes the send copy slots.</summary>
    public int MaxFrameLength { get; init; } = 9018;

    /// <summary>Frames queued by TrySend before they go out in one sendmmsg.</summary>
    public int SendBatchSize { get; init; } = 64;

    /// <summary>
    /// Joins a PACKET_FANOUT group that splits the interface's traffic between the member ports by client address
    /// (see <see cref="FanoutGroup"/>): N ports on N threads opened with the same group. Null: no fanout, this port
    /// gets every frame.
    /// </summary>
    public FanoutGroup? Fanout { get; init; }

    /// <summary>Promiscuous mode (PACKET_MR_PROMISC); a DSR balancer does not need it.</summary>
    public bool Promiscuous { get; init; }

    /// <summary>
    /// PACKET_QDISC_BYPASS on the sending socket (default on): frames go straight to the driver, as a forwarder wants;
    /// a full driver queue then drops with ENOBUFS instead of queueing.
    /// </summary>
    public bool QdiscBypass { get; init; } = true;
}

/// <summary>How a receive ring hands frames to user space.</summary>
public enum RingReceiveMode
{
    /// <summary>
    /// TPACKET_V2: fixed-size frame slots, each handed over the moment it is written, and poll wakes the thread per
    /// frame when it sleeps. The latency of a lone frame is the wake-up itself (tens of µs), as with libpcap's
    /// immediate mode; under load the thread never sleeps and reads whole runs of ready slots.
    /// </summary>
    Frame,

    /// <summary>
    /// TPACKET_V3: frames packed into blocks that are handed over when full or when the block timeout expires (1 ms
    /// at least). Fewest wake-ups and the densest ring, but on light request/response traffic every frame waits for
    /// the timeout.
    /// </summary>
    Block,
}
