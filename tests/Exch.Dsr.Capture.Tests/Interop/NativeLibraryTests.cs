using Exch.Dsr.Capture.Interop;
using Exch.Dsr.Capture.LibPcap;

namespace Exch.Dsr.Capture.Tests.Interop;

public sealed class NativeLibraryTests
{
    [Test]
    public void Libpcap_resolves_through_its_debian_soname()
    {
        if (!PcapPort.IsLibraryAvailable(out string message))
        {
            Assert.Ignore($"install libpcap0.8 ({message})");
        }

        Assert.That(message, Does.StartWith("libpcap loaded as libpcap.so"));
        Assert.That(PcapPort.LibraryVersion, Does.StartWith("libpcap version 1."));
    }

    [Test]
    public void Libc_resolves_and_reports_errno_as_a_typed_value()
    {
        int fd = Libc.Open("/nonexistent/exch-dsr", Libc.O_RDONLY | Libc.O_CLOEXEC);
        Errno errno = ErrnoExtensions.LastErrno();

        Assert.That(fd, Is.EqualTo(-1));
        Assert.That(errno, Is.EqualTo(Errno.ENOENT));
        Assert.That(errno.Describe(), Is.EqualTo("ENOENT (No such file or directory)"));
    }

    [Test]
    public void A_failed_mmap_is_map_failed_not_null()
    {
        nint address = Libc.Mmap(0, 4096, Libc.PROT_READ, Libc.MAP_SHARED, -1, 0); // MAP_SHARED of fd -1: EBADF

        Assert.That(address, Is.EqualTo(Libc.MAP_FAILED));
        Assert.That(ErrnoExtensions.LastErrno(), Is.EqualTo(Errno.EBADF));
    }
}
