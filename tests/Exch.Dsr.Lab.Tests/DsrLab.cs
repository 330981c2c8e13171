using System.Globalization;
using System.Text.RegularExpressions;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// A Direct Server Return lab in network namespaces, built and torn down by the tests: a client, the appliance
/// running the real <c>exch-dsr run</c>, and two real servers (nginx on 80/443, socat on 135/7575/7576, the VIP on
/// <c>lo</c> with arp_ignore=1 / arp_announce=2), all on one bridge in its own namespace. Every address lies in
/// 10.203.7.0/24, which exists only inside these namespaces. Needs root, nginx, socat, openssl, curl, ethtool.
/// </summary>
/// <remarks>
/// Every step has a deadline; <see cref="Dispose"/> kills what was started (by process id, and nginx by its pid
/// file) and deletes the namespaces even when set-up failed half-way.
/// </remarks>
internal sealed partial class DsrLab : IDisposable
{
    public const string Vip = "10.203.7.100";
    public const string ClientAddress = "10.203.7.10";
    public const string ApplianceAddress = "10.203.7.2";

    /// <summary>Extra client addresses (secondary IPs on the client's interface), one client each.</summary>
    public static readonly string[] ExtraClients = [.. Enumerable.Range(31, 8).Select(i => $"10.203.7.{i}")];

    public static readonly (string Name, string Address)[] Servers = [("CAS1", "10.203.7.11"), ("CAS2", "10.203.7.12")];

    /// <summary>A configured member that does not exist: it never answers ARP.</summary>
    public static readonly (string Name, string Address) SilentServer = ("CAS3", "10.203.7.13");

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private readonly List<string> _namespaces = [];
    private readonly List<BackgroundProcess> _processes = [];
    private readonly List<string> _pidFiles = [];
    private readonly string _directory;

    private DsrLab()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"exch-dsr-lab-{_suffix}");
        Directory.CreateDirectory(_directory);
    }

    public string BridgeNs => $"xdsr-br-{_suffix}";

    public string ClientNs => $"xdsr-cl-{_suffix}";

    public string ApplianceNs => $"xdsr-ap-{_suffix}";

    public string ServerNs(int index) => $"xdsr-s{index + 1}-{_suffix}";

    /// <summary>The running exch-dsr, once <see cref="StartForwarder"/> succeeded.</summary>
    public BackgroundProcess? Forwarder { get; private set; }

    /// <summary>The appliance interface's MAC, as the kernel reports it.</summary>
    public string ApplianceMac { get; private set; } = string.Empty;

    /// <summary>Builds the namespaces, links, addresses and the servers' listeners; throws (after cleaning up) when a step fails.</summary>
    public static DsrLab Create()
    {
        string[] missing = [.. new[] { "ip", "ethtool", "nginx", "socat", "openssl", "curl", "ping" }.Where(tool => !OnPath(tool))];
        if (missing.Length > 0)
        {
            throw new InvalidOperationException(
                $"the lab needs {string.Join(", ", missing)} on PATH: apt-get install iproute2 ethtool nginx socat openssl curl iputils-ping (tests/run.sh installs them)");
        }

        var lab = new DsrLab();
        try
        {
            lab.Build();
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="program"/> inside <paramref name="ns"/>.</summary>
    public static CommandResult Exec(string ns, string program, params string[] arguments) =>
        Shell.Run(TimeSpan.FromSeconds(20), "ip", ["netns", "exec", ns, program, .. arguments]);

    /// <summary>An HTTPS or HTTP GET from the client namespace; the body, or null when it failed.</summary>
    public string? ClientGet(string url, string? sourceAddress = null, int maxSeconds = 5)
    {
        string[] source = sourceAddress is null ? [] : ["--interface", sourceAddress];
        var result = Exec(ClientNs, "curl", ["-sk", "--max-time", maxSeconds.ToString(CultureInfo.InvariantCulture), .. source, url]);
        return result.Succeeded ? result.Output : null;
    }

    /// <summary>Connects from the client namespace to a TCP port and returns what the server said (its name), or null.</summary>
    public string? ClientTcp(string address, int port, string? sourceAddress = null)
    {
        string bind = sourceAddress is null ? string.Empty : $",bind={sourceAddress}";
        var result = Exec(ClientNs, "socat", ["-T", "5", "-u", $"TCP:{address}:{port}{bind},connect-timeout=5", "STDOUT"]);
        return result.Succeeded ? result.Output.Trim() : null;
    }

    /// <summary>Which server answered: CAS1 or CAS2 as written in the page or the banner, else null.</summary>
    public static string? ServerIn(string? text) => text is null ? null : ServerName().Match(text) is { Success: true } m ? m.Value : null;

    /// <summary>A counter of the appliance's interface from /sys/class/net/eth0/statistics (read inside its namespace).</summary>
    public long ApplianceCounter(string name) =>
        long.Parse(Exec(ApplianceNs, "cat", $"/sys/class/net/eth0/statistics/{name}").Output.Trim(), CultureInfo.InvariantCulture);

    /// <summary>A server interface's MAC.</summary>
    public string ServerMac(int index) => ReadMac(ServerNs(index));

    /// <summary>
    /// Writes the configuration and starts <c>exch-dsr run</c> in the appliance namespace, then waits (bounded) until it
    /// says it forwards and, for <c>mac = "auto"</c>, until both servers' MACs are learned.
    /// </summary>
    /// <param name="backend">pcap or ring.</param>
    /// <param name="fixedMacs">Configure the servers' MACs (read from their namespaces) instead of <c>auto</c>.</param>
    /// <param name="neighbourRefreshSeconds">The resolver's refresh interval.</param>
    /// <param name="withSilentServer">Also configure <see cref="SilentServer"/>, a member at an address nobody holds.</param>
    /// <param name="httpsHealthCheck">
    /// Give owa-https an https check on /owa (every 500 ms, fall = rise = 2) and <c>on-down = "shutdown-sessions"</c>;
    /// the probes leave the appliance namespace from <see cref="ApplianceAddress"/> to each server's own address.
    /// </param>
    public void StartForwarder(string backend, bool fixedMacs = false, double neighbourRefreshSeconds = 2, bool withSilentServer = false, bool httpsHealthCheck = false)
        => StartForwarderWith(ConfigText(backend, fixedMacs, withSilentServer, httpsHealthCheck), fixedMacs, neighbourRefreshSeconds);

    /// <summary>
    /// As <see cref="StartForwarder"/>, with the configuration given as text (start from <see cref="ConfigText"/> and
    /// change it) and extra arguments for <c>exch-dsr run</c>. The file is <see cref="ConfigPath"/>.
    /// </summary>
    public void StartForwarderWith(string configText, bool fixedMacs = false, double neighbourRefreshSeconds = 2, params string[] extraArguments)
    {
        string config = ConfigPath;
        File.WriteAllText(config, configText);
        Forwarder = Shell.Start(
            "exch-dsr",
            "ip",
            [
                "netns", "exec", ApplianceNs, Shell.DotnetHost(), Shell.ExchDsrDll(), "run", "--config", config,
                "--status-interval", "1", "--neighbour-refresh", neighbourRefreshSeconds.ToString(CultureInfo.InvariantCulture), .. extraArguments,
            ]);
        bool ready = Shell.WaitUntil(
            () => Forwarder.HasExited || (Forwarder.Output.Contains("Forwarding on", StringComparison.Ordinal)
                && (fixedMacs || Servers.All(s => Forwarder.Output.Contains($"Server {s.Name} ({s.Address}) is at", StringComparison.Ordinal)))),
            TimeSpan.FromSeconds(20));
        if (!ready || Forwarder.HasExited)
        {
            throw new InvalidOperationException($"exch-dsr did not become ready (exited: {Forwarder.HasExited}); it said:\n{Forwarder.Output}");
        }

        // The client learns the VIP from the appliance's ARP answer on its first packet; wait until a page loads.
        if (!Shell.WaitUntil(() => ClientGet($"https://{Vip}/owa", maxSeconds: 2) is not null, TimeSpan.FromSeconds(15)))
        {
            throw new InvalidOperationException($"the VIP did not answer through exch-dsr within 15 s; it said:\n{Forwarder.Output}");
        }
    }

    /// <summary>Where <see cref="StartForwarderWith"/> writes the configuration (rewrite it there to test a reload).</summary>
    public string ConfigPath => Path.Combine(_directory, "exch-dsr.toml");

    /// <summary>Stops server <paramref name="index"/>'s nginx (SIGTERM to the master, which takes its worker down) and waits until it is gone.</summary>
    public void StopNginx(int index)
    {
        string pidFile = Path.Combine(_directory, $"server{index + 1}", "nginx.pid");
        int pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        Shell.Must("kill", "-TERM", pid.ToString(CultureInfo.InvariantCulture));
        if (!Shell.WaitUntil(() => !File.Exists($"/proc/{pid}/cmdline") || File.ReadAllText($"/proc/{pid}/cmdline").Length == 0, TimeSpan.FromSeconds(5)))
        {
            throw new InvalidOperationException($"{Servers[index].Name}'s nginx (pid {pid}) did not stop within 5 s");
        }
    }

    public void Dispose()
    {
        Forwarder?.Dispose();
        foreach (var process in _processes)
        {
            process.Dispose();
        }

        foreach (var pidFile in _pidFiles)
        {
            KillByPidFile(pidFile);
        }

        // Whatever is still running in a namespace (a child a program forked, such as keepalived's VRRP process)
        // would keep it alive after "ip netns del".
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            foreach (var pid in Shell.Run("ip", "netns", "pids", ns).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Shell.Run("kill", "-KILL", pid);
            }

            Shell.Run("ip", "netns", "del", ns);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex("CAS[12]")]
    private static partial Regex ServerName();

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, tool)));

    private static string ReadMac(string ns)
    {
        var match = Regex.Match(Exec(ns, "ip", "-o", "link", "show", "dev", "eth0").Output, "link/ether ([0-9a-f:]{17})");
        return match.Success ? match.Groups[1].Value : throw new InvalidOperationException($"no MAC for eth0 in {ns}");
    }

    private static void KillByPidFile(string pidFile)
    {
        try
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid)
                && File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("nginx", StringComparison.Ordinal))
            {
                Shell.Run("kill", "-KILL", pid.ToString(CultureInfo.InvariantCulture));
            }
        }
        catch (IOException)
        {
        }
    }

    private void AddNamespace(string ns)
    {
        Shell.Must("ip", "netns", "add", ns);
        _namespaces.Add(ns);
        Shell.Must("ip", "-n", ns, "link", "set", "lo", "up");
    }

    /// <summary>A veth pair: "eth0" in <paramref name="ns"/>, <paramref name="bridgePort"/> on the bridge; every offload off on both ends.</summary>
    private void Attach(string ns, string bridgePort, string address)
    {
        Shell.Must("ip", "-n", BridgeNs, "link", "add", bridgePort, "type", "veth", "peer", "name", "eth0", "netns", ns);
        Shell.Must("ip", "-n", BridgeNs, "link", "set", bridgePort, "master", "br0", "up");
        Shell.Must("ip", "-n", ns, "addr", "add", $"{address}/24", "dev", "eth0");
        Shell.Must("ip", "-n", ns, "link", "set", "eth0", "up");

        // A real NIC hands over whole, checksummed frames; with offloads on, veth would not (see LAB-NOTES).
        // ethtool exits non-zero when a feature is fixed off; the appliance's start-up check verifies GRO/LRO anyway.
        Shell.Run("ip", "netns", "exec", BridgeNs, "ethtool", "-K", bridgePort, "gro", "off", "gso", "off", "tso", "off", "lro", "off", "tx", "off", "rx", "off");
        Shell.Run("ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "gro", "off", "gso", "off", "tso", "off", "lro", "off", "tx", "off", "rx", "off");
    }

    private void Build()
    {
        AddNamespace(BridgeNs);
        Shell.Must("ip", "-n", BridgeNs, "link", "add", "br0", "type", "bridge");
        Shell.Must("ip", "-n", BridgeNs, "link", "set", "br0", "up");
        foreach (var key in new[] { "iptables", "ip6tables", "arptables" })
        {
            // br_netfilter is built in here: without this the bridge runs iptables on every frame.
            Shell.Run("ip", "netns", "exec", BridgeNs, "sysctl", "-q", "-w", $"net.bridge.bridge-nf-call-{key}=0");
        }

        AddNamespace(ClientNs);
        Attach(ClientNs, "p-client", ClientAddress);
        foreach (var extra in ExtraClients)
        {
            Shell.Must("ip", "-n", ClientNs, "addr", "add", $"{extra}/24", "dev", "eth0");
        }

        AddNamespace(ApplianceNs);
        Attach(ApplianceNs, "p-appliance", ApplianceAddress);
        ApplianceMac = ReadMac(ApplianceNs);

        for (int i = 0; i < Servers.Length; i++)
        {
            string ns = ServerNs(i);
            AddNamespace(ns);
            Attach(ns, $"p-server{i + 1}", Servers[i].Address);
            Shell.Must("ip", "-n", ns, "addr", "add", $"{Vip}/32", "dev", "lo");
            Shell.Must(
                "ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2");
            StartServer(i);
        }

        for (int i = 0; i < Servers.Length; i++)
        {
            var (name, address) = Servers[i];
            bool up = Shell.WaitUntil(
                () => ClientGet($"https://{address}/owa", maxSeconds: 2)?.Contains(name, StringComparison.Ordinal) == true
                    && new[] { 135, 7575, 7576 }.All(p => ClientTcp(address, p) == name),
                TimeSpan.FromSeconds(10));
            if (!up)
            {
                throw new InvalidOperationException($"{name}'s nginx and socat did not answer on {address} within 10 s: {ServerLog(i)}");
            }
        }
    }

    private string ServerLog(int index)
    {
        string log = Path.Combine(_directory, $"server{index + 1}", "error.log");
        return (File.Exists(log) ? File.ReadAllText(log) : "(no nginx error log)") + string.Join('\n', _processes.Select(p => $"{p.Name}: {p.Output}"));
    }

    private void StartServer(int index)
    {
        var (name, _) = Servers[index];
        string ns = ServerNs(index);
        string dir = Path.Combine(_directory, $"server{index + 1}");
        string www = Path.Combine(dir, "www");
        Directory.CreateDirectory(www);
        File.WriteAllText(Path.Combine(www, "owa"), $"<html><head><title>Outlook</title></head><body>Outlook Web App on {name}</body></html>\n");
        var big = new byte[1 << 20];
        new Random(index).NextBytes(big);
        File.WriteAllBytes(Path.Combine(www, "big.bin"), big);

        Shell.Must(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", $"/CN={name.ToLowerInvariant()}.lab.test",
            "-keyout", Path.Combine(dir, "key.pem"), "-out", Path.Combine(dir, "cert.pem"));

        string pid = Path.Combine(dir, "nginx.pid");
        _pidFiles.Add(pid);
        File.WriteAllText(Path.Combine(dir, "nginx.conf"), $$"""
            user root;
            worker_processes 1;
            daemon off;
            pid {{pid}};
            error_log {{dir}}/error.log warn;
            events { worker_connections 512; }
            http {
                access_log off;
                client_body_temp_path {{dir}}/body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                server {
                    listen 80;
                    listen 443 ssl;
                    ssl_certificate {{dir}}/cert.pem;
                    ssl_certificate_key {{dir}}/key.pem;
                    root {{www}};
                    location = /owa { default_type text/html; }
                }
            }
            """);
        _processes.Add(Shell.Start($"{name} nginx", "ip", "netns", "exec", ns, "nginx", "-p", dir, "-e", Path.Combine(dir, "error.log"), "-c", Path.Combine(dir, "nginx.conf")));
        foreach (int port in new[] { 135, 7575, 7576 })
        {
            _processes.Add(Shell.Start($"{name} socat {port}", "ip", "netns", "exec", ns, "socat", $"TCP-LISTEN:{port},fork,reuseaddr", $"EXEC:/bin/echo {name}"));
        }
    }

    /// <summary>The lab's configuration for <see cref="StartForwarder"/>'s options, as TOML text.</summary>
    public string ConfigText(string backend, bool fixedMacs, bool withSilentServer, bool httpsHealthCheck)
    {
        // rr in every service: without persistence it would alternate servers on every new connection, so a client
        // that keeps one server across 135/7575/7576, or across its https connections, shows persistence at work;
        // different clients still spread. Health checks are off unless asked for: the lab tests forwarding, not probing.
        string Mac(int i) => fixedMacs ? $"\"{ServerMac(i)}\"" : "\"auto\"";
        const string NoCheck = "[service.check]\nkind = \"none\"";
        const string HttpsCheck = "on-down = \"shutdown-sessions\"\n[service.check]\nkind = \"https\"\npath = \"/owa\"\nexpect = \"utlook\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\nrise = 2\nfall = 2";
        string Service(string name, string ports, string check = NoCheck) => $"""
            [[service]]
            name = "{name}"
            vip = "{Vip}"
            ports = [{ports}]
            scheduler = "rr"
            persistence = "300s"
            persistence-netmask = "255.255.255.255"
            {check}

            """;
        return $"""
            [appliance]
            interface = "eth0"
            backend = "{backend}"
            own-vips = true
            threads = 1

            [control]
            socket = "{_directory}/control.sock"
            http = "off"

            [[server]]
            name = "CAS1"
            address = "{Servers[0].Address}"
            mac = {Mac(0)}

            [[server]]
            name = "CAS2"
            address = "{Servers[1].Address}"
            mac = {Mac(1)}

            {(withSilentServer ? $"[[server]]\nname = \"{SilentServer.Name}\"\naddress = \"{SilentServer.Address}\"\nmac = \"auto\"\n" : string.Empty)}
            {Service("outlook-rpc", "135, 7575, 7576")}
            {Service("owa-https", "443", httpsHealthCheck ? HttpsCheck : NoCheck)}
            {Service("http", "80")}
            """;
    }
}
