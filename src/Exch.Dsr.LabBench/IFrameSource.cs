using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.LabBench;

/// <summary>
/// Frames in time order for a replay: a capture file, or traffic synthesized in memory. Each frame's
/// <see cref="CapturedFrame.Data"/> is writable and valid until the next call, so the engine rewrites it in place.
/// </summary>
public interface IFrameSource
{
    /// <summary>Progress through the source, in <see cref="Length"/>'s unit.</summary>
    long Position { get; }

    /// <summary>The size of the source (bytes of a file, frames of a synthesis) for a progress bar.</summary>
    long Length { get; }

    /// <summary>Set when the source stopped at damage; every frame before it was returned.</summary>
    CaptureFileError? Error { get; }

    bool TryReadNext(out CapturedFrame frame);
}

/// <summary>A capture file as a frame source.</summary>
public sealed class CaptureFileSource(CaptureFileReader reader, long fileLength) : IFrameSource
{
    public long Position { get; private set; }

    public long Length => fileLength;

    public CaptureFileError? Error => reader.Error;

    public bool TryReadNext(out CapturedFrame frame)
    {
        if (!reader.TryReadNext(out frame))
        {
            return false;
        }

        Position = frame.FileOffset;
        return true;
    }
}
