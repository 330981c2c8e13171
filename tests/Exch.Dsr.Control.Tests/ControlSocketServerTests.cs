using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.Control.Tests;

/// <summary>The server and the client over real Unix sockets in a temporary directory, with a fake cluster behind them.</summary>
[TestFixture]
public sealed class ControlSocketServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private string _directory = null!;
    private string _path = null!;
    private FakeClusterControl _control = null!;
    private ListLogger<ControlSocketServer> _log = null!;
    private readonly List<ControlSocketServer> _servers = [];

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "exch-dsr-control-" + Guid.NewGuid().ToString("N"));
        _path = Path.Combine(_directory, "run", "control.sock");
        _control = new FakeClusterControl();
        _log = new ListLogger<ControlSocketServer>();
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        _servers.Clear();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Test]
    public async Task Status_ComesBackWhole()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "status" });

        Assert.That(response.Ok, Is.True, response.Message);
        Assert.That(response.Version, Is.EqualTo(ControlProtocol.Version));
        var status = response.Status!;
        Assert.Multiple(() =>
        {
            Assert.That(status.Interface, Is.EqualTo("eth1"));
            Assert.That(status.StartedAt, Is.EqualTo(FakeClusterControl.Started));
            Assert.That(status.Services.Select(s => s.Name), Is.EqualTo(new[] { "outlook-rpc", "smtp" }));
            Assert.That(status.Services[0].Persistence, Is.EqualTo(TimeSpan.FromSeconds(300)));
            Assert.That(status.Services[1].Persistence, Is.Null);
            Assert.That(status.Services[0].Members[1], Is.EqualTo(_control.Status.Services[0].Members[1]));
            Assert.That(status.Totals, Is.EqualTo(_control.Status.Totals));
        });
    }

    [Test]
    public async Task Conns_PassesEveryFilterThrough()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "conns", Service = "outlook-rpc", Server = "CAS1", Client = "10.0.0.0/24", Limit = 5 });

        Assert.That(response.Ok, Is.True, response.Message);
        Assert.That(_control.LastFilter, Is.EqualTo(new TableFilter("outlook-rpc", "CAS1", "10.0.0.0/24", 5)));
        Assert.That(response.Connections, Is.EqualTo(_control.Connections));
        Assert.That(response.Message, Is.EqualTo("2 connections"));
    }

    [Test]
    public async Task Persist_WithoutFilters_MatchesEverythingUpToTheDefaultLimit()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "persist" });

        Assert.That(response.Ok, Is.True, response.Message);
        Assert.That(_control.LastFilter, Is.EqualTo(new TableFilter()));
        Assert.That(response.Persistence, Is.EqualTo(_control.Persistence));
        Assert.That(response.Message, Is.EqualTo("2 persistence entries"));
    }

    [Test]
    public async Task Listing_AtTheLimit_SaysItWasCut()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "persist", Limit = 2 });

        Assert.That(response.Message, Does.Contain("the first 2"));
    }

    [TestCase("drain", "CAS1", "outlook-rpc", "Drain CAS1 outlook-rpc")]
    [TestCase("disable", "CAS2", null, "Disable CAS2 *")]
    [TestCase("enable", "CAS1", null, "Enable CAS1 *")]
    public async Task AdminStates_ReachTheCluster_AndAreLoggedWithThePeer(string command, string server, string? service, string call)
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = command, Server = server, Service = service });

        Assert.That(response.Ok, Is.True, response.Message);
        Assert.That(_control.Calls, Is.EqualTo(new[] { call }));
        Assert.That(_log.Lines, Has.Some.Match($@"^Information: control: {command} {server}.* by uid {CurrentUid()} pid \d+: "));
    }

    [Test]
    public async Task Weight_ReachesTheCluster()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "weight", Server = "CAS2", Weight = 3, Service = "smtp" });

        Assert.That(response.Ok, Is.True, response.Message);
        Assert.That(_control.Calls, Is.EqualTo(new[] { "Weight CAS2 3 smtp" }));
    }

    [TestCase(null, 3)]
    [TestCase("CAS1", null)]
    [TestCase("CAS1", -1)]
    [TestCase("CAS1", 65536)]
    public async Task Weight_WithoutServerOrInRange_IsRefusedBeforeTheCluster(string? server, int? weight)
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "weight", Server = server, Weight = weight });

        Assert.That(response.Ok, Is.False);
        Assert.That(response.Message, Does.Contain("0 to 65535"));
        Assert.That(_control.Calls, Is.Empty);
    }

    [Test]
    public async Task Drain_WithoutServer_IsRefused()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "drain" });

        Assert.That(response.Ok, Is.False);
        Assert.That(response.Message, Does.StartWith("drain needs a server"));
        Assert.That(_control.Calls, Is.Empty);
    }

    [Test]
    public async Task RefusedChange_CarriesItsMessage_AndIsLoggedAsAWarning()
    {
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "drain", Server = "CAS9" });

        Assert.That(response.Ok, Is.False);
        Assert.That(response.Message, Is.EqualTo("no server 'CAS9'; servers are CAS1, CAS2"));
        Assert.That(_log.Lines, Has.Some.StartsWith("Warning: control: drain CAS9 by uid"));
    }

    [Test]
    public async Task Reload_Failure_ReturnsEveryError()
    {
        _control.ReloadResult = ControlResult.Failure(
            "2 errors in '/etc/exch-dsr/exch-dsr.toml'; the running configuration stays",
            ["/etc/exch-dsr/exch-dsr.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh", "/etc/exch-dsr/exch-dsr.toml:14:1: unknown key 'persistance'"]);
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "reload" });

        Assert.That(response.Ok, Is.False);
        Assert.That(response.Errors, Is.EqualTo(_control.ReloadResult.Errors));
        Assert.That(response.Message, Does.Contain("running configuration stays"));
    }

    [Test]
    public async Task ClusterThatThrows_GivesAnErrorResponse_AndTheServerGoesOn()
    {
        _control.Throw = new InvalidOperationException("snapshot builder exploded");
        await StartAsync();

        var response = await SendAsync(new ControlRequest { Command = "status" });
        _control.Throw = null;
        var next = await SendAsync(new ControlRequest { Command = "status" });

        Assert.That(response.Ok, Is.False);
        Assert.That(response.Message, Is.EqualTo("status failed inside exch-dsr: snapshot builder exploded"));
        Assert.That(next.Ok, Is.True);
        Assert.That(_log.Lines, Has.Some.StartsWith("Error: control: status from uid"));
    }

    [TestCase("this is not json", "malformed request")]
    [TestCase("[1,2,3]", "malformed request")]
    [TestCase("null", "malformed request")]
    [TestCase("{\"command\":\"drain\",\"server\":\"CAS1\",\"sevice\":\"smtp\"}", "sevice")]
    [TestCase("{\"command\":\"drain\",\"server\":7}", "malformed request")]
    [TestCase("{\"version\":2,\"command\":\"status\"}", "protocol version 2 is not supported; this exch-dsr speaks version 1")]
    [TestCase("{\"command\":\"shutdown\"}", "unknown command 'shutdown'; one of status, conns, persist, drain, disable, enable, weight, reload")]
    [TestCase("{\"command\":\"conns\",\"limit\":0}", "limit must be between 1 and")]
    [TestCase("\u00ff\u00fe{", "malformed request")]
    public async Task BadRequest_GetsAnError_AndTheConnectionStillServes(string line, string expected)
    {
        await StartAsync();
        using var socket = await ConnectAsync();

        await SendRawAsync(socket, Encoding.Latin1.GetBytes(line + "\n{\"command\":\"status\"}\n"));
        var lines = await ReadLinesAsync(socket, 2);

        var bad = ControlProtocol.DeserializeResponse(lines[0]);
        Assert.That(bad.Ok, Is.False);
        Assert.That(bad.Message, Does.Contain(expected));
        Assert.That(ControlProtocol.DeserializeResponse(lines[1]).Ok, Is.True);
        Assert.That(_control.Calls, Is.EqualTo(new[] { "status" }), "the bad request reached the cluster");
    }

    [Test]
    public async Task LastRequestWithoutNewline_IsStillAnswered()
    {
        await StartAsync();
        using var socket = await ConnectAsync();

        await SendRawAsync(socket, "\n  \r\n{\"command\":\"status\"}"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send);
        var lines = await ReadLinesAsync(socket, 1);

        Assert.That(ControlProtocol.DeserializeResponse(lines[0]).Ok, Is.True);
    }

    [Test]
    public async Task OversizedRequest_IsRefusedAndClosed_AndOthersAreStillServed()
    {
        await StartAsync();
        using var socket = await ConnectAsync();

        var huge = new byte[ControlProtocol.MaxRequestBytes + 4096];
        Array.Fill(huge, (byte)'x');
        try
        {
            await SendRawAsync(socket, huge);
        }
        catch (SocketException)
        {
            // The server may close before all of it is written; its answer is still in our receive buffer.
        }

        var lines = await ReadLinesAsync(socket, 1);
        var response = ControlProtocol.DeserializeResponse(lines[0]);
        Assert.That(response.Ok, Is.False);
        Assert.That(response.Message, Is.EqualTo($"request longer than {ControlProtocol.MaxRequestBytes} bytes; closing"));
        Assert.That(await ReadToEndAsync(socket), Is.Empty, "the connection was not closed");
        Assert.That((await SendAsync(new ControlRequest { Command = "status" })).Ok, Is.True);
    }

    [Test]
    public async Task SlowClient_IsToldAndClosed_AfterTheReadTimeout()
    {
        await StartAsync(new ControlSocketOptions { Path = _path, ReadTimeout = TimeSpan.FromMilliseconds(300) });
        using var socket = await ConnectAsync();

        await SendRawAsync(socket, "{\"command\":"u8.ToArray());
        var watch = Stopwatch.StartNew();
        var lines = await ReadLinesAsync(socket, 1);

        Assert.That(ControlProtocol.DeserializeResponse(lines[0]).Message, Does.StartWith("no complete request line within 0.3 s"));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(await ReadToEndAsync(socket), Is.Empty);
    }

    [Test]
    public async Task ManyConcurrentClients_AreAllAnswered()
    {
        await StartAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => SendAsync(new ControlRequest { Command = i % 2 == 0 ? "status" : "conns" })));

        Assert.That(responses.All(r => r.Ok), Is.True);
        Assert.That(_control.Calls, Has.Count.EqualTo(64));
    }

    [Test]
    public async Task ClientsBeyondTheBound_WaitTheirTurn()
    {
        _control.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(new ControlSocketOptions { Path = _path, MaxClients = 2 });

        var held = new[] { SendAsync(new ControlRequest { Command = "status" }), SendAsync(new ControlRequest { Command = "status" }) };
        await WaitUntilAsync(() => _control.Calls.Count == 2);
        var waiting = SendAsync(new ControlRequest { Command = "conns" });
        await Task.Delay(300);

        Assert.That(_control.Calls, Has.Count.EqualTo(2), "a third client was served while two were in progress");
        Assert.That(waiting.IsCompleted, Is.False);

        _control.Gate.SetResult();
        var served = await Task.WhenAll([.. held, waiting]);

        Assert.That(served.All(r => r.Ok), Is.True);
        Assert.That(_control.Calls.Last(), Is.EqualTo("conns"));
    }

    [Test]
    public async Task Start_CreatesTheDirectory_SetsMode0600_AndStopRemovesTheSocket()
    {
        var server = await StartAsync();

        Assert.That(Directory.Exists(Path.GetDirectoryName(_path)), Is.True);
        Assert.That(File.GetUnixFileMode(_path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(_log.Lines, Has.Some.EqualTo($"Information: control socket listening on {_path} (mode 0600, root only)"));

        await server.StopAsync(CancellationToken.None);

        Assert.That(File.Exists(_path), Is.False);
        Assert.That(async () => await SendAsync(new ControlRequest { Command = "status" }),
            Throws.TypeOf<ControlUnreachableException>().With.Property("Reason").EqualTo(ControlUnreachableReason.Missing));
    }

    [Test]
    public async Task WithAGroup_TheSocketIs0660AndBelongsToIt()
    {
        RequireRoot();
        await StartAsync(new ControlSocketOptions { Path = _path, Group = "adm" });

        Assert.That(File.GetUnixFileMode(_path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
        Assert.That(Stat("%G", _path), Is.EqualTo("adm"));
        Assert.That((await SendAsync(new ControlRequest { Command = "status" })).Ok, Is.True);
    }

    [Test]
    public async Task WithANumericGroup_TheSocketBelongsToThatGid()
    {
        RequireRoot();
        await StartAsync(new ControlSocketOptions { Path = _path, Group = "4" });

        Assert.That(Stat("%g", _path), Is.EqualTo("4"));
    }

    [Test]
    public void UnknownGroup_RefusesToStart_WithTheRemedy()
    {
        var server = New(new ControlSocketOptions { Path = _path, Group = "no-such-group-xdsr" });

        Assert.That(() => server.StartAsync(CancellationToken.None),
            Throws.InvalidOperationException.With.Message.EqualTo("socket-group 'no-such-group-xdsr' does not exist; create it (groupadd no-such-group-xdsr) or remove socket-group from [control]"));
    }

    [Test]
    public async Task StaleSocket_IsRemoved_AndTheServerStarts()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        MakeStaleSocket(_path);
        Assert.That(async () => await SendAsync(new ControlRequest { Command = "status" }),
            Throws.TypeOf<ControlUnreachableException>().With.Property("Reason").EqualTo(ControlUnreachableReason.Refused));

        await StartAsync();

        Assert.That((await SendAsync(new ControlRequest { Command = "status" })).Ok, Is.True);
        Assert.That(_log.Lines, Has.Some.EqualTo($"Warning: removed stale control socket {_path} (nothing answered on it)"));
    }

    [Test]
    public async Task LiveServerOnThePath_IsNotReplaced()
    {
        await StartAsync();
        var second = New(new ControlSocketOptions { Path = _path });

        Assert.That(() => second.StartAsync(CancellationToken.None),
            Throws.InvalidOperationException.With.Message.EqualTo($"another exch-dsr is already answering on {_path}; stop it first (systemctl stop exch-dsr)"));
        Assert.That((await SendAsync(new ControlRequest { Command = "status" })).Ok, Is.True, "the first server lost its socket");
    }

    [Test]
    public void RegularFileOnThePath_IsNeverDeleted()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        File.WriteAllText(_path, "[appliance]\n");
        var server = New(new ControlSocketOptions { Path = _path });

        Assert.That(() => server.StartAsync(CancellationToken.None), Throws.InvalidOperationException.With.Message.Contains("exists and is not a socket"));
        Assert.That(File.ReadAllText(_path), Is.EqualTo("[appliance]\n"));
    }

    [Test]
    public void Client_OnAMissingSocket_SaysMissing()
    {
        Assert.That(async () => await SendAsync(new ControlRequest { Command = "status" }),
            Throws.TypeOf<ControlUnreachableException>().With.Property("Reason").EqualTo(ControlUnreachableReason.Missing)
                .And.Property("SocketPath").EqualTo(_path));
    }

    [Test]
    public async Task Client_AgainstSomethingElse_SaysBadResponse()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        using var impostor = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        impostor.Bind(new UnixDomainSocketEndPoint(_path));
        impostor.Listen();
        var answering = Task.Run(async () =>
        {
            using var peer = await impostor.AcceptAsync();

            // Reads the whole request line, as any line-based server would, before it answers and closes.
            var buffer = new byte[4096];
            var received = 0;
            while (received == 0 || buffer[received - 1] != (byte)'\n')
            {
                received += await peer.ReceiveAsync(buffer.AsMemory(received));
            }

            await peer.SendAsync("HTTP/1.0 400 Bad Request\r\n\r\n"u8.ToArray());
            peer.Shutdown(SocketShutdown.Both);
        });

        var thrown = await Assert.ThrowsAsync<ControlUnreachableException>(async () => await SendAsync(new ControlRequest { Command = "status" }));
        await answering;

        Assert.That(thrown!.Reason, Is.EqualTo(ControlUnreachableReason.BadResponse));
        Assert.That(thrown.Message, Does.StartWith("the answer is not an exch-dsr response"));
    }

    private async Task<ControlSocketServer> StartAsync(ControlSocketOptions? options = null)
    {
        var server = New(options ?? new ControlSocketOptions { Path = _path });
        await server.StartAsync(CancellationToken.None);
        return server;
    }

    private ControlSocketServer New(ControlSocketOptions options)
    {
        var server = new ControlSocketServer(options, _control, _log);
        _servers.Add(server);
        return server;
    }

    private Task<ControlResponse> SendAsync(ControlRequest request) => ControlClient.SendAsync(_path, request, Timeout);

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_path));
        return socket;
    }

    private static async Task SendRawAsync(Socket socket, byte[] bytes)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(bytes);
    }

    private static async Task<string[]> ReadLinesAsync(Socket socket, int count)
    {
        using var cancel = new CancellationTokenSource(Timeout);
        var received = new List<byte>();
        var buffer = new byte[64 * 1024];
        while (received.Count(b => b == '\n') < count)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel.Token);
            if (read == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, read));
        }

        return Encoding.UTF8.GetString(received.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        using var cancel = new CancellationTokenSource(Timeout);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel.Token)) > 0)
            {
                received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with our unread bytes still queued: a reset, which is a close all the same.
        }

        return received.ToString();
    }

    /// <summary>A socket file nothing listens on, as a killed exch-dsr leaves behind.</summary>
    private static void MakeStaleSocket(string path)
    {
        // .NET unlinks the path a socket was bound to when it is closed; a rename first leaves the file behind.
        var bound = path + ".bound";
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(bound));
            File.Move(bound, path);
        }

        Assert.That(File.Exists(path), Is.True, "could not leave a stale socket behind");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > Timeout)
            {
                Assert.Fail("condition not reached in time");
            }

            await Task.Delay(10);
        }
    }

    private static string Stat(string format, string path)
    {
        var start = new ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return output;
    }

    private static string CurrentUid() => Stat("%u", "/proc/self");

    private static void RequireRoot()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore("giving the socket to another group needs root (chown to a group we are not in)");
        }
    }
}

/// <summary>Keeps every log line as "Level: message".</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
}
