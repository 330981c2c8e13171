using System.Net;
using System.Net.Sockets;

namespace Exch.Dsr.Configuration;

/// <summary>The [[service]] blocks: ports, persistence, members, timeouts and the health check.</summary>
internal sealed partial class ConfigConverter
{
    private List<VirtualServiceConfig>? Services(ConfigNode root, List<RealServerConfig>? servers)
    {
        var node = root.Child("service");
        if (node is null)
        {
            _reader.Add(Document("no [[service]] is defined: add at least one, e.g. [[service]] name = \"owa\" vip = \"10.0.0.10\" ports = [443]"));
            return null;
        }

        var items = TableList(node, "[[service]]");
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            _reader.Add(node.AtValue("no [[service]] is defined: add at least one"));
            return null;
        }

        var byName = new Dictionary<string, ConfigNode>(StringComparer.OrdinalIgnoreCase);
        var endpoints = new Dictionary<(IPAddress, TransportProtocol, int), (string Service, ConfigNode Node)>();
        var services = new List<VirtualServiceConfig>();
        var failed = false;
        foreach (var item in items)
        {
            var service = Service(item, servers, byName, endpoints);
            if (service is null)
            {
                failed = true;
            }
            else
            {
                services.Add(service);
            }
        }

        return failed ? null : services;
    }

    private VirtualServiceConfig? Service(
        ConfigNode node,
        List<RealServerConfig>? servers,
        Dictionary<string, ConfigNode> byName,
        Dictionary<(IPAddress, TransportProtocol, int), (string Service, ConfigNode Node)> endpoints)
    {
        var name = Name(node, "[[service]]", byName, "owa");
        var what = name is null ? $"[[service]] at line {node.Origin.ValuePosition?.Line}" : $"[[service]] '{name}'";
        if (!_reader.Table(node, what, ServiceKeys, "[[service]]"))
        {
            return null;
        }

        var failed = name is null;

        IPAddress? vip = null;
        var vipNode = node.Child("vip");
        if (vipNode is null)
        {
            _reader.Add(node.AtValue($"{what} has no vip; add e.g. vip = \"10.0.0.10\""));
            failed = true;
        }
        else if (_reader.String(node, "vip", "10.0.0.10") is { } vipText)
        {
            vip = Address(vipNode, "vip", vipText);
            if (vip is not null && servers?.FirstOrDefault(s => s.Address.Equals(vip)) is { } clash)
            {
                _reader.Add(vipNode.AtValue($"vip {vip} is also the address of server '{clash.Name}'; a VIP is an address of its own"));
                vip = null;
            }
        }

        failed |= vip is null;
        var family = vip?.AddressFamily ?? AddressFamily.Unspecified;

        var protocol = TransportProtocol.Tcp;
        if (node.Child("protocol") is not null)
        {
            var chosen = _reader.Choice(node, "protocol", ConfigNames.Protocols, ConfigNames.List(ConfigNames.Protocols));
            failed |= chosen is null;
            protocol = chosen ?? protocol;
        }

        var ports = Ports(node, what, vip, protocol, name, endpoints);
        failed |= ports is null;

        var scheduler = SchedulerKind.WeightedLeastConnection;
        if (node.Child("scheduler") is not null)
        {
            var chosen = _reader.Choice(node, "scheduler", ConfigNames.Schedulers, ConfigNames.List(ConfigNames.Schedulers));
            failed |= chosen is null;
            scheduler = chosen ?? scheduler;
        }

        var persistence = Persistence(node, family, ref failed);

        var members = Members(node, what, servers, vip, ref failed);

        var onDown = OnDownAction.Quiesce;
        if (node.Child("on-down") is not null)
        {
            var chosen = _reader.Choice(node, "on-down", ConfigNames.OnDownActions, ConfigNames.List(ConfigNames.OnDownActions));
            failed |= chosen is null;
            onDown = chosen ?? onDown;
        }

        var sloppy = false;
        if (node.Child("sloppy") is not null)
        {
            var value = _reader.Bool(node, "sloppy");
            failed |= value is null;
            sloppy = value ?? false;
        }

        RealServerConfig? sorry = null;
        if (node.Child("sorry-server") is { } sorryNode)
        {
            failed |= !SorryServer(sorryNode, node, servers, vip, members, out sorry);
        }

        var timeouts = node.Child("timeouts") is { } timeoutsNode ? Timeouts(timeoutsNode, what) : new ConnectionTimeouts();
        failed |= timeouts is null;

        var check = Check(node, what, protocol, ports);
        failed |= check is null;

        return failed
            ? null
            : new VirtualServiceConfig
            {
                Name = name!,
                Vip = vip!,
                Protocol = protocol,
                Ports = ports!,
                Scheduler = scheduler,
                Persistence = persistence,
                Members = members!,
                OnDown = onDown,
                Sloppy = sloppy,
                SorryServer = sorry,
                Timeouts = timeouts!,
                Check = check!,
            };
    }

    private List<int>? Ports(
        ConfigNode node,
        string what,
        IPAddress? vip,
        TransportProtocol protocol,
        string? service,
        Dictionary<(IPAddress, TransportProtocol, int), (string Service, ConfigNode Node)> endpoints)
    {
        var portsNode = node.Child("ports");
        if (portsNode is null)
        {
            _reader.Add(node.AtValue($"{what} has no ports; add e.g. ports = [443]"));
            return null;
        }

        var items = _reader.List(portsNode, "ports = [443]");
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            _reader.Add(portsNode.AtValue("ports is empty; list at least one port, e.g. ports = [443]"));
            return null;
        }

        var ports = new List<int>();
        var failed = false;
        foreach (var item in items)
        {
            if (item.TomlValue is { Kind: not Toml.TomlValueKind.Integer } || (item.Origin.IsToml && item.TomlValue is null))
            {
                _reader.Add(item.AtValue($"a port must be a whole number 1 to 65535 without quotes, e.g. ports = [443], not {(item.TomlValue is null ? "a table or list" : $"'{item.Value}'")}"));
                failed = true;
                continue;
            }

            if (_reader.ElementInteger(item, "port", 1, 65535, "ports = [443]") is not { } value)
            {
                failed = true;
                continue;
            }

            var port = (int)value;
            if (ports.Contains(port))
            {
                _reader.Add(item.AtValue($"port {port} is listed twice in {what}"));
                failed = true;
                continue;
            }

            ports.Add(port);
            if (vip is null || service is null)
            {
                continue;
            }

            var endpoint = (vip, protocol, port);
            if (endpoints.TryGetValue(endpoint, out var other))
            {
                _reader.Add(item.AtValue($"port {port}/{protocol.ToConfigName()} on vip {vip} is already served by service '{other.Service}' ({Where(other.Node)}); each VIP, protocol and port belongs to one service"));
                failed = true;
            }
            else
            {
                endpoints.Add(endpoint, (service, item));
            }
        }

        return failed ? null : ports;
    }

    private PersistenceConfig? Persistence(ConfigNode node, AddressFamily family, ref bool failed)
    {
        var timeoutNode = node.Child("persistence");
        TimeSpan? timeout = null;
        var broken = false;
        if (timeoutNode is not null)
        {
            if (timeoutNode.TomlValue is { Kind: Toml.TomlValueKind.String } || !timeoutNode.Origin.IsToml)
            {
                var text = _reader.String(node, "persistence", "4h");
                if (text is null)
                {
                    broken = true;
                }
                else if (!string.Equals(text, "none", StringComparison.Ordinal))
                {
                    timeout = _reader.ParseDuration(timeoutNode, text);
                    broken = timeout is null;
                }
            }
            else
            {
                _reader.Duration(node, "persistence");
                broken = true;
            }
        }

        failed |= broken;
        var netmaskNode = node.Child("persistence-netmask");
        var sizeNode = node.Child("persistence-table-size");
        if (timeout is null)
        {
            // Without persistence these keys do nothing; saying so beats letting an administrator believe they apply.
            foreach (var unused in new[] { netmaskNode, sizeNode })
            {
                if (unused is not null && !broken)
                {
                    _reader.Add(unused.AtKey($"{unused.Key} has no effect without persistence; set persistence = \"300s\" or remove it"));
                    failed = true;
                }
            }

            return null;
        }

        var prefix = family == AddressFamily.InterNetworkV6 ? 128 : 32;
        if (netmaskNode is not null)
        {
            string? text = netmaskNode.TomlValue is { Kind: Toml.TomlValueKind.Integer } ? netmaskNode.Value : _reader.String(node, "persistence-netmask", "255.255.255.255");
            if (text is null)
            {
                failed = true;
            }
            else if (!PersistenceNetmask.TryParse(text, family, out prefix, out var error))
            {
                _reader.Add(netmaskNode.AtValue(error));
                failed = true;
            }
        }

        var size = PersistenceConfig.DefaultTableSize;
        if (sizeNode is not null)
        {
            var value = _reader.Integer(node, "persistence-table-size", 1, 100_000_000, "1000000");
            failed |= value is null;
            size = (int?)value ?? size;
        }

        return new PersistenceConfig { Timeout = timeout.Value, PrefixLength = prefix, TableSize = size };
    }

    private List<ServiceMember>? Members(ConfigNode node, string what, List<RealServerConfig>? servers, IPAddress? vip, ref bool failed)
    {
        var membersNode = node.Child("members");
        if (membersNode is null)
        {
            if (servers is null || vip is null)
            {
                return null;
            }

            // Default: every server the VIP can be forwarded to unchanged, i.e. of its address family.
            var all = servers.Where(s => s.Address.AddressFamily == vip.AddressFamily).Select(s => new ServiceMember(s, s.Weight)).ToList();
            if (all.Count == 0 && _someServerFailed)
            {
                // A server with errors of its own might have been the member; they are reported already.
                failed = true;
                return null;
            }

            if (all.Count == 0)
            {
                _reader.Add(node.AtValue($"{what} has no members: no [[server]] has an {FamilyName(vip.AddressFamily)} address like its vip {vip}; add one, or list members"));
                failed = true;
                return null;
            }

            return all;
        }

        var items = _reader.List(membersNode, "members = [\"CAS1\", { server = \"CAS2\", weight = 2 }]");
        if (items is null)
        {
            failed = true;
            return null;
        }

        if (items.Count == 0)
        {
            _reader.Add(membersNode.AtValue($"{what} has no members: list servers, e.g. members = [\"CAS1\", \"CAS2\"], or leave members out to use every server of the vip's address family"));
            failed = true;
            return null;
        }

        var members = new List<ServiceMember>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var broken = false;
        foreach (var item in items)
        {
            ConfigNode nameNode = item;
            string? name;
            long? weight = null;
            var weighted = item.IsTomlTable || (!item.Origin.IsToml && item.Value is null && item.Children.Count > 0);
            if (weighted)
            {
                _reader.Table(item, $"a member of {what}", MemberKeys, "{ server = \"CAS2\", weight = 2 }");
                var serverNode = item.Child("server");
                if (serverNode is null)
                {
                    _reader.Add(item.AtValue("a member written as a table needs server, e.g. { server = \"CAS2\", weight = 2 }"));
                    broken = true;
                    continue;
                }

                nameNode = serverNode;
                name = _reader.String(item, "server", "CAS2");
                if (item.Child("weight") is not null)
                {
                    weight = _reader.Integer(item, "weight", 0, 65535, "1");
                    broken |= weight is null;
                }
            }
            else
            {
                name = _reader.ElementString(item, "a member", "\"CAS1\" or { server = \"CAS2\", weight = 2 }");
            }

            if (name is null)
            {
                broken = true;
                continue;
            }

            if (!seen.Add(name))
            {
                _reader.Add(nameNode.AtValue($"server '{name}' is listed twice in members of {what}"));
                broken = true;
                continue;
            }

            var server = Resolve(nameNode, name, servers, vip, "members");
            if (server is null)
            {
                broken = true;
                continue;
            }

            members.Add(new ServiceMember(server, (int?)weight ?? server.Weight));
        }

        failed |= broken;
        return broken ? null : members;
    }

    private bool SorryServer(ConfigNode sorryNode, ConfigNode node, List<RealServerConfig>? servers, IPAddress? vip, List<ServiceMember>? members, out RealServerConfig? sorry)
    {
        sorry = null;
        var name = _reader.String(node, "sorry-server", "SORRY");
        if (name is null)
        {
            return false;
        }

        var resolved = Resolve(sorryNode, name, servers, vip, "sorry-server");
        if (resolved is null)
        {
            return false;
        }

        sorry = resolved;
        if (members is not null && members.Any(m => ReferenceEquals(m.Server, resolved)))
        {
            _reader.Add(sorryNode.AtValue($"sorry-server '{name}' is also a member; the sorry server only takes clients while every member is down, so it must not be one"));
            return false;
        }

        return true;
    }

    /// <summary>A server named in members or sorry-server: it must exist and match the VIP's address family.</summary>
    private RealServerConfig? Resolve(ConfigNode nameNode, string name, List<RealServerConfig>? servers, IPAddress? vip, string key)
    {
        var server = servers?.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));
        if (server is null && (servers is null || _declaredServers.Contains(name)))
        {
            // The server has errors of its own, already reported; calling it unknown would only mislead.
            return null;
        }

        if (server is null)
        {
            var near = _declaredServers.FirstOrDefault(s => string.Equals(s, name, StringComparison.OrdinalIgnoreCase));
            var hint = near is not null ? $"; did you mean '{near}'? (names are case-sensitive)" : $"; defined servers: {string.Join(", ", _declaredServers)}";
            _reader.Add(nameNode.AtValue($"{key} names server '{name}', which no [[server]] defines{hint}"));
            return null;
        }

        if (vip is not null && server.Address.AddressFamily != vip.AddressFamily)
        {
            _reader.Add(nameNode.AtValue($"server '{name}' has {FamilyName(server.Address.AddressFamily)} address {server.Address} but the vip {vip} is {FamilyName(vip.AddressFamily)}; DSR forwards packets unchanged, so a server needs an address of the VIP's family"));
            return null;
        }

        return server;
    }

    private ConnectionTimeouts? Timeouts(ConfigNode node, string what)
    {
        if (!_reader.Table(node, $"[service.timeouts] of {what}", TimeoutKeys, "[service.timeouts] tcp-established = \"1h\""))
        {
            return null;
        }

        var defaults = new ConnectionTimeouts();
        var failed = false;
        TimeSpan Read(string key, TimeSpan fallback)
        {
            if (node.Child(key) is null)
            {
                return fallback;
            }

            var value = _reader.Duration(node, key);
            failed |= value is null;
            return value ?? fallback;
        }

        var result = new ConnectionTimeouts
        {
            TcpEstablished = Read("tcp-established", defaults.TcpEstablished),
            TcpSyn = Read("tcp-syn", defaults.TcpSyn),
            TcpFinWait = Read("tcp-fin-wait", defaults.TcpFinWait),
            TcpClose = Read("tcp-close", defaults.TcpClose),
            Udp = Read("udp", defaults.Udp),
        };
        return failed ? null : result;
    }

    private HealthCheckConfig? Check(ConfigNode service, string what, TransportProtocol protocol, List<int>? ports)
    {
        var node = service.Child("check");
        var firstPort = ports is { Count: > 0 } ? ports[0] : 0;

        // A UDP service has no connection to probe: it gets no check unless one is asked for.
        if (node is null)
        {
            return protocol == TransportProtocol.Udp
                ? new HealthCheckConfig()
                : new HealthCheckConfig { Kind = HealthCheckKind.Tcp, Port = firstPort, DsrProbe = true };
        }

        var where = $"[service.check] of {what}";
        if (!_reader.Table(node, where, CheckKeys, "[service.check] kind = \"tcp\""))
        {
            return null;
        }

        var failed = false;
        var kind = protocol == TransportProtocol.Udp ? HealthCheckKind.None : HealthCheckKind.Tcp;
        if (node.Child("kind") is not null)
        {
            var chosen = _reader.Choice(node, "kind", ConfigNames.CheckKinds, ConfigNames.List(ConfigNames.CheckKinds));
            if (chosen is null)
            {
                return null;
            }

            kind = chosen.Value;
        }

        var kindName = kind.ToConfigName();
        var allowed = CheckKeysByKind[kind];
        foreach (var child in node.Children)
        {
            if (CheckKeys.Any(child.Is) && !allowed.Any(child.Is))
            {
                var users = CheckKeysByKind.Where(p => p.Value.Any(child.Is)).Select(p => p.Key.ToConfigName());
                _reader.Add(child.AtKey($"'{child.Key}' does nothing for a '{kindName}' check; it is used by kind {string.Join(", ", users)}"));
                failed = true;
            }
        }

        if (kind == HealthCheckKind.None)
        {
            return failed ? null : new HealthCheckConfig();
        }

        var result = new HealthCheckConfig { Kind = kind, Port = firstPort, DsrProbe = kind != HealthCheckKind.Exec };
        if (node.Child("port") is not null)
        {
            var port = _reader.Integer(node, "port", 1, 65535, "443");
            failed |= port is null;
            result = result with { Port = (int?)port ?? firstPort };
        }

        if (kind is HealthCheckKind.Http or HealthCheckKind.Https)
        {
            var pathNode = node.Child("path");
            if (pathNode is null)
            {
                _reader.Add(node.AtValue($"an {kindName} check needs path, the URL path to request, e.g. path = \"/owa/healthcheck.htm\" ({where})"));
                failed = true;
            }
            else if (_reader.String(node, "path", "/owa/healthcheck.htm") is { } path)
            {
                if (!path.StartsWith('/') || path.Any(char.IsWhiteSpace))
                {
                    _reader.Add(pathNode.AtValue($"path '{path}' must start with '/' and contain no spaces, e.g. \"/owa/healthcheck.htm\""));
                    failed = true;
                }

                result = result with { Path = path };
            }
            else
            {
                failed = true;
            }

            if (node.Child("host") is not null)
            {
                var host = _reader.String(node, "host", "mail.example.com");
                failed |= host is null;
                result = result with { Host = string.IsNullOrEmpty(host) ? null : host };
            }

            if (node.Child("status") is not null)
            {
                var status = _reader.Integer(node, "status", 100, 599, "200");
                failed |= status is null;
                result = result with { Status = (int?)status };
            }
        }

        if (kind == HealthCheckKind.SendExpect)
        {
            // An empty expect is allowed but must be written: it means "any reply", which should be a decision.
            if (node.Child("expect") is null)
            {
                _reader.Add(node.AtValue($"a send-expect check needs expect, the text the reply must contain (expect = \"\" accepts any reply) ({where})"));
                failed = true;
            }

            if (node.Child("send") is not null)
            {
                var send = _reader.String(node, "send", "HELLO\\r\\n");
                failed |= send is null;
                result = result with { Send = send };
            }
        }

        if (node.Child("expect") is not null)
        {
            var expect = _reader.String(node, "expect", "utlook");
            failed |= expect is null;
            result = result with { Expect = expect };
        }

        if (kind == HealthCheckKind.Exec)
        {
            var programNode = node.Child("program");
            if (programNode is null)
            {
                _reader.Add(node.AtValue($"an exec check needs program, the command to run (exit 0 = up), e.g. program = \"/usr/local/bin/check-owa %h %p\" ({where})"));
                failed = true;
            }
            else if (_reader.String(node, "program", "/usr/local/bin/check-owa %h %p") is { } program)
            {
                if (!program.StartsWith('/'))
                {
                    _reader.Add(programNode.AtValue($"program '{program}' must start with an absolute path, e.g. \"/usr/local/bin/check-owa %h %p\" (no search path is used)"));
                    failed = true;
                }

                result = result with { Program = program };
            }
            else
            {
                failed = true;
            }
        }

        if (node.Child("interval") is not null)
        {
            var interval = _reader.Duration(node, "interval");
            failed |= interval is null;
            result = result with { Interval = interval ?? result.Interval };
        }

        var timeoutNode = node.Child("timeout");
        if (timeoutNode is not null)
        {
            var timeout = _reader.Duration(node, "timeout");
            failed |= timeout is null;
            result = result with { Timeout = timeout ?? result.Timeout };
        }

        // An error, not a warning: a probe still open when the next one is due would overlap it, so a hung server
        // piles up probe connections and its state flaps with the order in which they finish.
        if (!failed && result.Timeout >= result.Interval)
        {
            var at = timeoutNode ?? node.Child("interval") ?? node;
            _reader.Add(at.AtValue($"check timeout {ConfigDuration.Format(result.Timeout)} must be shorter than its interval {ConfigDuration.Format(result.Interval)}, or probes overlap"));
            failed = true;
        }

        foreach (var key in new[] { "rise", "fall" })
        {
            if (node.Child(key) is null)
            {
                continue;
            }

            var count = _reader.Integer(node, key, 1, 100, key == "rise" ? "2" : "3");
            failed |= count is null;
            if (count is { } n)
            {
                result = key == "rise" ? result with { Rise = (int)n } : result with { Fall = (int)n };
            }
        }

        if (node.Child("dsr-probe") is not null)
        {
            var dsr = _reader.Bool(node, "dsr-probe");
            failed |= dsr is null;
            result = result with { DsrProbe = dsr ?? result.DsrProbe };
        }

        return failed ? null : result;
    }
}
