using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Exch.Dsr.Capture.Host;
using Exch.Dsr.Health.Probes;

namespace Exch.Dsr.Health;

/// <summary>One real server and one VIP it serves behind a check with <c>dsr-probe = true</c>.</summary>
internal readonly record struct DsrRouteRequest(string Server, IPAddress ServerAddress, IPAddress Vip);

/// <summary>
/// What <see cref="DsrProbeRoutes.Install"/> did: the mark of each (server, VIP) whose route is in place, and for every
/// other one why it must be probed at the server's own address. A VIP that is an address of this host gets its route
/// too (<c>own-vips = false</c> on the active appliance): the host's local route wins while the VIP is here, and the
/// monitor probes the server's own address until it leaves.
/// </summary>
internal sealed record DsrRouteOutcome(
    IReadOnlyDictionary<(string Server, IPAddress Vip), uint> Marks,
    IReadOnlyDictionary<(string Server, IPAddress Vip), string> Failures,
    int StaleRulesRemoved);

/// <summary>
/// The policy routes that send a DSR-path probe to the VIP through one real server, installed with iproute2: per
/// server a firewall mark M and a table T, the rule <c>ip rule add pref 20480 fwmark M lookup T</c>, and per VIP it
/// serves <c>ip route replace VIP/32 via RIP dev IFACE onlink table T</c>. A probe socket with SO_MARK = M then
/// connects to the VIP, its SYN leaves with the server's MAC as destination, and the server answers from the VIP
/// straight to this host, exactly as it answers a client. Every rule of ours has priority <see cref="RulePriority"/>
/// and every table lies in <see cref="FirstTable"/> + [0, <see cref="MaxServers"/>), so what a crashed run left is
/// recognised and removed at the next start without touching anyone else's routes.
/// </summary>
/// <remarks>
/// iproute2 rather than netlink: a handful of commands at start and stop, off the packet path, whose failures
/// (no CAP_NET_ADMIN, no <c>ip</c>) read well in a log as <c>ip</c> prints them. See native-notes/real-servers.md.
/// </remarks>
internal sealed partial class DsrProbeRoutes
{
    public const int RulePriority = 20480;
    public const int FirstTable = 20480;
    public const uint FirstMark = 0x4544_0000;
    public const int MaxServers = 1024;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);

    // The latest installer per namespace in this process. A reload may start the new monitor before the old one has
    // stopped: the new one's Install replaces every rule, and the old one's Release must then leave them alone.
    private static readonly Dictionary<string, DsrProbeRoutes> Latest = [];
    private static readonly Lock LatestLock = new();

    private readonly string _interface;
    private readonly string? _networkNamespace;
    private readonly string? _ip;

    /// <param name="interfaceName">The appliance's data NIC: the probes leave through it, as forwarded frames do.</param>
    /// <param name="networkNamespace">Run every command in this namespace (<c>ip -n</c>): tests, never the service.</param>
    /// <param name="ipCommand">The iproute2 binary; null looks for <c>ip</c> in the usual places.</param>
    public DsrProbeRoutes(string interfaceName, string? networkNamespace = null, string? ipCommand = null)
    {
        _interface = interfaceName;
        _networkNamespace = networkNamespace;
        _ip = ipCommand ?? ExternalTool.Find("ip");
    }

    /// <summary>Removes what a previous run left, then installs and verifies a route for every request.</summary>
    public DsrRouteOutcome Install(IReadOnlyCollection<DsrRouteRequest> requests)
    {
        var marks = new Dictionary<(string, IPAddress), uint>();
        var failures = new Dictionary<(string, IPAddress), string>();
        DsrRouteOutcome FailAll(string reason)
        {
            foreach (var request in requests)
            {
                failures[(request.Server, request.Vip)] = reason;
            }

            return new DsrRouteOutcome(marks, failures, 0);
        }

        if (_ip is null)
        {
            return FailAll("no 'ip' command (install iproute2)");
        }

        if (CanMark() is { } markError)
        {
            return FailAll(markError);
        }

        int stale;
        lock (LatestLock)
        {
            stale = RemoveAll();
            Latest[_networkNamespace ?? string.Empty] = this;
        }

        var slot = 0;
        foreach (var server in requests.GroupBy(r => (r.Server, r.ServerAddress)))
        {
            if (slot == MaxServers)
            {
                foreach (var request in server)
                {
                    failures[(request.Server, request.Vip)] = $"more than {MaxServers} servers have DSR-path probes";
                }

                continue;
            }

            var mark = FirstMark + (uint)slot;
            var table = (FirstTable + slot).ToString(CultureInfo.InvariantCulture);
            var family = Family(server.Key.ServerAddress);
            slot++;
            var rule = Ip(family, "rule", "add", "pref", RulePriority.ToString(CultureInfo.InvariantCulture),
                "fwmark", Hex(mark), "lookup", table);
            if (rule.Error is { } ruleError)
            {
                // The first rule failing (no CAP_NET_ADMIN) fails every other one the same way: say it once.
                foreach (var request in server)
                {
                    failures[(request.Server, request.Vip)] = $"ip rule add: {ruleError}";
                }

                continue;
            }

            foreach (var request in server)
            {
                var key = (request.Server, request.Vip);
                var route = Ip(family, "route", "replace", $"{request.Vip}/{HostPrefix(request.Vip)}",
                    "via", request.ServerAddress.ToString(), "dev", _interface, "onlink", "table", table);
                if (route.Error is { } routeError)
                {
                    failures[key] = $"ip route replace: {routeError}";
                }
                else if (Verify(family, request, mark) is { } wrong)
                {
                    failures[key] = wrong;
                }
                else
                {
                    marks[key] = mark;
                }
            }
        }

        return new DsrRouteOutcome(marks, failures, stale);
    }

    /// <summary>Removes the routes, unless a later <see cref="Install"/> in this process has replaced them with its own.</summary>
    public void Release()
    {
        lock (LatestLock)
        {
            if (Latest.TryGetValue(_networkNamespace ?? string.Empty, out var latest) && ReferenceEquals(latest, this))
            {
                RemoveAll();
                Latest.Remove(_networkNamespace ?? string.Empty);
            }
        }
    }

    /// <summary>Deletes every rule with our priority and flushes every table in our range; returns how many rules went.</summary>
    public int RemoveAll()
    {
        if (_ip is null)
        {
            return 0;
        }

        var removed = 0;
        foreach (var family in new[] { "-4", "-6" })
        {
            // Rules with one priority come off one per call; the bound only guards against a rule that will not go.
            while (removed <= 2 * MaxServers &&
                   Ip(family, "rule", "del", "pref", RulePriority.ToString(CultureInfo.InvariantCulture)).Error is null)
            {
                removed++;
            }

            var tables = TableNumber().Matches(Ip(family, "route", "show", "table", "all").Output)
                .Select(m => int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture))
                .Where(t => t is >= FirstTable and < FirstTable + MaxServers)
                .Distinct();
            foreach (var table in tables)
            {
                Ip(family, "route", "flush", "table", table.ToString(CultureInfo.InvariantCulture));
            }
        }

        return removed;
    }

    /// <summary>
    /// Asks the kernel where a marked packet to the VIP goes. With <c>own-vips = false</c> on the active appliance
    /// the VIP is an address of this host: the local table is consulted (rule priority 0) before any rule of ours, so
    /// the answer is "local" while it stays, and the route is right for when it leaves. Any other answer than "via RIP
    /// dev IFACE" (a rule of someone else's in front of ours) is reported as it is.
    /// </summary>
    private string? Verify(string family, DsrRouteRequest request, uint mark)
    {
        var get = Ip(family, "route", "get", request.Vip.ToString(), "mark", Hex(mark));
        if (get.Error is { } error)
        {
            return $"ip route get: {error}";
        }

        var answer = get.Output.Split('\n')[0].Trim();
        if (answer.StartsWith("local ", StringComparison.Ordinal))
        {
            return null;
        }

        return answer.Contains($" via {request.ServerAddress} dev {_interface} ", StringComparison.Ordinal)
            ? null
            : $"the kernel routes the probe '{answer}', not via {request.ServerAddress} dev {_interface}";
    }

    /// <summary>SO_MARK needs CAP_NET_ADMIN in the probing process itself, whatever <c>ip</c> could do.</summary>
    private static string? CanMark()
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            TcpProbe.SetMark(socket, FirstMark);
            return null;
        }
        catch (SocketException ex)
        {
            return $"cannot set SO_MARK on a probe socket (needs CAP_NET_ADMIN): {ex.Message}";
        }
    }

    private (string Output, string? Error) Ip(string family, params string[] arguments)
    {
        string[] namespaceArguments = _networkNamespace is null ? [] : ["-n", _networkNamespace];
        var run = ExternalTool.Run(_ip!, [.. namespaceArguments, family, .. arguments], CommandTimeout);
        if (run.TimedOut)
        {
            return (string.Empty, $"did not finish within {HealthProbes.FormatDuration(CommandTimeout)}");
        }

        if (run.StartError is not null)
        {
            return (string.Empty, $"cannot run {_ip}: {run.StartError}");
        }

        var message = run.Errors.Trim();
        return run.ExitCode == 0
            ? (run.Output, null)
            : (run.Output, message.Length > 0 ? message : $"exit code {run.ExitCode}");
    }

    private static string Family(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? "-6" : "-4";

    private static int HostPrefix(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;

    internal static string Hex(uint mark) => string.Create(CultureInfo.InvariantCulture, $"0x{mark:x}");

    [GeneratedRegex(@"\btable (\d+)\b")]
    private static partial Regex TableNumber();
}
