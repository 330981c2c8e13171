namespace Exch.Dsr.Capture.Ports;

/// <summary>A port could not be opened, or failed in a way a forwarding loop cannot continue from.</summary>
public sealed class FramePortException : Exception
{
    public FramePortException(string message, int errno = 0)
        : base(message) => Errno = errno;

    public FramePortException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The errno behind the failure, 0 when there is none (a libpcap error without one, say).</summary>
    public int Errno { get; }
}
