using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Exch.Dsr.Hosting;

namespace Exch.Dsr.Tests;

/// <summary><see cref="SystemdNotifier"/> against a real unix datagram socket standing in for systemd's.</summary>
public sealed class SystemdNotifierTests
{
    [Test]
    public void Ready_reaches_a_socket_named_by_path_as_one_datagram()
    {
        string path = Path.Combine(Path.GetTempPath(), $"exch-dsr-notify-{Guid.NewGuid():N}.sock");
        using var systemd = Bind(path);
        try
        {
            using var notifier = new SystemdNotifier(path);

            bool sent = notifier.Ready("Forwarding on eth1: 3 services, 2 servers");

            Assert.That(sent && notifier.IsEnabled, Is.True);
            Assert.That(Receive(systemd), Is.EqualTo("READY=1\nSTATUS=Forwarding on eth1: 3 services, 2 servers"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void An_abstract_name_written_with_at_reaches_the_abstract_socket()
    {
        string name = $"exch-dsr-notify-{Guid.NewGuid():N}";
        using var systemd = Bind("\0" + name);
        using var notifier = new SystemdNotifier("@" + name);

        notifier.Stopping("stopping\nnow");

        Assert.That(Receive(systemd), Is.EqualTo("STOPPING=1\nSTATUS=stopping now"), "one datagram; a newline in the status would start a new assignment");
    }

    [Test]
    public void Reloading_carries_the_monotonic_clock_in_microseconds()
    {
        string name = $"exch-dsr-notify-{Guid.NewGuid():N}";
        using var systemd = Bind("\0" + name);
        using var notifier = new SystemdNotifier("@" + name);

        notifier.Reloading("reloading");
        string message = Receive(systemd);

        var lines = message.Split('\n');
        Assert.That(lines[0], Is.EqualTo("RELOADING=1"));
        Assert.That(lines[1], Does.StartWith("MONOTONIC_USEC="));
        long usec = long.Parse(lines[1]["MONOTONIC_USEC=".Length..], CultureInfo.InvariantCulture);

        // CLOCK_MONOTONIC counts from boot like /proc/uptime (which also counts suspends; this VM never sleeps).
        double uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.That(usec / 1e6, Is.EqualTo(uptime).Within(5.0));
    }

    [Test]
    public void Without_notify_socket_nothing_is_sent_and_nothing_fails()
    {
        using var none = new SystemdNotifier(null);
        using var relative = new SystemdNotifier("relative/path.sock");

        Assert.That(none.IsEnabled || relative.IsEnabled, Is.False);
        Assert.That(none.Ready("x") || relative.Stopping("x"), Is.False);
    }

    [Test]
    public void A_vanished_socket_is_a_failed_send_not_an_exception()
    {
        using var notifier = new SystemdNotifier(Path.Combine(Path.GetTempPath(), $"exch-dsr-gone-{Guid.NewGuid():N}.sock"));

        Assert.That(notifier.Ready("x"), Is.False);
    }

    private static Socket Bind(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { ReceiveTimeout = 5000 };
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        int length = socket.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }
}
