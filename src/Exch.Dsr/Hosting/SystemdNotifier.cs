using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Exch.Dsr.Hosting;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram per state change to the unix socket named by <c>NOTIFY_SOCKET</c>
/// (a path, or an abstract name written with a leading '@'). Without the variable every call is a no-op, so the
/// same binary runs under systemd, in a terminal and in tests.
/// </summary>
/// <remarks>
/// Failures to send are swallowed after one attempt: the service must never stop because its supervisor's socket
/// went away; systemd notices a missing READY=1 on its own (TimeoutStartSec).
/// </remarks>
public sealed class SystemdNotifier : IDisposable
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endPoint;
    private readonly Lock _send = new();

    /// <param name="socketPath">The value of <c>NOTIFY_SOCKET</c>; null or empty makes a notifier that sends nothing.</param>
    public SystemdNotifier(string? socketPath)
    {
        if (string.IsNullOrEmpty(socketPath) || (socketPath[0] != '/' && socketPath[0] != '@'))
        {
            return;
        }

        // An abstract socket's name starts with a NUL byte; systemd writes it as '@'.
        _endPoint = new UnixDomainSocketEndPoint(socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>Whether <c>NOTIFY_SOCKET</c> named a socket, i.e. systemd (or a test standing in for it) listens.</summary>
    public bool IsEnabled => _socket is not null;

    public static SystemdNotifier FromEnvironment() => new(Environment.GetEnvironmentVariable(SocketVariable));

    /// <summary>The CLOCK_MONOTONIC time in microseconds, as RELOADING=1 wants it in MONOTONIC_USEC.</summary>
    /// <remarks>On Linux <see cref="Stopwatch"/> reads CLOCK_MONOTONIC, the clock systemd compares with.</remarks>
    public static long MonotonicMicroseconds() => (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));

    /// <summary>READY=1, with a STATUS line for <c>systemctl status</c>.</summary>
    public bool Ready(string status) => Send($"READY=1\nSTATUS={OneLine(status)}");

    /// <summary>RELOADING=1 with MONOTONIC_USEC, before a reload; follow it with <see cref="Ready"/>.</summary>
    public bool Reloading(string status) => Send(string.Create(CultureInfo.InvariantCulture, $"RELOADING=1\nMONOTONIC_USEC={MonotonicMicroseconds()}\nSTATUS={OneLine(status)}"));

    /// <summary>STOPPING=1, at the start of shutdown.</summary>
    public bool Stopping(string status) => Send($"STOPPING=1\nSTATUS={OneLine(status)}");

    /// <summary>A STATUS line alone.</summary>
    public bool Status(string status) => Send($"STATUS={OneLine(status)}");

    /// <summary>Sends one datagram of newline-separated assignments; false when disabled or the send failed.</summary>
    public bool Send(string state)
    {
        if (_socket is null)
        {
            return false;
        }

        try
        {
            lock (_send)
            {
                _socket.SendTo(Encoding.UTF8.GetBytes(state), _endPoint!);
            }

            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public void Dispose() => _socket?.Dispose();

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
