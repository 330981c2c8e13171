using System.Net;
using System.Net.NetworkInformation;

namespace Exch.Dsr.Configuration;

/// <summary>
/// One complete configuration. One returned by <see cref="ExchDsrConfigLoader"/> is valid throughout: members and
/// the sorry server exist and share the VIP's address family, no VIP/protocol/port is served twice, so consumers
/// need not re-check.
/// </summary>
public sealed record ExchDsrConfig
{
    public ApplianceConfig Appliance { get; init; } = new();

    public ControlConfig Control { get; init; } = new();

    /// <summary>Real servers in file order.</summary>
    public IReadOnlyList<RealServerConfig> Servers { get; init; } = [];

    /// <summary>Virtual services in file order.</summary>
    public IReadOnlyList<VirtualServiceConfig> Services { get; init; } = [];
}

/// <summary>The forwarding side: which NIC, which capture backend, which identity.</summary>
public sealed record ApplianceConfig
{
    public const string DefaultInterface = "eth0";

    /// <summary>The data NIC: it receives VIP traffic and re-injects the rewritten frames.</summary>
    public string Interface { get; init; } = DefaultInterface;

    /// <summary>
    /// pcap by default: it wakes once per frame, so a request waits microseconds, where the ring's block timeout holds
    /// light request/response traffic for up to a millisecond (measured in the lab; see native-notes/capture-interop.md).
    /// </summary>
    public CaptureBackend Backend { get; init; } = CaptureBackend.Pcap;

    /// <summary>
    /// True when the VIPs are not configured on the host: the forwarder itself answers ARP/NDP and ICMP echo for them
    /// and announces them with gratuitous ARP.
    /// </summary>
    public bool OwnVips { get; init; }

    /// <summary>The appliance's source MAC; null means the interface's own address.</summary>
    public PhysicalAddress? Mac { get; init; }

    /// <summary>Forwarding threads (ring fanout members); 0 means one per core.</summary>
    public int Threads { get; init; }

    /// <summary>The most connections each forwarding thread tracks (2^20 by default).</summary>
    public const int DefaultConnections = 1 << 20;

    /// <summary>The least and the most <see cref="Connections"/> may be.</summary>
    public const int MinConnections = 1024, MaxConnections = 16_777_215;

    /// <summary>
    /// Connections each forwarding thread tracks at most, of either address family: reserved at start (160 MiB for
    /// IPv4 flows and 144 MiB for IPv6 flows at the default) and taken as connections of that family land. A new
    /// connection beyond it is dropped as "connection table full". Fewer keeps a small appliance's memory down; more
    /// lowers the table's load, so lookups at many clients find their flow in the line they asked for more often.
    /// </summary>
    public int Connections { get; init; } = DefaultConnections;

    /// <summary>
    /// How the ring backend's receive ring hands frames over. Frame (TPACKET_V2) by default: it wakes per frame when
    /// traffic is light, so a request waits microseconds, not the 1 ms block timeout of Block (TPACKET_V3), which
    /// measured slower on request/response traffic and no faster under load (tests/Exch.Dsr.Lab.Tests/perf/RESULTS.md).
    /// </summary>
    public RingReceive RingReceive { get; init; } = RingReceive.Frame;
}

/// <summary>The administration side: control socket and HTTP endpoint.</summary>
public sealed record ControlConfig
{
    public const string DefaultSocket = "/run/exch-dsr/control.sock";

    public static readonly IPEndPoint DefaultHttp = new(IPAddress.Loopback, 8405);

    public string Socket { get; init; } = DefaultSocket;

    /// <summary>Group allowed on the socket (mode 0660); null leaves it to root alone (mode 0600).</summary>
    public string? SocketGroup { get; init; }

    /// <summary>The HTTP status/admin endpoint; null when disabled with <c>http = "off"</c>.</summary>
    public IPEndPoint? Http { get; init; } = DefaultHttp;

    public string AdminUser { get; init; } = "admin";

    /// <summary>A file holding the admin password on its first line; null means HTTP changes are accepted from this host (loopback) only.</summary>
    public string? AdminPasswordFile { get; init; }

    /// <summary>
    /// A PEM file with the status page's certificate (and its chain); when set the page is served over HTTPS only, so
    /// the admin password never crosses the network in the clear. Null: plain HTTP.
    /// </summary>
    public string? HttpCertificate { get; init; }

    /// <summary>The PEM file with <see cref="HttpCertificate"/>'s private key; null when the certificate file holds it too.</summary>
    public string? HttpCertificateKey { get; init; }
}

/// <summary>A real server, defined once and shared by the services that list it.</summary>
public sealed record RealServerConfig
{
    public required string Name { get; init; }

    public required IPAddress Address { get; init; }

    /// <summary>The MAC frames are rewritten to; null means resolve it with ARP (IPv4) or NDP (IPv6).</summary>
    public PhysicalAddress? Mac { get; init; }

    /// <summary>Default weight of the server in every service (0 = no new clients).</summary>
    public int Weight { get; init; } = 1;
}

/// <summary>A virtual service: one VIP, one protocol, one or more ports sharing one persistence domain.</summary>
public sealed record VirtualServiceConfig
{
    public required string Name { get; init; }

    public required IPAddress Vip { get; init; }

    public TransportProtocol Protocol { get; init; } = TransportProtocol.Tcp;

    /// <summary>The ports, in file order; a client sticks to one server across all of them (LVS fwmark, HAProxy shared stick table).</summary>
    public required IReadOnlyList<int> Ports { get; init; }

    public SchedulerKind Scheduler { get; init; } = SchedulerKind.WeightedLeastConnection;

    /// <summary>Client affinity; null means none (every new connection is scheduled).</summary>
    public PersistenceConfig? Persistence { get; init; }

    /// <summary>Never empty; every member's server has the VIP's address family.</summary>
    public required IReadOnlyList<ServiceMember> Members { get; init; }

    public OnDownAction OnDown { get; init; } = OnDownAction.Quiesce;

    /// <summary>Take over TCP flows seen mid-stream (no SYN), e.g. after a fail-over from another balancer (LVS sloppy_tcp).</summary>
    public bool Sloppy { get; init; }

    /// <summary>Used only while every member is down; never a member itself.</summary>
    public RealServerConfig? SorryServer { get; init; }

    public ConnectionTimeouts Timeouts { get; init; } = new();

    public HealthCheckConfig Check { get; init; } = new();
}

/// <summary>A server in one service, with the weight it has there.</summary>
public sealed record ServiceMember(RealServerConfig Server, int Weight);

/// <summary>Client affinity: clients under one netmask stay on one server until idle for <see cref="Timeout"/>.</summary>
public sealed record PersistenceConfig
{
    public const int DefaultTableSize = 1_000_000;

    /// <summary>Idle time after which a client may be scheduled anew.</summary>
    public required TimeSpan Timeout { get; init; }

    /// <summary>Leading bits of the client address that identify a client (32 or 128 = one address).</summary>
    public required int PrefixLength { get; init; }

    /// <summary>Most clients remembered at once.</summary>
    public int TableSize { get; init; } = DefaultTableSize;
}

/// <summary>Idle timeouts of tracked connections; the defaults are the LVS ones.</summary>
public sealed record ConnectionTimeouts
{
    public TimeSpan TcpEstablished { get; init; } = TimeSpan.FromSeconds(900);

    public TimeSpan TcpSyn { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan TcpFinWait { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan TcpClose { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Udp { get; init; } = TimeSpan.FromSeconds(300);
}

/// <summary>How a member's health is probed. Only the fields its <see cref="Kind"/> uses are set.</summary>
public sealed record HealthCheckConfig
{
    public HealthCheckKind Kind { get; init; } = HealthCheckKind.None;

    /// <summary>The probed port (0 for <see cref="HealthCheckKind.None"/>).</summary>
    public int Port { get; init; }

    /// <summary>HTTP path, for http and https.</summary>
    public string? Path { get; init; }

    /// <summary>HTTP Host header, for http and https; null means the probed address.</summary>
    public string? Host { get; init; }

    /// <summary>Bytes sent after connecting, for send-expect.</summary>
    public string? Send { get; init; }

    /// <summary>
    /// Text the reply must contain (for exec: its standard output, and then the exit code does not count); empty means
    /// any reply will do, and for exec that exit code 0 decides.
    /// </summary>
    public string? Expect { get; init; }

    /// <summary>The expected HTTP status; null means any 2xx or 3xx.</summary>
    public int? Status { get; init; }

    /// <summary>Command line for exec checks, with %h (server address), %p (port) and %v (VIP) substituted.</summary>
    public string? Program { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive successes that bring a down server up.</summary>
    public int Rise { get; init; } = 2;

    /// <summary>Consecutive failures that take an up server down.</summary>
    public int Fall { get; init; } = 3;

    /// <summary>
    /// Probe the VIP through the server's MAC, as client traffic arrives, rather than the server's own address (a
    /// policy route per server; see native-notes/real-servers.md). Never set for exec, whose program picks its target.
    /// </summary>
    public bool DsrProbe { get; init; }
}

/// <summary>How the ring backend's receive ring hands frames to the forwarding thread.</summary>
public enum RingReceive
{
    /// <summary>Per frame (TPACKET_V2 slots): lowest latency on light traffic.</summary>
    Frame,

    /// <summary>Per block (TPACKET_V3): fewer wake-ups, a denser ring, up to 1 ms of added latency on light traffic.</summary>
    Block,
}

public enum CaptureBackend
{
    /// <summary>libpcap in immediate mode: one wake-up per frame, lowest latency.</summary>
    Pcap,

    /// <summary>AF_PACKET memory-mapped rings with fanout: highest throughput.</summary>
    Ring,
}

public enum TransportProtocol
{
    Tcp,
    Udp,
}

public enum SchedulerKind
{
    RoundRobin,
    WeightedRoundRobin,
    LeastConnection,
    WeightedLeastConnection,
    SourceHash,
    MaglevHash,
}

/// <summary>What happens to a server's existing clients when its health check marks it down.</summary>
public enum OnDownAction
{
    /// <summary>No new clients; existing connections and persistence entries stay until they expire (LVS default).</summary>
    Quiesce,

    /// <summary>No new clients and persistence entries are dropped, so clients move at their next connection.</summary>
    QuiesceExpire,

    /// <summary>Existing connections and persistence entries are dropped at once (HAProxy on-marked-down shutdown-sessions).</summary>
    ShutdownSessions,
}

public enum HealthCheckKind
{
    /// <summary>No probing: members are always considered up.</summary>
    None,
    Tcp,
    SendExpect,
    Http,
    Https,
    Smtp,
    Exec,
}
