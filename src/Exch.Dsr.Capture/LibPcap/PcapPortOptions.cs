namespace Exch.Dsr.Capture.LibPcap;

/// <summary>How a <see cref="PcapPort"/> opens its interface.</summary>
public sealed record PcapPortOptions
{
    /// <summary>The capture and injection interface, e.g. "eth1".</summary>
    public required string InterfaceName { get; init; }

    /// <summary>A BPF expression (pcap-filter(7)), e.g. from <see cref="CaptureFilter"/>; null captures everything.</summary>
    public string? Filter { get; init; }

    /// <summary>The snap length, and the longest frame accepted for sending. Default: a 9000-byte jumbo MTU plus header and tag.</summary>
    public int MaxFrameLength { get; init; } = 9018;

    /// <summary>
    /// Immediate mode (default on) delivers every frame as it arrives. Off, libpcap uses a TPACKET_V3 ring whose
    /// blocks are handed over only when full or after <see cref="BufferTimeoutMilliseconds"/>: on light
    /// request/response traffic every frame waits for that timeout.
    /// </summary>
    public bool ImmediateMode { get; init; } = true;

    /// <summary>pcap_set_timeout: the block timeout when <see cref="ImmediateMode"/> is off.</summary>
    public int BufferTimeoutMilliseconds { get; init; } = 1;

    /// <summary>The kernel ring size (pcap_set_buffer_size). Megabytes avoid drops under bursts.</summary>
    public int BufferBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>Promiscuous mode; a DSR balancer owns the VIP's MAC traffic and does not need it.</summary>
    public bool Promiscuous { get; init; }

    /// <summary>The most frames one receive copies out of libpcap; the copy area is sized for this many full frames.</summary>
    public int MaxBatchSize { get; init; } = 256;
}
