using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Exch.Dsr.Health.Tests;

/// <summary>
/// A TCP server on 127.0.0.1 that runs <c>handler</c> for each connection (over TLS with a self-signed certificate
/// when asked). Stopping it closes the listener, so the next connect is refused; it can restart on the same port.
/// </summary>
internal sealed class FakeServer : IAsyncDisposable
{
    private readonly Func<Stream, CancellationToken, Task> _handler;
    private readonly X509Certificate2? _certificate;
    private CancellationTokenSource _stop = new();
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;

    private FakeServer(Func<Stream, CancellationToken, Task> handler, bool tls)
    {
        _handler = handler;
        _certificate = tls ? CreateCertificate() : null;
    }

    public int Port { get; private set; }

    public static FakeServer Start(Func<Stream, CancellationToken, Task> handler, bool tls = false)
    {
        var server = new FakeServer(handler, tls);
        server.Listen(0);
        return server;
    }

    /// <summary>Accepts and never answers, holding the connection until the server stops.</summary>
    public static Task Hang(Stream stream, CancellationToken ct) => Task.Delay(Timeout.Infinite, ct);

    public static Func<Stream, CancellationToken, Task> Banner(string text) => async (stream, ct) =>
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text), ct);
        await DrainAsync(stream, ct);
    };

    /// <summary>Waits for <paramref name="request"/>, then writes <paramref name="reply"/> and keeps the connection open.</summary>
    public static Func<Stream, CancellationToken, Task> Expecting(string request, string reply) => async (stream, ct) =>
    {
        var received = new StringBuilder();
        var buffer = new byte[1024];
        while (!received.ToString().Contains(request, StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, ct);
            if (read == 0)
            {
                return;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(reply), ct);
        await DrainAsync(stream, ct);
    };

    /// <summary>
    /// Answers each HTTP/1.1 request with what <paramref name="respond"/> gives for its path, and records the path and
    /// Host header in <paramref name="requests"/>.
    /// </summary>
    public static Func<Stream, CancellationToken, Task> Http(
        Func<string, (int Status, string Body, string? Location)> respond, List<(string Path, string Host)> requests) =>
        async (stream, ct) =>
        {
            using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
            var requestLine = await reader.ReadLineAsync(ct);
            if (requestLine is null)
            {
                return;
            }

            var host = "";
            string? line;
            while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(ct)))
            {
                if (line.StartsWith("Host:", StringComparison.OrdinalIgnoreCase))
                {
                    host = line[5..].Trim();
                }
            }

            var path = requestLine.Split(' ')[1];
            lock (requests)
            {
                requests.Add((path, host));
            }

            var (status, body, location) = respond(path);
            var bodyBytes = Encoding.UTF8.GetBytes(body);
            var head = $"HTTP/1.1 {status} X\r\nContent-Length: {bodyBytes.Length}\r\nConnection: close\r\n" +
                (location is null ? "" : $"Location: {location}\r\n") + "\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), ct);
            await stream.WriteAsync(bodyBytes, ct);
        };

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        _listener?.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Restart()
    {
        _stop.Dispose();
        _stop = new CancellationTokenSource();
        Listen(Port);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _certificate?.Dispose();
    }

    private void Listen(int port)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptAsync(_listener, _stop.Token);
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                connections.Add(ServeAsync(client, ct));
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
        }

        await Task.WhenAll(connections);
    }

    private async Task ServeAsync(TcpClient client, CancellationToken ct)
    {
        using (client)
        {
            try
            {
                Stream stream = client.GetStream();
                if (_certificate is not null)
                {
                    var ssl = new SslStream(stream);
                    await ssl.AuthenticateAsServerAsync(
                        new SslServerAuthenticationOptions { ServerCertificate = _certificate }, ct);
                    stream = ssl;
                }

                await using (stream)
                {
                    await _handler(stream, ct);
                }
            }
            catch (Exception)
            {
                // A probe hanging up, or the server stopping, ends the connection; neither is the test's concern.
            }
        }
    }

    private static async Task DrainAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[1024];
        while (await stream.ReadAsync(buffer, ct) > 0)
        {
        }
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=cas1.example.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Export and re-import so the private key is usable by SslStream on Linux.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
