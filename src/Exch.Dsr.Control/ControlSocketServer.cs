using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Exch.Dsr.Control.Interop;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Control;

/// <summary>
/// Serves the control protocol (<see cref="ControlProtocol"/>) on a Unix stream socket and turns each request into a
/// call on <see cref="IClusterControl"/>. Who may connect is decided by the socket file's mode and group alone.
/// </summary>
/// <remarks>
/// Nothing a client sends can stop the server: malformed, oversized or slow requests get an error line and, when the
/// stream cannot be trusted any more (oversized, timed out), the connection is closed. At most
/// <see cref="ControlSocketOptions.MaxClients"/> clients are served at once, so a stuck script cannot exhaust the
/// process (more wait their turn); each waits at most <see cref="ControlSocketOptions.ReadTimeout"/> for its request.
/// </remarks>
public sealed partial class ControlSocketServer : IHostedService, IAsyncDisposable
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private const int Backlog = 64;

    // What ReadLineAsync returns instead of a line's end.
    private const int ReadClosed = -1;
    private const int ReadOversized = -2;
    private const int ReadTimedOut = -3;

    private readonly ControlSocketOptions _options;
    private readonly IClusterControl _control;
    private readonly ILogger<ControlSocketServer> _logger;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<Task, byte> _clients = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;

    public ControlSocketServer(ControlSocketOptions options, IClusterControl control, ILogger<ControlSocketServer> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxClients, 1);
        _options = options;
        _control = control;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxClients, options.MaxClients);
    }

    /// <summary>The socket's path.</summary>
    public string Path => _options.Path;

    /// <summary>Binds the socket and starts accepting.</summary>
    /// <exception cref="InvalidOperationException">
    /// Another server answers on the path, the path is something other than a socket, the group does not exist, or
    /// the socket cannot be bound; the message says which and what to do.
    /// </exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the control socket needs Linux (SO_PEERCRED, Unix file modes)");
        }

        var path = _options.Path;
        var directory = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        int? groupId = _options.Group is { } group ? LookUpGroup(group) : null;
        RemoveStaleSocket(path);

        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));

            // Under the usual umask (022) the fresh socket is not writable, so not connectable, by others until the
            // mode below is set: there is no window in which anybody but root can connect.
            var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            if (groupId is { } gid)
            {
                if (Libc.Chown(path, -1, gid) != 0)
                {
                    throw new InvalidOperationException($"cannot give control socket {path} to group '{_options.Group}': {Marshal.GetLastPInvokeErrorMessage()}");
                }

                mode |= UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
            }

            File.SetUnixFileMode(path, mode);
            listener.Listen(Backlog);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"cannot listen on control socket {path}: {e.Message}", e);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        Log.Listening(_logger, path, _options.Group is null ? "0600" : "0660", _options.Group ?? "root only");
        _acceptLoop = AcceptLoopAsync(listener, _stopping.Token);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, lets the requests in progress finish (until <paramref name="cancellationToken"/>), removes the socket file.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener.Dispose();
        _listener = null;
        try
        {
            await Task.WhenAll([_acceptLoop, .. _clients.Keys]).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host's stop timeout passed: the clients still running are abandoned with the process.
        }

        try
        {
            File.Delete(_options.Path);
        }
        catch (IOException e)
        {
            Log.UnlinkFailed(_logger, _options.Path, e);
        }

        Log.Stopped(_logger, _options.Path);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    private static int LookUpGroup(string group)
    {
        if (int.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        var entry = Libc.GetGroupByName(group);
        return entry == 0
            ? throw new InvalidOperationException($"socket-group '{group}' does not exist; create it (groupadd {group}) or remove socket-group from [control]")
            : Marshal.ReadInt32(entry, Libc.GroupGidOffset);
    }

    private void RemoveStaleSocket(string path)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidOperationException($"control socket path {path} is a directory; set [control] socket to a file path, e.g. /run/exch-dsr/control.sock");
        }

        if (!File.Exists(path))
        {
            return;
        }

        // Never delete what is not a socket: a mistyped path could name the configuration file itself.
        if (!Libc.IsSocket(path))
        {
            throw new InvalidOperationException($"control socket path {path} exists and is not a socket; remove it or choose another [control] socket");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path);
            Log.StaleRemoved(_logger, path);
            return;
        }

        throw new InvalidOperationException($"another exch-dsr is already answering on {path}; stop it first (systemctl stop exch-dsr)");
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        while (true)
        {
            // A client is accepted only when a slot is free; meanwhile new ones wait in the listen backlog, and past
            // that their connect fails with EAGAIN, which the client retries until its own deadline.
            Socket client;
            try
            {
                await _slots.WaitAsync(stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                client = await listener.AcceptAsync(stopping);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stopping.IsCancellationRequested)
            {
                _slots.Release();
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and the like: keep serving the clients already connected, try again shortly.
                _slots.Release();
                Log.AcceptFailed(_logger, e);
                await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
                continue;
            }

            var serving = ServeAsync(client, stopping);
            _clients.TryAdd(serving, 0);
            _ = serving.ContinueWith(done => _clients.TryRemove(done, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken stopping)
    {
        try
        {
            using (client)
            {
                var peer = PeerOf(client);
                var buffer = new byte[ControlProtocol.MaxRequestBytes + 1];
                int filled = 0;
                while (true)
                {
                    int end;
                    using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping))
                    {
                        timeout.CancelAfter(_options.ReadTimeout);
                        (end, filled) = await ReadLineAsync(client, buffer, filled, timeout.Token);
                        if (end == ReadTimedOut)
                        {
                            if (!stopping.IsCancellationRequested)
                            {
                                await WriteAsync(client, ControlResponse.Refused($"no complete request line within {_options.ReadTimeout.TotalSeconds:0.#} s; closing"), stopping);
                            }

                            return;
                        }
                    }

                    if (end == ReadClosed)
                    {
                        return;
                    }

                    if (end == ReadOversized)
                    {
                        Log.Oversized(_logger, peer);
                        await WriteAsync(client, ControlResponse.Refused($"request longer than {ControlProtocol.MaxRequestBytes} bytes; closing"), stopping);
                        return;
                    }

                    var line = buffer.AsMemory(0, end);
                    if (!IsBlank(line.Span))
                    {
                        var response = await HandleAsync(line, peer, stopping);
                        await WriteAsync(client, response, stopping);
                    }

                    // Keep what followed the newline: the start of the next request.
                    int next = Math.Min(end + 1, filled);
                    buffer.AsSpan(next, filled - next).CopyTo(buffer);
                    filled -= next;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away mid-answer, or the server is stopping.
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> holds a newline; returns its index (or the end of the data at end of stream).</summary>
    private static async Task<(int End, int Filled)> ReadLineAsync(Socket client, byte[] buffer, int filled, CancellationToken cancellationToken)
    {
        int scanned = 0;
        while (true)
        {
            int newline = buffer.AsSpan(scanned, filled - scanned).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                return (scanned + newline, filled);
            }

            scanned = filled;
            if (filled == buffer.Length)
            {
                return (ReadOversized, filled);
            }

            int read;
            try
            {
                read = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return (ReadTimedOut, filled);
            }

            if (read == 0)
            {
                // A last request without its newline still counts: `printf '{"command":"status"}' | socat` works.
                return (filled > 0 ? filled : ReadClosed, filled);
            }

            filled += read;
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;

    private async Task<ControlResponse> HandleAsync(ReadOnlyMemory<byte> line, string peer, CancellationToken cancellationToken)
    {
        ControlRequest request;
        try
        {
            request = ControlProtocol.DeserializeRequest(line.Span);
        }
        catch (JsonException e)
        {
            Log.Malformed(_logger, peer, e.Message);
            return ControlResponse.Refused($"malformed request: {e.Message}");
        }

        if (request.Version != ControlProtocol.Version)
        {
            return ControlResponse.Refused($"protocol version {request.Version} is not supported; this exch-dsr speaks version {ControlProtocol.Version}");
        }

        try
        {
            return await DispatchAsync(request, peer, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ControlResponse.Refused("exch-dsr is stopping");
        }
        catch (ArgumentException e)
        {
            // IClusterControl's answer to a filter naming no service, server or address: the caller's mistake.
            return ControlResponse.Refused(e.Message);
        }
        catch (Exception e)
        {
            Log.RequestFailed(_logger, request.Command, peer, e);
            return ControlResponse.Refused($"{request.Command} failed inside exch-dsr: {e.Message}");
        }
    }

    private async Task<ControlResponse> DispatchAsync(ControlRequest request, string peer, CancellationToken cancellationToken)
    {
        switch (request.Command)
        {
            case ControlProtocol.Status:
                var status = await _control.ReadStatusAsync(cancellationToken);
                return new ControlResponse { Ok = true, Message = $"{status.Services.Count} services", Status = status };

            case ControlProtocol.Conns or ControlProtocol.Persist:
                if (FilterOf(request) is not { } filter)
                {
                    return ControlResponse.Refused($"limit must be between 1 and {ControlProtocol.MaxLimit}");
                }

                if (request.Command == ControlProtocol.Conns)
                {
                    var connections = await _control.ListConnectionsAsync(filter, cancellationToken);
                    return new ControlResponse { Ok = true, Message = Listed(connections.Count, filter.Limit, "connection"), Connections = connections };
                }

                var entries = await _control.ListPersistenceAsync(filter, cancellationToken);
                return new ControlResponse { Ok = true, Message = Listed(entries.Count, filter.Limit, "persistence entry", "persistence entries"), Persistence = entries };

            case ControlProtocol.Drain or ControlProtocol.Disable or ControlProtocol.Enable:
                if (string.IsNullOrWhiteSpace(request.Server))
                {
                    return ControlResponse.Refused($"{request.Command} needs a server, e.g. {{\"command\":\"{request.Command}\",\"server\":\"CAS1\"}}");
                }

                var action = ControlProtocol.AdminActionNamed(request.Command)!.Value;
                return Changed(request, peer, await _control.SetAdminStateAsync(request.Server, action, request.Service, cancellationToken));

            case ControlProtocol.Weight:
                if (string.IsNullOrWhiteSpace(request.Server) || request.Weight is not (>= 0 and <= 65535))
                {
                    return ControlResponse.Refused("weight needs a server and a weight from 0 to 65535, e.g. {\"command\":\"weight\",\"server\":\"CAS1\",\"weight\":3}");
                }

                return Changed(request, peer, await _control.SetWeightAsync(request.Server, request.Weight.Value, request.Service, cancellationToken));

            case ControlProtocol.Reload:
                return Changed(request, peer, await _control.ReloadAsync(cancellationToken));

            default:
                return ControlResponse.Refused($"unknown command '{request.Command}'; one of {string.Join(", ", ControlProtocol.Commands)}");
        }
    }

    private static TableFilter? FilterOf(ControlRequest request)
    {
        var filter = new TableFilter(Blank(request.Service), Blank(request.Server), Blank(request.Client));
        return request.Limit switch
        {
            null => filter,
            >= 1 and <= ControlProtocol.MaxLimit => filter with { Limit = request.Limit.Value },
            _ => null,
        };

        static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
    }

    private static string Listed(int count, int limit, string noun, string? plural = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} {(count == 1 ? noun : plural ?? noun + "s")}{(count >= limit ? $" (the first {limit}; narrow the filter or raise the limit)" : string.Empty)}");

    private ControlResponse Changed(ControlRequest request, string peer, ControlResult result)
    {
        var what = request.Command switch
        {
            ControlProtocol.Reload => "reload",
            ControlProtocol.Weight => $"weight {request.Server} {request.Weight}",
            _ => $"{request.Command} {request.Server}",
        };
        if (request.Service is not null)
        {
            what += $" --service {request.Service}";
        }

        if (result.Ok)
        {
            Log.Applied(_logger, what, peer, result.Message);
        }
        else
        {
            Log.Refused(_logger, what, peer, result.Errors.Count == 0 ? result.Message : $"{result.Message}: {string.Join("; ", result.Errors)}");
        }

        return ControlResponse.From(result);
    }

    /// <summary>"uid 0 pid 1234" from SO_PEERCRED (struct ucred: pid, uid, gid as 32-bit values); "unknown peer" when unavailable.</summary>
    private static string PeerOf(Socket client)
    {
        Span<byte> credentials = stackalloc byte[12];
        try
        {
            return client.GetRawSocketOption(SolSocket, SoPeerCred, credentials) == credentials.Length
                ? string.Create(CultureInfo.InvariantCulture, $"uid {BinaryPrimitives.ReadUInt32LittleEndian(credentials[4..])} pid {BinaryPrimitives.ReadInt32LittleEndian(credentials)}")
                : "unknown peer";
        }
        catch (SocketException)
        {
            return "unknown peer";
        }
    }

    /// <summary>Writes one response line; a client that stops reading is given up on after the read timeout.</summary>
    private async Task WriteAsync(Socket client, ControlResponse response, CancellationToken cancellationToken)
    {
        byte[] json = ControlProtocol.Serialize(response);
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ReadTimeout);
        await using var stream = new NetworkStream(client, ownsSocket: false);
        await stream.WriteAsync(line, timeout.Token);
    }
}
