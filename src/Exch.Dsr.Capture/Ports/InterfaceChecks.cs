using System.Globalization;
using System.Text;
using Exch.Dsr.Capture.Host;
using Exch.Dsr.Capture.Interop;
using Exch.Dsr.Capture.Memory;

namespace Exch.Dsr.Capture.Ports;

/// <summary>The outcome of one start-up check.</summary>
public enum CheckStatus
{
    /// <summary>Fine.</summary>
    Ok,

    /// <summary>Works, but not as the lab measured it (no carrier yet, say).</summary>
    Warning,

    /// <summary>The data plane cannot run (or would forward damaged frames) until this is fixed.</summary>
    Failed,

    /// <summary>Could not be determined (a tool is missing).</summary>
    Unknown,
}

/// <summary>One start-up check: what was checked, its outcome, a sentence for the operator, and the command that fixes it.</summary>
public sealed record StartupCheck(string Name, CheckStatus Status, string Message, string? Remedy = null);

/// <summary>What the kernel says about an interface.</summary>
public sealed record InterfaceInfo(string Name, int Index, bool IsUp, bool HasCarrier, int Mtu, string MacAddress);

/// <summary>
/// Start-up checks for the capture interface and the process, for the CLI to print before the data plane starts.
/// Expected conditions (no such interface, down, missing capability, GRO on, no ethtool) come back as results,
/// never as exceptions.
/// </summary>
/// <remarks>
/// The interface is read with SIOCGIF* ioctls rather than /sys/class/net: sysfs shows the network namespace it was
/// mounted in, while the ioctls follow the calling thread's namespace, the one a port opened on this thread would use.
/// </remarks>
public static class InterfaceChecks
{
    /// <summary>capability.h: CAP_NET_ADMIN (SO_RCVBUFFORCE, promiscuous mode, PACKET_QDISC_BYPASS) and CAP_NET_RAW (packet sockets).</summary>
    private const int CapNetAdmin = 12;
    private const int CapNetRaw = 13;

    /// <summary>All checks for one interface, in the order an operator would fix them.</summary>
    public static IReadOnlyList<StartupCheck> RunAll(string interfaceName) =>
    [
        CheckCapabilities(),
        CheckInterface(interfaceName, out _),
        CheckReceiveOffloads(interfaceName),
        CheckHugePages(),
    ];

    /// <summary>Reads index, flags, MTU and MAC; false with the reason when the interface does not exist or cannot be read.</summary>
    public static unsafe bool TryReadInterface(string name, out InterfaceInfo? info, out string error)
    {
        info = null;
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) >= Libc.IFNAMSIZ || name.Contains('/'))
        {
            error = $"\"{name}\" is not a valid interface name";
            return false;
        }

        uint index = Libc.IfNameToIndex(name);
        if (index == 0)
        {
            error = $"there is no network interface named {name}";
            return false;
        }

        int fd = Libc.Socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            error = $"cannot open a socket to query {name}: {ErrnoExtensions.LastErrno().Describe()}";
            return false;
        }

        using var socket = new SafeFileDescriptor(fd);
        Libc.IfReq request;
        if (!Query(fd, name, Libc.SIOCGIFFLAGS, &request, out error))
        {
            return false;
        }

        short flags = *(short*)request.ifr_ifru;
        if (!Query(fd, name, Libc.SIOCGIFMTU, &request, out error))
        {
            return false;
        }

        int mtu = *(int*)request.ifr_ifru;
        if (!Query(fd, name, Libc.SIOCGIFHWADDR, &request, out error))
        {
            return false;
        }

        // ifr_hwaddr is a struct sockaddr: sa_family (2 bytes), then the address in sa_data.
        byte* mac = request.ifr_ifru + 2;
        string macText = string.Create(17, (nint)mac, static (span, address) =>
        {
            var bytes = (byte*)address;
            for (int i = 0; i < 6; i++)
            {
                if (i > 0)
                {
                    span[(i * 3) - 1] = ':';
                }

                bytes[i].TryFormat(span.Slice(i * 3, 2), out _, "x2", CultureInfo.InvariantCulture);
            }
        });

        info = new InterfaceInfo(name, (int)index, (flags & Libc.IFF_UP) != 0, (flags & Libc.IFF_RUNNING) != 0, mtu, macText);
        error = string.Empty;
        return true;
    }

    /// <summary>The interface exists and is up; the message gives its MTU and MAC.</summary>
    public static StartupCheck CheckInterface(string name, out InterfaceInfo? info)
    {
        const string Check = "interface";
        if (!TryReadInterface(name, out info, out string error))
        {
            return new StartupCheck(Check, CheckStatus.Failed, error, "ip -br link   # lists the interfaces that exist");
        }

        string details = $"MTU {info!.Mtu}, MAC {info.MacAddress}, index {info.Index}";
        if (!info.IsUp)
        {
            return new StartupCheck(Check, CheckStatus.Failed, $"{name} is down ({details})", $"ip link set {name} up");
        }

        if (!info.HasCarrier)
        {
            return new StartupCheck(Check, CheckStatus.Warning, $"{name} is up but has no carrier ({details}): check the cable or the peer");
        }

        return new StartupCheck(Check, CheckStatus.Ok, $"{name} is up ({details})");
    }

    /// <summary>CAP_NET_RAW and CAP_NET_ADMIN in the effective set of this process (CapEff in /proc/self/status).</summary>
    public static StartupCheck CheckCapabilities()
    {
        string status;
        try
        {
            status = File.ReadAllText("/proc/self/status");
        }
        catch (IOException e)
        {
            return new StartupCheck("capabilities", CheckStatus.Unknown, $"cannot read /proc/self/status: {e.Message}");
        }

        return CheckCapabilities(status);
    }

    /// <summary>The same check over the text of a /proc/PID/status file.</summary>
    public static StartupCheck CheckCapabilities(string procStatus)
    {
        const string Check = "capabilities";
        ulong? effective = null;
        foreach (string line in procStatus.Split('\n'))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong value))
            {
                effective = value;
            }
        }

        if (effective is not ulong caps)
        {
            return new StartupCheck(Check, CheckStatus.Unknown, "no CapEff line in /proc/self/status");
        }

        var missing = new List<string>(2);
        if ((caps & (1UL << CapNetRaw)) == 0)
        {
            missing.Add("CAP_NET_RAW");
        }

        if ((caps & (1UL << CapNetAdmin)) == 0)
        {
            missing.Add("CAP_NET_ADMIN");
        }

        return missing.Count == 0
            ? new StartupCheck(Check, CheckStatus.Ok, "CAP_NET_RAW and CAP_NET_ADMIN are effective")
            : new StartupCheck(
                Check,
                CheckStatus.Failed,
                $"missing {string.Join(" and ", missing)} (CapEff {caps:x16}): packet sockets need CAP_NET_RAW, ring and NIC settings CAP_NET_ADMIN",
                "run as root, or grant them: AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN in the systemd unit, or setcap cap_net_raw,cap_net_admin+ep on the executable");
    }

    /// <summary>
    /// GRO and LRO off on the capture NIC, read from <c>ethtool -k</c>: with them on the kernel merges segments into
    /// frames larger than the MTU, which a forwarder would re-inject as they are.
    /// </summary>
    public static StartupCheck CheckReceiveOffloads(string name)
    {
        const string Check = "receive offloads";
        string remedy = $"ethtool -K {name} gro off lro off";
        string? output = RunEthtool(name, out string? failure);
        if (output is null)
        {
            return new StartupCheck(Check, CheckStatus.Unknown, $"GRO/LRO state of {name} unknown: {failure}", $"check with: ethtool -k {name}; turn off with: {remedy}");
        }

        return CheckReceiveOffloads(name, output);
    }

    /// <summary>Whether the kernel gives the connection tables the huge pages they ask for (<see cref="HugePages"/>).</summary>
    public static StartupCheck CheckHugePages()
    {
        string? setting;
        try
        {
            setting = File.ReadAllText(HugePages.SettingPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            setting = null;
        }

        return CheckHugePages(setting);
    }

    /// <summary>The same check over the text of <see cref="HugePages.SettingPath"/> (null: it could not be read).</summary>
    public static StartupCheck CheckHugePages(string? settingText)
    {
        const string Check = "huge pages";
        const string Remedy = "echo madvise > " + HugePages.SettingPath;
        string? mode = settingText is null ? null : HugePages.SelectedMode(settingText);
        return mode switch
        {
            "always" or "madvise" => new StartupCheck(Check, CheckStatus.Ok, $"transparent huge pages are '{mode}': the connection tables get 2 MiB pages"),
            "never" => new StartupCheck(Check, CheckStatus.Warning, "transparent huge pages are off: with many clients every connection lookup also walks the page tables (slower, not wrong)", Remedy),
            _ => new StartupCheck(Check, CheckStatus.Unknown, $"cannot read the transparent huge page setting from {HugePages.SettingPath}", Remedy),
        };
    }

    /// <summary>The same check over the text <c>ethtool -k NAME</c> printed.</summary>
    public static StartupCheck CheckReceiveOffloads(string name, string ethtoolOutput)
    {
        const string Check = "receive offloads";
        string remedy = $"ethtool -K {name} gro off lro off";
        var on = new List<string>(2);
        var fixedOn = new List<string>(2);
        bool sawGro = false;
        foreach (string raw in ethtoolOutput.Split('\n'))
        {
            string line = raw.Trim();
            (string feature, string label) = line.StartsWith("generic-receive-offload:", StringComparison.Ordinal) ? ("generic-receive-offload:", "GRO")
                : line.StartsWith("large-receive-offload:", StringComparison.Ordinal) ? ("large-receive-offload:", "LRO")
                : (string.Empty, string.Empty);
            if (feature.Length == 0)
            {
                continue;
            }

            sawGro |= label == "GRO";
            string state = line[feature.Length..].Trim();
            if (state.StartsWith("on", StringComparison.Ordinal))
            {
                (state.Contains("[fixed]", StringComparison.Ordinal) ? fixedOn : on).Add(label);
            }
        }

        if (!sawGro)
        {
            return new StartupCheck(Check, CheckStatus.Unknown, $"ethtool -k {name} did not report generic-receive-offload", $"turn off with: {remedy}");
        }

        if (fixedOn.Count > 0)
        {
            return new StartupCheck(Check, CheckStatus.Failed, $"{string.Join(" and ", fixedOn)} on {name} cannot be turned off (fixed by the driver): use another NIC for capture");
        }

        return on.Count == 0
            ? new StartupCheck(Check, CheckStatus.Ok, $"GRO and LRO are off on {name}")
            : new StartupCheck(Check, CheckStatus.Failed, $"{string.Join(" and ", on)} on {name}: merged frames larger than the MTU would be forwarded as they are", remedy);
    }

    private static unsafe bool Query(int fd, string name, ulong request, Libc.IfReq* ifr, out string error)
    {
        *ifr = default;
        int length = Encoding.UTF8.GetBytes(name, new Span<byte>(ifr->ifr_name, Libc.IFNAMSIZ - 1));
        ifr->ifr_name[length] = 0;
        if (Libc.Ioctl(fd, request, ifr) != 0)
        {
            Errno errno = ErrnoExtensions.LastErrno();
            error = errno == Errno.ENODEV ? $"there is no network interface named {name}" : $"cannot query {name} (ioctl 0x{request:x}): {errno.Describe()}";
            return false;
        }

        error = string.Empty;
        return true;
    }

    /// <summary>ethtool's output, or null with the reason. The child inherits the calling thread's network namespace.</summary>
    private static string? RunEthtool(string name, out string? failure)
    {
        if (ExternalTool.Find("ethtool") is not { } ethtool)
        {
            failure = "ethtool is not installed (Debian package ethtool)";
            return null;
        }

        var run = ExternalTool.Run(ethtool, ["-k", name], TimeSpan.FromSeconds(5));
        failure = run.TimedOut ? "ethtool did not answer within 5 s"
            : run.StartError is not null ? $"cannot run {ethtool}: {run.StartError}"
            : run.ExitCode != 0 ? $"ethtool -k {name} failed: {run.Errors.Trim()}"
            : null;
        return failure is null ? run.Output : null;
    }
}
