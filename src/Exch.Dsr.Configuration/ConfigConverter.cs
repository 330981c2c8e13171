using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Exch.Dsr.Configuration;

/// <summary>
/// Turns the merged configuration tree into <see cref="ExchDsrConfig"/>, checking every rule and collecting every
/// error (in the manner of YARP's ConfigValidator): one run of check-config shows the administrator the whole list.
/// </summary>
internal sealed partial class ConfigConverter
{
    internal static readonly string[] TopKeys = ["appliance", "control", "server", "service"];
    internal static readonly string[] ApplianceKeys = ["interface", "backend", "own-vips", "mac", "threads", "connections", "ring-receive"];
    internal static readonly string[] ControlKeys = ["socket", "socket-group", "http", "admin-user", "admin-password-file", "http-certificate", "http-certificate-key"];
    internal static readonly string[] ServerKeys = ["name", "address", "mac", "weight"];
    internal static readonly string[] ServiceKeys =
    [
        "name", "vip", "protocol", "ports", "scheduler", "persistence", "persistence-netmask", "persistence-table-size",
        "members", "on-down", "sloppy", "sorry-server", "timeouts", "check",
    ];
    internal static readonly string[] MemberKeys = ["server", "weight"];
    internal static readonly string[] TimeoutKeys = ["tcp-established", "tcp-syn", "tcp-fin-wait", "tcp-close", "udp"];
    internal static readonly string[] CheckKeys =
        ["kind", "port", "path", "host", "status", "send", "expect", "program", "interval", "timeout", "rise", "fall", "dsr-probe"];

    // Which check keys each kind uses; any other key is a mistake worth reporting (a path on a tcp check does nothing).
    private static readonly Dictionary<HealthCheckKind, string[]> CheckKeysByKind = new()
    {
        [HealthCheckKind.None] = ["kind"],
        [HealthCheckKind.Tcp] = ["kind", "port", "interval", "timeout", "rise", "fall", "dsr-probe"],
        [HealthCheckKind.SendExpect] = ["kind", "port", "send", "expect", "interval", "timeout", "rise", "fall", "dsr-probe"],
        [HealthCheckKind.Http] = ["kind", "port", "path", "host", "status", "expect", "interval", "timeout", "rise", "fall", "dsr-probe"],
        [HealthCheckKind.Https] = ["kind", "port", "path", "host", "status", "expect", "interval", "timeout", "rise", "fall", "dsr-probe"],
        [HealthCheckKind.Smtp] = ["kind", "port", "expect", "interval", "timeout", "rise", "fall", "dsr-probe"],
        [HealthCheckKind.Exec] = ["kind", "port", "program", "expect", "interval", "timeout", "rise", "fall"],
    };

    private readonly ConfigReader _reader = new();
    private readonly ConfigTree _tree;

    // Every name a [[server]] declares, valid or not, so a reference to a server with its own error is not also
    // reported as unknown.
    private readonly HashSet<string> _declaredServers = new(StringComparer.Ordinal);
    private bool _someServerFailed;

    private ConfigConverter(ConfigTree tree) => _tree = tree;

    public static ConfigLoadResult Convert(ConfigTree tree, ConfigNode root)
    {
        var converter = new ConfigConverter(tree);
        var config = converter.Document(root);
        var errors = converter._reader.Errors
            .Select((e, i) => (Error: e, Index: i))
            .OrderBy(p => p.Error.Line == 0 ? 1 : 0)
            .ThenBy(p => p.Error.Line == 0 ? p.Index : 0)
            .ThenBy(p => p.Error.Line)
            .ThenBy(p => p.Error.Column)
            .ThenBy(p => p.Index)
            .Select(p => p.Error)
            .ToList();
        return errors.Count == 0 && config is not null ? new ConfigLoadResult(config) : new ConfigLoadResult(errors);
    }

    private ExchDsrConfig? Document(ConfigNode root)
    {
        var unread = false;
        foreach (var provider in _tree.TomlProviders)
        {
            if (provider.LoadError is { } e)
            {
                var reason = provider.HasLoaded ? $"{e.Reason} (the file changed and could not be re-read; still running the previous version)" : e.Reason;
                _reader.Add(new ConfigError(e.File, e.Position?.Line ?? 0, e.Position?.Column ?? 0, reason));
                unread |= !provider.HasLoaded;
            }
        }

        // A file that could not be read at all has no keys: "no [[server]] is defined" and the like would only bury its one real error.
        if (unread)
        {
            return null;
        }

        _reader.Table(root, "the file's top level", TopKeys, "[[service]]");
        var appliance = root.Child("appliance") is { } a ? Appliance(a) : new ApplianceConfig();
        var control = root.Child("control") is { } c ? Control(c) : new ControlConfig();
        var servers = Servers(root);
        var services = Services(root, servers);
        return appliance is null || control is null || servers is null || services is null
            ? null
            : new ExchDsrConfig { Appliance = appliance, Control = control, Servers = servers, Services = services };
    }

    private ApplianceConfig? Appliance(ConfigNode node)
    {
        if (!_reader.Table(node, "[appliance]", ApplianceKeys, "[appliance] interface = \"eth1\""))
        {
            return null;
        }

        var result = new ApplianceConfig();
        if (node.Child("interface") is { } interfaceNode && _reader.String(node, "interface", "eth1") is { } name)
        {
            if (name.Length == 0 || name.Length > 15 || name.Any(ch => ch is '/' || char.IsWhiteSpace(ch)))
            {
                _reader.Add(interfaceNode.AtValue($"interface '{name}' is not a Linux interface name: 1 to 15 characters, no spaces or '/' (list them with `ip link`)"));
            }
            else
            {
                result = result with { Interface = name };
            }
        }

        if (_reader.Choice(node, "backend", ConfigNames.Backends, ConfigNames.List(ConfigNames.Backends)) is { } backend)
        {
            result = result with { Backend = backend };
        }

        if (_reader.Bool(node, "own-vips") is { } ownVips)
        {
            result = result with { OwnVips = ownVips };
        }

        if (node.Child("mac") is { } macNode && _reader.String(node, "mac", "auto") is { } mac && Mac(macNode, mac, "the appliance") is (true, var address))
        {
            result = result with { Mac = address };
        }

        if (_reader.Integer(node, "threads", 0, 256, "0") is { } threads)
        {
            result = result with { Threads = (int)threads };
        }

        if (_reader.Integer(node, "connections", ApplianceConfig.MinConnections, ApplianceConfig.MaxConnections, "1048576") is { } connections)
        {
            result = result with { Connections = (int)connections };
        }

        if (_reader.Choice(node, "ring-receive", ConfigNames.RingReceives, ConfigNames.List(ConfigNames.RingReceives)) is { } ringReceive)
        {
            result = result with { RingReceive = ringReceive };
        }

        return result;
    }

    private ControlConfig? Control(ConfigNode node)
    {
        if (!_reader.Table(node, "[control]", ControlKeys, "[control] http = \"127.0.0.1:8405\""))
        {
            return null;
        }

        var result = new ControlConfig();
        if (AbsolutePath(node, "socket", ControlConfig.DefaultSocket) is { } socket)
        {
            result = result with { Socket = socket };
        }

        if (_reader.String(node, "socket-group", "exchadmins") is { } group)
        {
            result = result with { SocketGroup = group.Length == 0 ? null : group };
        }

        var httpNode = node.Child("http");
        if (httpNode is not null && _reader.String(node, "http", "127.0.0.1:8405") is { } http)
        {
            if (string.Equals(http, "off", StringComparison.Ordinal))
            {
                result = result with { Http = null };
            }
            else if (!IPEndPoint.TryParse(http, out var endpoint) || endpoint.Port == 0 || !http.Contains(':', StringComparison.Ordinal)
                || (endpoint.AddressFamily == AddressFamily.InterNetwork && !IsDottedQuad(http[..http.LastIndexOf(':')])))
            {
                _reader.Add(httpNode.AtValue($"http '{http}' is not address:port (e.g. \"127.0.0.1:8405\" or \"[::1]:8405\") or \"off\""));
            }
            else
            {
                result = result with { Http = endpoint };
            }
        }

        if (node.Child("admin-user") is { } userNode && _reader.String(node, "admin-user", "admin") is { } user)
        {
            if (user.Length == 0 || user.Contains(':', StringComparison.Ordinal))
            {
                _reader.Add(userNode.AtValue("admin-user must not be empty nor contain ':'"));
            }
            else
            {
                result = result with { AdminUser = user };
            }
        }

        var passwordNode = node.Child("admin-password-file");
        if (AbsolutePath(node, "admin-password-file", "/etc/exch-dsr/admin.password") is { } passwordFile)
        {
            result = result with { AdminPasswordFile = passwordFile };
        }

        if (AbsolutePath(node, "http-certificate", "/etc/exch-dsr/status.pem") is { } certificate)
        {
            result = result with { HttpCertificate = certificate };
        }

        if (AbsolutePath(node, "http-certificate-key", "/etc/exch-dsr/status.key") is { } key)
        {
            if (node.Child("http-certificate") is null)
            {
                _reader.Add(node.Child("http-certificate-key")!.AtKey("http-certificate-key is set but http-certificate is not; set both (or only http-certificate when its file holds the key too)"));
            }
            else
            {
                result = result with { HttpCertificateKey = key };
            }
        }

        // Anyone who can reach a non-loopback endpoint could drain servers; it must not be open without a password.
        if (result.Http is { } listening && !IPAddress.IsLoopback(listening.Address) && result.AdminPasswordFile is null && passwordNode is null)
        {
            _reader.Add(httpNode!.AtValue($"http {listening} is reachable from the network but no admin-password-file is set; set one, or listen on 127.0.0.1"));
        }

        return result;
    }

    /// <summary>The string at <paramref name="key"/> when it is an absolute path; null (with the error added) otherwise, or when absent.</summary>
    private string? AbsolutePath(ConfigNode table, string key, string example)
    {
        if (table.Child(key) is not { } node || _reader.String(table, key, example) is not { } path)
        {
            return null;
        }

        if (!path.StartsWith('/'))
        {
            _reader.Add(node.AtValue($"{key} '{path}' must be an absolute path, e.g. \"{example}\""));
            return null;
        }

        return path;
    }

    private List<RealServerConfig>? Servers(ConfigNode root)
    {
        var node = root.Child("server");
        if (node is null)
        {
            _reader.Add(Document("no [[server]] is defined: add at least one real server, e.g. [[server]] name = \"CAS1\" address = \"10.0.0.11\""));
            return null;
        }

        var items = TableList(node, "[[server]]");
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            _reader.Add(node.AtValue("no [[server]] is defined: add at least one real server"));
            return null;
        }

        var servers = new List<RealServerConfig>();
        var byName = new Dictionary<string, ConfigNode>(StringComparer.OrdinalIgnoreCase);
        var byAddress = new Dictionary<IPAddress, (string Name, ConfigNode Node)>();
        foreach (var item in items)
        {
            if (Server(item, byName, byAddress) is { } server)
            {
                servers.Add(server);
            }
            else
            {
                _someServerFailed = true;
            }
        }

        // The valid servers go on even when others failed, so members can still be checked against them.
        return servers;
    }

    private RealServerConfig? Server(ConfigNode node, Dictionary<string, ConfigNode> byName, Dictionary<IPAddress, (string Name, ConfigNode Node)> byAddress)
    {
        var name = Name(node, "[[server]]", byName, "CAS1");
        if (node.Child("name") is { Value: { } declared })
        {
            _declaredServers.Add(declared);
        }

        var what = name is null ? $"[[server]] at line {node.Origin.ValuePosition?.Line}" : $"[[server]] '{name}'";
        _reader.Table(node, what, ServerKeys, "[[server]]");

        IPAddress? address = null;
        var addressNode = node.Child("address");
        if (addressNode is null)
        {
            _reader.Add(node.AtValue($"{what} has no address; add e.g. address = \"10.0.0.11\""));
        }
        else if (_reader.String(node, "address", "10.0.0.11") is { } text)
        {
            address = Address(addressNode, "address", text);
            if (address is not null && byAddress.TryGetValue(address, out var other))
            {
                _reader.Add(addressNode.AtValue($"address {address} is already used by server '{other.Name}' ({Where(other.Node)})"));
                address = null;
            }
            else if (address is not null && name is not null)
            {
                byAddress.Add(address, (name, addressNode));
            }
        }

        var mac = (Ok: true, Address: (PhysicalAddress?)null);
        if (node.Child("mac") is { } macNode && _reader.String(node, "mac", "auto") is { } macText)
        {
            mac = Mac(macNode, macText, what);
        }

        var weight = _reader.Integer(node, "weight", 0, 65535, "1");
        return name is null || address is null || !mac.Ok || (node.Child("weight") is not null && weight is null)
            ? null
            : new RealServerConfig { Name = name, Address = address, Mac = mac.Address, Weight = (int?)weight ?? 1 };
    }

    /// <summary>The name key of a [[server]] or [[service]], required and unique (ignoring case: they are typed in commands).</summary>
    private string? Name(ConfigNode node, string header, Dictionary<string, ConfigNode> seen, string example)
    {
        var nameNode = node.Child("name");
        if (nameNode is null)
        {
            _reader.Add(node.AtValue($"{header} has no name; add e.g. name = \"{example}\""));
            return null;
        }

        var name = _reader.String(node, "name", example);
        if (name is null)
        {
            return null;
        }

        if (!NamePattern().IsMatch(name))
        {
            _reader.Add(nameNode.AtValue($"name '{name}' may use only letters, digits, '.', '_' and '-' (1 to 64 characters), e.g. \"{example}\""));
            return null;
        }

        if (seen.TryGetValue(name, out var first))
        {
            _reader.Add(nameNode.AtValue($"{header} name '{name}' is already used ({Where(first)}); names must be unique"));
            return null;
        }

        seen.Add(name, nameNode);
        return name;
    }

    private IReadOnlyList<ConfigNode>? TableList(ConfigNode node, string header)
    {
        var isList = node.Origin.IsToml
            ? node.IsTomlArray
            : node.Value is null && node.Children.All(c => int.TryParse(c.Key, out _));
        if (!isList)
        {
            _reader.Add(node.AtValue($"{node.Key} must be written {header} (double brackets), one block per {node.Key}"));
            return null;
        }

        return _reader.List(node, header);
    }

    private IPAddress? Address(ConfigNode node, string key, string text)
    {
        var isV4 = IsDottedQuad(text);
        if ((!isV4 && !text.Contains(':', StringComparison.Ordinal)) || text.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(text, out var address))
        {
            _reader.Add(node.AtValue($"{key} '{text}' is not an IPv4 or IPv6 address (e.g. \"10.0.0.10\" or \"2001:db8::10\")"));
            return null;
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast) || IPAddress.IsLoopback(address)
            || (isV4 && address.GetAddressBytes()[0] >= 224) || address.IsIPv6Multicast)
        {
            _reader.Add(node.AtValue($"{key} {text} is not a unicast address a client could reach (loopback, multicast, broadcast and 0.0.0.0 are refused)"));
            return null;
        }

        return address;
    }

    private (bool Ok, PhysicalAddress? Address) Mac(ConfigNode node, string text, string what)
    {
        if (string.Equals(text, "auto", StringComparison.Ordinal))
        {
            return (true, null);
        }

        if (!MacPattern().IsMatch(text))
        {
            _reader.Add(node.AtValue($"mac '{text}' is not \"auto\" or a MAC address like \"00:15:5d:01:02:03\" (\"00-15-5D-01-02-03\" as Windows shows it also works)"));
            return (false, null);
        }

        var address = PhysicalAddress.Parse(text.Replace(':', '-').ToUpperInvariant());
        var bytes = address.GetAddressBytes();
        if ((bytes[0] & 1) != 0 || bytes.All(b => b == 0))
        {
            _reader.Add(node.AtValue($"mac '{text}' of {what} is not a unicast MAC address (the first byte must be even and the address not all zeros)"));
            return (false, null);
        }

        return (true, address);
    }

    private ConfigError Document(string message) => new(_tree.DocumentName, _tree.HasDocument ? 1 : 0, _tree.HasDocument ? 1 : 0, message);

    private static string Where(ConfigNode node)
        => node.Origin.ValuePosition is { } p && node.Origin.IsToml ? $"line {p.Line}" : node.Origin.Source;

    private static bool IsDottedQuad(string text) => DottedQuadPattern().IsMatch(text);

    private static string FamilyName(AddressFamily family) => family == AddressFamily.InterNetwork ? "IPv4" : "IPv6";

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")]
    private static partial Regex DottedQuadPattern();

    [GeneratedRegex(@"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$")]
    private static partial Regex MacPattern();

    [GeneratedRegex(@"^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex NamePattern();
}
