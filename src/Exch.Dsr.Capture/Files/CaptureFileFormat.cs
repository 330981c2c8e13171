namespace Exch.Dsr.Capture.Files;

/// <summary>The container format of a capture file, as detected from its first bytes.</summary>
public enum CaptureFileFormat
{
    /// <summary>Classic libpcap format, microsecond or nanosecond timestamps, either byte order.</summary>
    Pcap,

    /// <summary>pcapng: sections of blocks, one or more interfaces each.</summary>
    PcapNg,
}
