using System.Globalization;
using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Tables;

namespace Exch.Dsr.Commands;

/// <summary>
/// A configuration in words, for check-config: every value spelled out with its effect, defaults included, so an
/// administrator sees what the file means rather than what it says. Plain text: it is read in terminals, logs and
/// change tickets alike.
/// </summary>
internal static class ConfigSummary
{
    private const int LabelWidth = 14;

    public static void Write(TextWriter output, string file, ExchDsrConfig config)
    {
        output.WriteLine($"{file}: valid; {Count(config.Servers.Count, "server")}, {Count(config.Services.Count, "service")}.");

        output.WriteLine();
        output.WriteLine("Appliance");
        var appliance = config.Appliance;
        Line(output, "interface", appliance.Interface);
        Line(output, "backend", appliance.Backend == CaptureBackend.Ring ? "ring (AF_PACKET memory-mapped rings)" : "pcap (libpcap, immediate mode)");
        if (appliance.Backend == CaptureBackend.Ring)
        {
            Line(output, "ring-receive", appliance.RingReceive == RingReceive.Block
                ? "block (TPACKET_V3: fewer wake-ups, up to 1 ms per frame on light traffic)"
                : "frame (TPACKET_V2: one wake-up per frame, lowest latency)");
        }

        Line(output, "own-vips", appliance.OwnVips
            ? "yes: exch-dsr answers ARP/NDP and ping for the VIPs and announces them"
            : "no: the VIPs are configured on this host, which answers ARP for them");
        Line(output, "mac", appliance.Mac is null ? "auto (the interface's own)" : Mac(appliance.Mac));
        Line(output, "threads", appliance.Backend == CaptureBackend.Pcap
            ? "1 (the pcap backend cannot fan out over threads)"
            : appliance.Threads == 0 ? $"0 (one per core: {Environment.ProcessorCount} here)" : appliance.Threads.ToString(CultureInfo.InvariantCulture));
        Line(output, "connections", string.Create(CultureInfo.InvariantCulture,
            $"{appliance.Connections:N0} per forwarding thread (tables of {Size(ConnectionTable.IPv4BytesFor(appliance.Connections))} for IPv4 flows and {Size(ConnectionTable.IPv6BytesFor(appliance.Connections))} for IPv6 flows each, taken as flows arrive)"));

        output.WriteLine();
        output.WriteLine("Control");
        var control = config.Control;
        Line(output, "socket", control.SocketGroup is null ? $"{control.Socket} (root only)" : $"{control.Socket} (root and group {control.SocketGroup})");
        Line(output, "http", control.Http is null ? "off" : $"{(control.HttpCertificate is null ? "http" : "https")}://{control.Http}/");
        if (control.HttpCertificate is { } certificate)
        {
            Line(output, "certificate", $"{certificate} ({(control.HttpCertificateKey is { } key ? $"key {key}" : "with its key")}), read at start and on every reload");
        }

        Line(output, "admin-user", control.AdminUser);
        Line(output, "password file", control.AdminPasswordFile ?? "none");

        output.WriteLine();
        output.WriteLine("Servers");
        var nameWidth = config.Servers.Max(s => s.Name.Length);
        var addressWidth = config.Servers.Max(s => s.Address.ToString().Length);
        foreach (var server in config.Servers)
        {
            var mac = server.Mac is null ? "mac auto (" + (server.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "ARP" : "NDP") + ")" : "mac " + Mac(server.Mac);
            output.WriteLine($"  {server.Name.PadRight(nameWidth)}  {server.Address.ToString().PadRight(addressWidth)}  weight {server.Weight,-5}  {mac}");
        }

        foreach (var service in config.Services)
        {
            output.WriteLine();
            Service(output, service);
        }
    }

    private static void Service(TextWriter output, VirtualServiceConfig service)
    {
        var ports = string.Join(", ", service.Ports);
        output.WriteLine($"Service {service.Name}: {Endpoint(service.Vip)} {service.Protocol.ToConfigName()} port{(service.Ports.Count == 1 ? string.Empty : "s")} {ports}");
        Line(output, "scheduler", $"{service.Scheduler.ToConfigName()} ({Describe(service.Scheduler)})");
        var family = service.Vip.AddressFamily;
        Line(output, "persistence", service.Persistence is { } p
            ? $"{ConfigDuration.Format(p.Timeout)} idle, clients by {PersistenceNetmask.Format(p.PrefixLength, family)}, up to {p.TableSize.ToString("N0", CultureInfo.InvariantCulture)} clients"
                + (service.Ports.Count > 1 ? $"; shared by ports {ports}" : string.Empty)
            : "none (every connection is scheduled anew)");
        Line(output, "members", string.Join(", ", service.Members.Select(m => $"{m.Server.Name} ({m.Server.Address}, weight {m.Weight})")));
        Line(output, "check", Check(service.Check));
        Line(output, "on-down", service.OnDown switch
        {
            OnDownAction.Quiesce => "quiesce (no new clients; existing connections and persistence stay until idle)",
            OnDownAction.QuiesceExpire => "quiesce-expire (no new clients; persistence dropped, connections stay until idle)",
            _ => "shutdown-sessions (connections and persistence dropped at once)",
        });
        Line(output, "sorry-server", service.SorryServer is { } sorry ? $"{sorry.Name} ({sorry.Address}), while every member is down" : "none");
        Line(output, "sloppy", service.Sloppy ? "yes (flows seen mid-stream are taken over)" : "no (a TCP flow must start with SYN)");
        var t = service.Timeouts;
        Line(output, "timeouts", service.Protocol == TransportProtocol.Tcp
            ? $"established {ConfigDuration.Format(t.TcpEstablished)}, syn {ConfigDuration.Format(t.TcpSyn)}, fin-wait {ConfigDuration.Format(t.TcpFinWait)}, close {ConfigDuration.Format(t.TcpClose)}"
            : $"udp {ConfigDuration.Format(t.Udp)}");
    }

    private static string Check(HealthCheckConfig check)
    {
        if (check.Kind == HealthCheckKind.None)
        {
            return "none (members are always considered up)";
        }

        var what = check.Kind switch
        {
            HealthCheckKind.Tcp => $"tcp connect to port {check.Port}",
            HealthCheckKind.SendExpect => $"send-expect on port {check.Port}: send {Quote(check.Send ?? string.Empty)}, expect {Expect(check.Expect)}",
            HealthCheckKind.Http or HealthCheckKind.Https =>
                $"{check.Kind.ToConfigName()} GET {check.Path} on port {check.Port}"
                + (check.Host is null ? string.Empty : $", Host {check.Host}")
                + $", status {(check.Status is { } s ? s.ToString(CultureInfo.InvariantCulture) : "2xx or 3xx")}"
                + (string.IsNullOrEmpty(check.Expect) ? string.Empty : $", body contains {Quote(check.Expect)}"),
            HealthCheckKind.Smtp => $"smtp on port {check.Port}: 220 greeting" + (string.IsNullOrEmpty(check.Expect) ? string.Empty : $" containing {Quote(check.Expect)}"),
            _ => $"exec {check.Program} (port {check.Port}; "
                + (string.IsNullOrEmpty(check.Expect) ? "exit 0 = up)" : $"up when its output contains {Quote(check.Expect)})"),
        };
        var path = check.DsrProbe ? ", through the VIP" : string.Empty;
        return $"{what}{path}; every {ConfigDuration.Format(check.Interval)}, timeout {ConfigDuration.Format(check.Timeout)}, up after {check.Rise}, down after {check.Fall}";
    }

    private static string Expect(string? expect) => string.IsNullOrEmpty(expect) ? "any reply" : Quote(expect);

    private static string Quote(string text) => "\"" + text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    private static string Describe(SchedulerKind scheduler) => scheduler switch
    {
        SchedulerKind.RoundRobin => "round robin",
        SchedulerKind.WeightedRoundRobin => "weighted round robin",
        SchedulerKind.LeastConnection => "least connections",
        SchedulerKind.WeightedLeastConnection => "weighted least connections",
        SchedulerKind.SourceHash => "source address hash",
        _ => "Maglev consistent hash",
    };

    private static string Endpoint(IPAddress address) => address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    private static string Mac(System.Net.NetworkInformation.PhysicalAddress mac)
        => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    private static string Count(int count, string noun) => $"{count} {noun}{(count == 1 ? string.Empty : "s")}";

    private static string Size(long bytes) => bytes >= 1 << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1 << 20):N0} MiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024:N0} KiB");

    private static void Line(TextWriter output, string label, string value) => output.WriteLine($"  {label.PadRight(LabelWidth)}{value}");
}
