using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Exch.Dsr.Lab.Tests;

/// <summary>The lab as a service manager sees it: environment for the process, its real PID, signals, files beside it.</summary>
internal sealed partial class DsrLab
{
    /// <summary>A path in the lab's own directory (removed with the lab).</summary>
    public string LabPath(string name) => Path.Combine(_directory, name);

    /// <summary>
    /// As <see cref="StartForwarderWith"/>, with <paramref name="environment"/> set for exch-dsr only (as systemd sets
    /// NOTIFY_SOCKET and INVOCATION_ID): <c>ip netns exec NS env K=V … dotnet exch-dsr.dll run</c>. Both ip and env
    /// exec their program, so <see cref="BackgroundProcess.Id"/> is exch-dsr's own PID.
    /// </summary>
    /// <param name="runAs">A command that execs the rest (e.g. setpriv dropping privileges), or empty.</param>
    public void StartService(string configText, IReadOnlyDictionary<string, string> environment, string[]? runAs = null, params string[] extraArguments)
    {
        File.WriteAllText(ConfigPath, configText);
        Forwarder = Shell.Start(
            "exch-dsr",
            "ip",
            [
                "netns", "exec", ApplianceNs, "env", .. environment.Select(e => $"{e.Key}={e.Value}"), .. runAs ?? [], Shell.DotnetHost(), Shell.ExchDsrDll(),
                "run", "--config", ConfigPath, "--status-interval", "1", "--neighbour-refresh", "2", .. extraArguments,
            ]);
        bool ready = Shell.WaitUntil(
            () => Forwarder.HasExited || (Forwarder.Output.Contains("Forwarding on", StringComparison.Ordinal)
                && Servers.All(s => Forwarder.Output.Contains($"Server {s.Name} ({s.Address}) is at", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(20));
        if (!ready || Forwarder.HasExited)
        {
            throw new InvalidOperationException($"exch-dsr did not become ready (exited: {Forwarder.HasExited}); it said:\n{Forwarder.Output}");
        }

        if (!Shell.WaitUntil(() => ClientGet($"https://{Vip}/owa", maxSeconds: 2) is not null, TimeSpan.FromSeconds(15)))
        {
            throw new InvalidOperationException($"the VIP did not answer through exch-dsr within 15 s; it said:\n{Forwarder.Output}");
        }
    }

    /// <summary>The PID to signal: the process started, after checking it is exch-dsr itself and not a wrapper.</summary>
    public int ForwarderPid()
    {
        int pid = Forwarder?.Id ?? throw new InvalidOperationException("exch-dsr has not been started");
        string commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        return commandLine.Contains("exch-dsr.dll", StringComparison.Ordinal)
            ? pid
            : throw new InvalidOperationException($"pid {pid} is '{commandLine}', not exch-dsr");
    }

    /// <summary>Sends SIGHUP to exch-dsr, as <c>systemctl reload</c> does through ExecReload.</summary>
    public void Hangup() => Shell.Must("kill", "-HUP", ForwarderPid().ToString(CultureInfo.InvariantCulture));
}

/// <summary>A unix datagram socket standing in for systemd's notify socket: collects every datagram sent to it.</summary>
internal sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly List<string> _messages = [];
    private readonly Thread _reader;

    public NotifySocket(string path)
    {
        Path = path;
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _reader = new Thread(Read) { IsBackground = true, Name = "notify-socket" };
        _reader.Start();
    }

    public string Path { get; }

    /// <summary>Every datagram so far, in arrival order.</summary>
    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _reader.Join(TimeSpan.FromSeconds(2));
        File.Delete(Path);
    }

    private void Read()
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int length = _socket.Receive(buffer);
                lock (_messages)
                {
                    _messages.Add(Encoding.UTF8.GetString(buffer, 0, length));
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
