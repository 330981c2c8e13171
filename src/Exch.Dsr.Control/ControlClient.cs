using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Exch.Dsr.Control;

/// <summary>Why the control socket could not be used; the CLI turns each into advice.</summary>
public enum ControlUnreachableReason
{
    /// <summary>No file at the path: the service is not running, or uses another socket.</summary>
    Missing,

    /// <summary>The file is there but nothing accepts on it: the service died without removing it.</summary>
    Refused,

    /// <summary>The socket's mode or group does not let this user in.</summary>
    PermissionDenied,

    /// <summary>Connected, but no answer in time.</summary>
    TimedOut,

    /// <summary>Something answered that does not speak the protocol, or closed without answering.</summary>
    BadResponse,
}

/// <summary>The control socket could not be reached or did not answer; the request may not have been carried out.</summary>
public sealed class ControlUnreachableException(string socketPath, ControlUnreachableReason reason, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public string SocketPath { get; } = socketPath;

    public ControlUnreachableReason Reason { get; } = reason;
}

/// <summary>Sends one request to a running exch-dsr and reads its response: what the <c>exch-dsr</c> control commands use.</summary>
public static class ControlClient
{
    /// <summary>The longest response read: a full connection table of a busy appliance fits with room to spare.</summary>
    private const int MaxResponseChars = 512 * 1024 * 1024;

    /// <exception cref="ControlUnreachableException">Nothing answers on <paramref name="socketPath"/>, or not in time.</exception>
    public static async Task<ControlResponse> SendAsync(string socketPath, ControlRequest request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await ConnectAsync(socket, socketPath, deadline.Token);
        }
        catch (SocketException e)
        {
            var reason = e.SocketErrorCode switch
            {
                SocketError.AccessDenied => ControlUnreachableReason.PermissionDenied,
                SocketError.ConnectionRefused => ControlUnreachableReason.Refused,
                _ when !File.Exists(socketPath) => ControlUnreachableReason.Missing,
                _ => ControlUnreachableReason.Refused,
            };
            throw new ControlUnreachableException(socketPath, reason, e.Message, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ControlUnreachableException(socketPath, ControlUnreachableReason.TimedOut, $"no connection within {timeout.TotalSeconds:0.#} s", e);
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        string? line;
        try
        {
            // One write for the request and its newline: a peer that answers and closes as soon as it has read the
            // JSON would otherwise turn the second write into a broken pipe instead of the answer it sent.
            byte[] json = ControlProtocol.Serialize(request);
            byte[] message = new byte[json.Length + 1];
            json.CopyTo(message, 0);
            message[^1] = (byte)'\n';
            await stream.WriteAsync(message, deadline.Token);
            using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 64 * 1024, leaveOpen: true);
            line = await ReadBoundedLineAsync(reader, deadline.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ControlUnreachableException(socketPath, ControlUnreachableReason.TimedOut, $"no answer within {timeout.TotalSeconds:0.#} s", e);
        }
        catch (IOException e)
        {
            throw new ControlUnreachableException(socketPath, ControlUnreachableReason.BadResponse, $"the connection broke: {e.Message}", e);
        }

        if (line is null)
        {
            throw new ControlUnreachableException(socketPath, ControlUnreachableReason.BadResponse, "it closed the connection without answering");
        }

        try
        {
            return ControlProtocol.DeserializeResponse(line);
        }
        catch (JsonException e)
        {
            throw new ControlUnreachableException(socketPath, ControlUnreachableReason.BadResponse, $"the answer is not an exch-dsr response: {e.Message}", e);
        }
    }

    private static async Task ConnectAsync(Socket socket, string socketPath, CancellationToken cancellationToken)
    {
        var endPoint = new UnixDomainSocketEndPoint(socketPath);
        while (true)
        {
            try
            {
                await socket.ConnectAsync(endPoint, cancellationToken);
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.TryAgain)
            {
                // The server's listen backlog is full: it is busy with other clients, not gone.
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
            }
        }
    }

    private static async Task<string?> ReadBoundedLineAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var buffer = new char[16 * 1024];
        while (true)
        {
            int read = await reader.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return line.Length == 0 ? null : line.ToString();
            }

            int newline = Array.IndexOf(buffer, '\n', 0, read);
            line.Append(buffer, 0, newline >= 0 ? newline : read);
            if (newline >= 0)
            {
                return line.ToString();
            }

            if (line.Length > MaxResponseChars)
            {
                throw new IOException($"the answer is longer than {MaxResponseChars} characters");
            }
        }
    }
}
