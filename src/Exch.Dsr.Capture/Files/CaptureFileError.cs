namespace Exch.Dsr.Capture.Files;

/// <summary>Why reading a capture file stopped early: the file is truncated or corrupt from this point on.</summary>
/// <param name="FrameNumber">The number the next frame would have had; every frame before it was returned.</param>
/// <param name="ByteOffset">Offset of the record or block that could not be read.</param>
/// <param name="Reason">What is wrong with it, without the position.</param>
public sealed record CaptureFileError(long FrameNumber, long ByteOffset, string Reason)
{
    /// <summary>The reason with its position, e.g. "frame 3 at byte offset 216: record header truncated (8 of 16 bytes)".</summary>
    public string Message => $"frame {FrameNumber} at byte offset {ByteOffset}: {Reason}";

    public override string ToString() => Message;
}
