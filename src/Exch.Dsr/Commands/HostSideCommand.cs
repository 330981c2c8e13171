using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Exch.Dsr.Capture.Host;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr host-side --config FILE [--apply [--rule-only] | --remove]</c>: what the appliance host needs when
/// exch-dsr does not own the VIPs (<c>own-vips = false</c>): each VIP on the data interface, so the host answers ARP /
/// NDP and ping for it, and an nftables table <c>exch_dsr</c> that drops service traffic to the VIPs in prerouting, so
/// the host stack never sees a SYN for a port it does not listen on and never answers it with a RST. Capture taps
/// (libpcap and AF_PACKET) run before netfilter, so exch-dsr still sees every dropped frame.
/// </summary>
/// <remarks>
/// <para>Prints the commands by default; <c>--apply</c> runs them, <c>--remove</c> undoes them. Both are idempotent.
/// The table is replaced in one nft transaction. It also records, in the sets <c>added4</c> / <c>added6</c>, the VIPs
/// this command added to the interface: <c>--remove</c> deletes those addresses and the table, and nothing else (a VIP
/// that keepalived or the administrator put there stays). On apply the drop rule goes in before any VIP, on remove
/// the VIPs go before the rule, so there is no moment where the host holds a VIP without the rule.</para>
/// <para><c>--rule-only</c> is for an active/passive pair: keepalived moves the VIPs, so the command must never add
/// one (on the passive appliance that would put the VIP on both); it installs the table alone, on both appliances.</para>
/// </remarks>
internal static class HostSideCommand
{
    public const string Table = "exch_dsr";

    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The configuration file (TOML).", Required = true };
        var apply = new Option<bool>("--apply") { Description = "Add the missing VIPs to the interface and install the nftables table exch_dsr." };
        var remove = new Option<bool>("--remove") { Description = "Delete the VIPs this command added and the nftables table exch_dsr." };
        var ruleOnly = new Option<bool>("--rule-only")
        {
            Description = "Only the nftables table, never a VIP: for an active/passive pair where keepalived moves the VIPs (run it on both appliances).",
        };
        var command = new Command(
            "host-side",
            "Print (default), apply or remove the host's side of own-vips = false: the VIPs on the interface and an nftables drop rule for service traffic.")
        {
            config, apply, remove, ruleOnly,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(apply) && result.GetValue(remove))
            {
                result.AddError("--apply and --remove cannot be used together");
            }

            if (result.GetValue(ruleOnly) && result.GetValue(remove))
            {
                result.AddError("--rule-only goes with --apply (or alone, to print); --remove already leaves VIPs it did not add");
            }
        });
        command.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(apply), parse.GetValue(remove), parse.GetValue(ruleOnly), Console.Out, Console.Error));
        return command;
    }

    private static int Run(FileInfo file, bool apply, bool remove, bool ruleOnly, TextWriter output, TextWriter errors)
    {
        if (!ConfigurationFile.TryLoad(file, errors, "nothing was changed", out var config))
        {
            return ExitCodes.Usage;
        }

        string device = config.Appliance.Interface;
        if (remove)
        {
            return Remove(device, output, errors);
        }

        if (config.Appliance.OwnVips)
        {
            errors.WriteLine($"exch-dsr: '{file}' has own-vips = true: exch-dsr answers ARP, NDP and ping for the VIPs itself, and the host must not hold them. "
                + "host-side is for own-vips = false; nothing was changed.");
            return apply ? ExitCodes.Usage : ExitCodes.Ok;
        }

        if (!TryReadAddresses(device, out var present, out string? error))
        {
            errors.WriteLine($"exch-dsr: {error}; nothing was changed");
            return ExitCodes.Failure;
        }

        var vips = config.Services.Select(s => s.Vip).Distinct().ToList();
        var missing = ruleOnly ? [] : vips.Where(v => !present.Contains(v)).ToList();
        if (!apply)
        {
            Print(config, file.ToString(), vips, missing, ruleOnly, output);
            return ExitCodes.Ok;
        }

        if (!Tools.Available(errors))
        {
            return ExitCodes.Failure;
        }

        // Addresses added by an earlier apply stay recorded as ours while they are still on the interface.
        var recorded = ReadRecord(errors, out _)?.Where(present.Contains) ?? [];
        var ours = recorded.Concat(missing).Distinct().ToList();
        if (!Tools.Run(errors, Tools.Nft, ["-f", "-"], RuleSet(config, ours)))
        {
            return ExitCodes.Failure;
        }

        foreach (var vip in missing)
        {
            if (!Tools.Run(errors, Tools.Ip, AddressArguments("add", vip, device)))
            {
                return ExitCodes.Failure;
            }
        }

        output.WriteLine($"nftables table inet {Table}: service traffic to {vips.Count} VIP{(vips.Count == 1 ? string.Empty : "s")} arriving on {device} is dropped before the host stack.");
        foreach (var vip in vips)
        {
            output.WriteLine(missing.Contains(vip) ? $"{vip} added to {device}."
                : present.Contains(vip) ? $"{vip} was already on {device}{(ours.Contains(vip) ? " (added by an earlier host-side --apply)" : string.Empty)}."
                : $"{vip} is not on {device}: left to keepalived (--rule-only).");
        }

        return ExitCodes.Ok;
    }

    private static int Remove(string configuredDevice, TextWriter output, TextWriter errors)
    {
        if (!Tools.Available(errors))
        {
            return ExitCodes.Failure;
        }

        var recorded = ReadRecord(errors, out string? device);
        if (recorded is null)
        {
            output.WriteLine($"No nftables table inet {Table}: nothing to remove.");
            return ExitCodes.Ok;
        }

        device ??= configuredDevice;
        TryReadAddresses(device, out var present, out _);
        foreach (var vip in recorded.Where(present.Contains))
        {
            if (!Tools.Run(errors, Tools.Ip, AddressArguments("del", vip, device)))
            {
                return ExitCodes.Failure;
            }

            output.WriteLine($"{vip} removed from {device}.");
        }

        if (!Tools.Run(errors, Tools.Nft, ["-f", "-"], $"table inet {Table}\ndelete table inet {Table}\n"))
        {
            return ExitCodes.Failure;
        }

        output.WriteLine($"nftables table inet {Table} deleted.");
        return ExitCodes.Ok;
    }

    private static void Print(ExchDsrConfig config, string file, List<IPAddress> vips, List<IPAddress> missing, bool ruleOnly, TextWriter output)
    {
        string device = config.Appliance.Interface;
        output.WriteLine($"# exch-dsr host-side for {file} (own-vips = false, interface {device}{(ruleOnly ? ", rule only" : string.Empty)}).");
        output.WriteLine(ruleOnly
            ? "# 'exch-dsr host-side --apply --rule-only' runs this; '--remove' undoes it."
            : "# 'exch-dsr host-side --apply' runs this (and records which VIPs it added); '--remove' undoes it.");
        output.WriteLine("# 1. Drop service traffic to the VIPs before the host stack sees it (exch-dsr captures it before netfilter),");
        output.WriteLine("#    so the host never answers a client's SYN with a RST. ARP, NDP and ping still reach the host.");
        output.WriteLine("nft -f - <<'NFT'");
        output.Write(RuleSet(config, missing));
        output.WriteLine("NFT");
        if (ruleOnly)
        {
            output.WriteLine($"# 2. The VIPs are left to keepalived, which puts them on {device} of the active appliance only.");
            return;
        }

        output.WriteLine($"# 2. The VIPs on {device}, so the host answers ARP / NDP and ping for them.");
        foreach (var vip in vips)
        {
            string command = $"ip {string.Join(' ', AddressArguments("add", vip, device))}";
            output.WriteLine(missing.Contains(vip) ? command : $"# {command}   (already there)");
        }
    }

    /// <summary>
    /// The whole table: created empty and deleted first, so loading it replaces any earlier version in the same
    /// transaction (idempotent, no window without the rule). Hook prerouting at priority raw (-300): before conntrack,
    /// so the dropped frames leave no connection-tracking entries, and before the routing decision.
    /// </summary>
    internal static string RuleSet(ExchDsrConfig config, IReadOnlyCollection<IPAddress> added)
    {
        string device = config.Appliance.Interface;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"table inet {Table}\ndelete table inet {Table}\ntable inet {Table} {{\n");
        text.Append(CultureInfo.InvariantCulture, $"  comment \"exch-dsr host-side: own-vips = false on {device}\"\n");
        AppendSet(text, "added4", "ipv4_addr", added.Where(a => a.AddressFamily == AddressFamily.InterNetwork));
        AppendSet(text, "added6", "ipv6_addr", added.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6));
        text.Append("  chain prerouting {\n    type filter hook prerouting priority raw; policy accept;\n");
        foreach (var group in config.Services.GroupBy(s => (s.Vip, s.Protocol)))
        {
            string family = group.Key.Vip.AddressFamily == AddressFamily.InterNetwork ? "ip" : "ip6";
            string protocol = group.Key.Protocol == TransportProtocol.Udp ? "udp" : "tcp";
            string ports = string.Join(", ", group.SelectMany(s => s.Ports).Distinct().Order());
            text.Append(CultureInfo.InvariantCulture, $"    iifname \"{device}\" {family} daddr {group.Key.Vip} {protocol} dport {{ {ports} }} drop\n");
        }

        text.Append("  }\n}\n");
        return text.ToString();
    }

    private static void AppendSet(StringBuilder text, string name, string type, IEnumerable<IPAddress> elements)
    {
        string list = string.Join(", ", elements);
        text.Append(CultureInfo.InvariantCulture, $"  set {name} {{\n    type {type}\n{(list.Length > 0 ? $"    elements = {{ {list} }}\n" : string.Empty)}  }}\n");
    }

    private static string[] AddressArguments(string verb, IPAddress vip, string device) =>
        vip.AddressFamily == AddressFamily.InterNetwork
            ? ["address", verb, $"{vip}/32", "dev", device]
            : verb == "add" ? ["address", verb, $"{vip}/128", "dev", device, "nodad"] : ["address", verb, $"{vip}/128", "dev", device];

    private static bool TryReadAddresses(string device, out HashSet<IPAddress> addresses, out string? error)
    {
        addresses = [];
        error = null;
        try
        {
            var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == device);
            if (nic is null)
            {
                error = $"no network interface named {device} (the [appliance] interface; list them with `ip link`)";
                return false;
            }

            addresses.UnionWith(nic.GetIPProperties().UnicastAddresses.Select(u => u.Address));
            return true;
        }
        catch (NetworkInformationException e)
        {
            error = $"cannot read the addresses of {device}: {e.Message}";
            return false;
        }
    }

    /// <summary>The VIPs an earlier apply added (from the table's sets) and the interface named in its comment; null without the table.</summary>
    private static List<IPAddress>? ReadRecord(TextWriter errors, out string? device)
    {
        device = null;
        var result = Tools.Capture(Tools.Nft, ["-j", "list", "table", "inet", Table]);
        if (result is not { Succeeded: true } listed)
        {
            return null;
        }

        var added = new List<IPAddress>();
        try
        {
            using var json = JsonDocument.Parse(listed.Output);
            foreach (var item in json.RootElement.GetProperty("nftables").EnumerateArray())
            {
                if (item.TryGetProperty("table", out var table) && table.TryGetProperty("comment", out var comment)
                    && comment.GetString() is { } text && text.LastIndexOf(" on ", StringComparison.Ordinal) is int at and >= 0)
                {
                    device = text[(at + 4)..];
                }

                if (item.TryGetProperty("set", out var set) && set.GetProperty("name").GetString() is "added4" or "added6"
                    && set.TryGetProperty("elem", out var elements))
                {
                    foreach (var element in elements.EnumerateArray())
                    {
                        if (element.ValueKind == JsonValueKind.String && IPAddress.TryParse(element.GetString(), out var address))
                        {
                            added.Add(address);
                        }
                    }
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            errors.WriteLine($"exch-dsr: warning: cannot read the record of added VIPs from table inet {Table} ({e.Message}); no VIP is treated as added by us");
        }

        return added;
    }

    /// <summary>ip and nft, run with a bounded wait; their own messages are passed on when they fail.</summary>
    private static class Tools
    {
        public const string Ip = "ip";
        public const string Nft = "nft";
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

        public static bool Available(TextWriter errors)
        {
            foreach (var (tool, package) in new[] { (Ip, "iproute2"), (Nft, "nftables") })
            {
                if (ExternalTool.Find(tool) is null)
                {
                    errors.WriteLine($"exch-dsr: {tool} not found on PATH (Debian package {package}); nothing was changed");
                    return false;
                }
            }

            return true;
        }

        public static bool Run(TextWriter errors, string tool, string[] arguments, string? input = null)
        {
            var result = Capture(tool, arguments, input);
            if (result is { Succeeded: true })
            {
                return true;
            }

            string said = result switch
            {
                null => "is not installed",
                { TimedOut: true } => "did not finish in time",
                { StartError: { } why } => $"could not be started: {why}",
                { ExitCode: var code, Errors: var text } => $"exited with {code}: {text.Trim()}",
            };
            string hint = result is { Errors: var stderr } && stderr.Contains("Operation not permitted", StringComparison.Ordinal) ? " (needs root or CAP_NET_ADMIN)" : string.Empty;
            errors.WriteLine($"exch-dsr: {tool} {string.Join(' ', arguments)} {said}{hint}");
            return false;
        }

        /// <summary>The tool's run, or null when it is not installed.</summary>
        public static ToolRun? Capture(string tool, string[] arguments, string? input = null)
            => ExternalTool.Find(tool) is { } path ? ExternalTool.Run(path, arguments, Timeout, input) : null;
    }
}
