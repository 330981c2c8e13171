using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.Ports;

/// <summary>
/// An eventfd polled next to the capture socket, so another thread can end a blocking receive without signals and
/// without pcap_breakloop (whose flag is sticky: set while no loop runs, it makes the next dispatch return
/// PCAP_ERROR_BREAK, and before libpcap 1.10 it did not interrupt a poll at all).
/// </summary>
internal sealed unsafe class WakeupEvent : IDisposable
{
    private readonly SafeFileDescriptor _fd;

    public WakeupEvent()
    {
        int fd = Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (fd < 0)
        {
            Errno errno = ErrnoExtensions.LastErrno();
            throw new FramePortException($"eventfd failed: {errno.Describe()}", (int)errno);
        }

        _fd = new SafeFileDescriptor(fd);
    }

    public SafeFileDescriptor Handle => _fd;

    /// <summary>Wakes the poller. Writing to an eventfd only fails on counter overflow (EAGAIN), which still leaves it readable.</summary>
    public void Signal()
    {
        bool added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
            ulong one = 1;
            _ = Libc.Write(_fd.Fd, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Disposed already: nobody is left to wake.
        }
        finally
        {
            if (added)
            {
                _fd.DangerousRelease();
            }
        }
    }

    /// <summary>Resets the event; called by the poller (which holds a reference) after it saw the fd readable.</summary>
    public void Drain(int fd)
    {
        ulong value;
        _ = Libc.Read(fd, &value, sizeof(ulong));
    }

    public void Dispose() => _fd.Dispose();
}
