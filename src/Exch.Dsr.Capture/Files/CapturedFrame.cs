namespace Exch.Dsr.Capture.Files;

/// <summary>One frame read from a capture file.</summary>
/// <remarks>
/// <see cref="Data"/> points into the reader's buffer: it is valid until the next
/// <see cref="CaptureFileReader.TryReadNext"/> and is writable, so the forwarding engine can rewrite
/// addresses in place before the frame is written out.
/// </remarks>
public readonly ref struct CapturedFrame
{
    public CapturedFrame(Span<byte> data, long timestampNs, int originalLength, long frameNumber, long fileOffset)
    {
        Data = data;
        TimestampNs = timestampNs;
        OriginalLength = originalLength;
        FrameNumber = frameNumber;
        FileOffset = fileOffset;
    }

    /// <summary>The captured bytes, starting with the Ethernet header; shorter than <see cref="OriginalLength"/> when the capture was snapped.</summary>
    public Span<byte> Data { get; }

    /// <summary>Capture time in nanoseconds since the Unix epoch.</summary>
    public long TimestampNs { get; }

    /// <summary>Length of the frame on the wire.</summary>
    public int OriginalLength { get; }

    /// <summary>1-based position of the frame in the file, counting packet records only, as Wireshark numbers them.</summary>
    public long FrameNumber { get; }

    /// <summary>Byte offset of the frame's record (pcap) or block (pcapng) from where reading started.</summary>
    public long FileOffset { get; }
}
