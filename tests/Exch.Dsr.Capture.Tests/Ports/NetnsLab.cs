using System.Collections.Concurrent;
using System.Diagnostics;
using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.Tests.Ports;

/// <summary>
/// A throw-away network namespace holding veth pairs whose both ends stay inside it, so no test frame can reach
/// the host's network. Ports are opened on <see cref="Run{T}"/>'s dedicated thread, which entered the namespace with
/// setns(CLONE_NEWNET): a socket belongs to the namespace it was created in, so the ports work from any thread after.
/// </summary>
internal sealed class NetnsLab : IDisposable
{
    public const string NeedsRoot = "needs root (CAP_NET_RAW, CAP_NET_ADMIN) to create network namespaces";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NetnsLab(string name)
    {
        Name = name;
        _thread = new Thread(ThreadMain) { IsBackground = true, Name = $"netns {name}" };
        _thread.Start();
        if (!((IAsyncResult)_entered.Task).AsyncWaitHandle.WaitOne(CommandTimeout))
        {
            throw new TimeoutException($"the thread did not enter {name}");
        }

        _entered.Task.GetAwaiter().GetResult();
    }

    public string Name { get; }

    /// <summary>Ignores the calling test unless the process is root and has the ip command.</summary>
    public static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Ignore(NeedsRoot);
        }

        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
        {
            Assert.Ignore("needs the ip command (Debian package iproute2)");
        }
    }

    public static bool HasEthtool => File.Exists("/usr/sbin/ethtool") || File.Exists("/sbin/ethtool") || File.Exists("/usr/bin/ethtool");

    public static void RequireEthtool()
    {
        if (!HasEthtool)
        {
            Assert.Ignore("needs ethtool (Debian package ethtool; tests/run.sh should install it)");
        }
    }

    /// <summary>Creates the namespace with IPv6 off (no router solicitations or MLD reports in the captures).</summary>
    public static NetnsLab Create()
    {
        RequireRoot();
        string name = $"exchdsr-cap-{Guid.NewGuid():N}"[..24];
        Shell("ip", "netns", "add", name);
        try
        {
            Shell("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
            Shell("ip", "-n", name, "link", "set", "lo", "up");
            return new NetnsLab(name);
        }
        catch
        {
            TryShell("ip", "netns", "del", name);
            throw;
        }
    }

    /// <summary>A veth pair inside the namespace, both ends up, every offload off (when ethtool is there) so it behaves like a wire.</summary>
    public void AddVethPair(string a, string b, bool offloadsOff = true)
    {
        Shell("ip", "-n", Name, "link", "add", a, "type", "veth", "peer", "name", b);
        Shell("ip", "-n", Name, "link", "set", a, "up");
        Shell("ip", "-n", Name, "link", "set", b, "up");
        if (offloadsOff && HasEthtool)
        {
            foreach (string device in new[] { a, b })
            {
                // Some features are fixed on veth; ethtool then exits non-zero while turning off the rest.
                TryShell("ip", "netns", "exec", Name, "ethtool", "-K", device, "gro", "off", "gso", "off", "tso", "off", "lro", "off", "tx", "off", "rx", "off");
            }
        }
    }

    /// <summary>Runs <c>ip -n NAME args...</c>.</summary>
    public void Ip(params string[] args) => Shell(["ip", "-n", Name, .. args]);

    /// <summary>Runs a command inside the namespace.</summary>
    public string Exec(params string[] args) => Shell(["ip", "netns", "exec", Name, .. args]);

    /// <summary>Runs <paramref name="action"/> on the thread that lives in the namespace and returns its result.</summary>
    public T Run<T>(Func<T> action)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(action());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        if (!((IAsyncResult)done.Task).AsyncWaitHandle.WaitOne(CommandTimeout))
        {
            throw new TimeoutException("the namespace thread did not finish in time");
        }

        return done.Task.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join(CommandTimeout);
        TryShell("ip", "netns", "del", Name);
    }

    private void ThreadMain()
    {
        try
        {
            int fd = Libc.Open($"/var/run/netns/{Name}", Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd < 0)
            {
                throw new InvalidOperationException($"open /var/run/netns/{Name}: {ErrnoExtensions.LastErrno().Describe()}");
            }

            try
            {
                if (Libc.SetNs(fd, Libc.CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException($"setns {Name}: {ErrnoExtensions.LastErrno().Describe()}");
                }
            }
            finally
            {
                Libc.Close(fd);
            }

            _entered.SetResult();
        }
        catch (Exception e)
        {
            _entered.SetException(e);
            return;
        }

        foreach (Action action in _work.GetConsumingEnumerable())
        {
            action();
        }
    }

    private static string Shell(params string[] args)
    {
        (int code, string output, string errors) = Execute(args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited with {code}: {errors.Trim()}");
        }

        return output;
    }

    private static void TryShell(params string[] args) => Execute(args);

    private static (int Code, string Output, string Errors) Execute(string[] args)
    {
        var start = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args.AsSpan(1))
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', args)} did not finish within {CommandTimeout}");
        }

        return (process.ExitCode, output.Result, errors.Result);
    }
}
