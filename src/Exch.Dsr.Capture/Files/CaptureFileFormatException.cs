namespace Exch.Dsr.Capture.Files;

/// <summary>
/// The file cannot be replayed at all: it is empty, not a pcap or pcapng file, has an unreadable header, or holds
/// frames of a link type other than Ethernet. Thrown only when a reader is opened; damage later in the file is
/// reported through <see cref="CaptureFileReader.Error"/> instead, so the frames before it still count.
/// </summary>
public sealed class CaptureFileFormatException : Exception
{
    public CaptureFileFormatException(string message)
        : base(message)
    {
    }

    public CaptureFileFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
