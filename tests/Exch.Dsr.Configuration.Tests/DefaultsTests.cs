using System.Net;
using System.Net.NetworkInformation;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Configuration.Tests;

public sealed class DefaultsTests
{
    [Test]
    public void Minimal_file_gets_every_default()
    {
        var config = TestConfigs.Valid("""
            [[server]]
            name = "CAS1"
            address = "10.0.0.11"

            [[service]]
            name = "owa"
            vip = "10.0.0.10"
            ports = [443]
            """);

        Assert.That(config.Appliance, Is.EqualTo(new ApplianceConfig()));
        Assert.That(config.Appliance.Interface, Is.EqualTo("eth0"));
        Assert.That(config.Appliance.Backend, Is.EqualTo(CaptureBackend.Pcap));
        Assert.That(config.Appliance.OwnVips, Is.False);
        Assert.That(config.Appliance.Mac, Is.Null);
        Assert.That(config.Appliance.Threads, Is.Zero);
        Assert.That(config.Appliance.Connections, Is.EqualTo(1_048_576));

        Assert.That(config.Control.Socket, Is.EqualTo("/run/exch-dsr/control.sock"));
        Assert.That(config.Control.SocketGroup, Is.Null);
        Assert.That(config.Control.Http, Is.EqualTo(new IPEndPoint(IPAddress.Loopback, 8405)));
        Assert.That(config.Control.AdminUser, Is.EqualTo("admin"));
        Assert.That(config.Control.AdminPasswordFile, Is.Null);
        Assert.That((config.Control.HttpCertificate, config.Control.HttpCertificateKey), Is.EqualTo(((string?)null, (string?)null)), "plain HTTP unless a certificate is given");

        var server = config.Servers.Single();
        Assert.That(server.Name, Is.EqualTo("CAS1"));
        Assert.That(server.Address, Is.EqualTo(IPAddress.Parse("10.0.0.11")));
        Assert.That(server.Mac, Is.Null);
        Assert.That(server.Weight, Is.EqualTo(1));

        var service = config.Services.Single();
        Assert.That(service.Name, Is.EqualTo("owa"));
        Assert.That(service.Vip, Is.EqualTo(IPAddress.Parse("10.0.0.10")));
        Assert.That(service.Protocol, Is.EqualTo(TransportProtocol.Tcp));
        Assert.That(service.Ports, Is.EqualTo(new[] { 443 }));
        Assert.That(service.Scheduler, Is.EqualTo(SchedulerKind.WeightedLeastConnection));
        Assert.That(service.Persistence, Is.Null);
        Assert.That(service.Members, Is.EqualTo(new[] { new ServiceMember(server, 1) }));
        Assert.That(service.OnDown, Is.EqualTo(OnDownAction.Quiesce));
        Assert.That(service.Sloppy, Is.False);
        Assert.That(service.SorryServer, Is.Null);
        Assert.That(service.Timeouts, Is.EqualTo(new ConnectionTimeouts()));
        Assert.That(service.Timeouts.TcpEstablished, Is.EqualTo(TimeSpan.FromSeconds(900)));
        Assert.That(service.Timeouts.TcpSyn, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(service.Timeouts.TcpFinWait, Is.EqualTo(TimeSpan.FromSeconds(120)));
        Assert.That(service.Timeouts.TcpClose, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That(service.Timeouts.Udp, Is.EqualTo(TimeSpan.FromSeconds(300)));

        // A TCP service without [service.check] gets a TCP connect check on its first port, HAProxy's plain `check`.
        Assert.That(service.Check, Is.EqualTo(new HealthCheckConfig
        {
            Kind = HealthCheckKind.Tcp,
            Port = 443,
            Interval = TimeSpan.FromSeconds(2),
            Timeout = TimeSpan.FromSeconds(1),
            Rise = 2,
            Fall = 3,
            DsrProbe = true,
        }));
    }

    [Test]
    public void Udp_service_without_check_section_is_not_probed()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[service]]
            name = "dns"
            vip = "10.0.0.53"
            protocol = "udp"
            ports = [53]
            """);

        Assert.That(config.Services[0].Check.Kind, Is.EqualTo(HealthCheckKind.None));
        Assert.That(config.Services[0].Protocol, Is.EqualTo(TransportProtocol.Udp));
    }

    [Test]
    public void Every_key_is_read_into_the_model()
    {
        var config = TestConfigs.Valid("""
            [appliance]
            interface = "eth1"
            backend = "pcap"
            own-vips = true
            mac = "00-15-5D-01-02-03"
            threads = 2
            connections = 4000000

            [control]
            socket = "/run/x.sock"
            socket-group = "exchadmins"
            http = "0.0.0.0:9000"
            admin-user = "ops"
            admin-password-file = "/etc/exch-dsr/admin.password"
            http-certificate = "/etc/exch-dsr/status.pem"
            http-certificate-key = "/etc/exch-dsr/status.key"

            [[server]]
            name = "CAS1"
            address = "10.0.0.11"
            mac = "00:15:5d:0a:0b:0c"

            [[server]]
            name = "CAS2"
            address = "10.0.0.12"

            [[server]]
            name = "SORRY"
            address = "10.0.0.99"

            [[service]]
            name = "outlook"
            vip = "10.0.0.10"
            protocol = "tcp"
            ports = [135, 7575, 7576]
            scheduler = "rr"
            persistence = "300s"
            persistence-netmask = "255.255.255.0"
            persistence-table-size = 5000
            members = ["CAS1", { server = "CAS2", weight = 2 }]
            on-down = "shutdown-sessions"
            sloppy = true
            sorry-server = "SORRY"

            [service.timeouts]
            tcp-established = "1h"
            tcp-syn = "30s"
            tcp-fin-wait = "1m"
            tcp-close = "5s"
            udp = "500ms"

            [service.check]
            kind = "https"
            port = 444
            path = "/owa/healthcheck.htm"
            host = "mail.example.com"
            status = 200
            expect = "200 OK"
            interval = "5s"
            timeout = "2s"
            rise = 1
            fall = 4
            dsr-probe = false
            """);

        Assert.That(config.Appliance, Is.EqualTo(new ApplianceConfig
        {
            Interface = "eth1",
            Backend = CaptureBackend.Pcap,
            OwnVips = true,
            Mac = PhysicalAddress.Parse("00-15-5D-01-02-03"),
            Threads = 2,
            Connections = 4_000_000,
        }));
        Assert.That(config.Control, Is.EqualTo(new ControlConfig
        {
            Socket = "/run/x.sock",
            SocketGroup = "exchadmins",
            Http = new IPEndPoint(IPAddress.Any, 9000),
            AdminUser = "ops",
            AdminPasswordFile = "/etc/exch-dsr/admin.password",
            HttpCertificate = "/etc/exch-dsr/status.pem",
            HttpCertificateKey = "/etc/exch-dsr/status.key",
        }));
        Assert.That(config.Servers[0].Mac, Is.EqualTo(PhysicalAddress.Parse("00-15-5D-0A-0B-0C")));

        var service = config.Services.Single();
        Assert.That(service.Ports, Is.EqualTo(new[] { 135, 7575, 7576 }));
        Assert.That(service.Scheduler, Is.EqualTo(SchedulerKind.RoundRobin));
        Assert.That(service.Persistence, Is.EqualTo(new PersistenceConfig { Timeout = TimeSpan.FromSeconds(300), PrefixLength = 24, TableSize = 5000 }));
        Assert.That(service.Members.Select(m => (m.Server.Name, m.Weight)), Is.EqualTo(new[] { ("CAS1", 1), ("CAS2", 2) }));
        Assert.That(service.OnDown, Is.EqualTo(OnDownAction.ShutdownSessions));
        Assert.That(service.Sloppy, Is.True);
        Assert.That(service.SorryServer?.Name, Is.EqualTo("SORRY"));
        Assert.That(service.Timeouts, Is.EqualTo(new ConnectionTimeouts
        {
            TcpEstablished = TimeSpan.FromHours(1),
            TcpSyn = TimeSpan.FromSeconds(30),
            TcpFinWait = TimeSpan.FromMinutes(1),
            TcpClose = TimeSpan.FromSeconds(5),
            Udp = TimeSpan.FromMilliseconds(500),
        }));
        Assert.That(service.Check, Is.EqualTo(new HealthCheckConfig
        {
            Kind = HealthCheckKind.Https,
            Port = 444,
            Path = "/owa/healthcheck.htm",
            Host = "mail.example.com",
            Status = 200,
            Expect = "200 OK",
            Interval = TimeSpan.FromSeconds(5),
            Timeout = TimeSpan.FromSeconds(2),
            Rise = 1,
            Fall = 4,
            DsrProbe = false,
        }));
    }

    [Test]
    public void Members_default_to_every_server_of_the_vip_family_with_their_own_weights()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[server]]
            name = "CAS6"
            address = "2001:db8::16"

            [[service]]
            name = "owa4"
            vip = "10.0.0.10"
            ports = [443]

            [[service]]
            name = "owa6"
            vip = "2001:db8::10"
            ports = [443]
            """);

        Assert.That(config.Services[0].Members.Select(m => (m.Server.Name, m.Weight)), Is.EqualTo(new[] { ("CAS1", 1), ("CAS2", 3) }));
        Assert.That(config.Services[1].Members.Select(m => (m.Server.Name, m.Weight)), Is.EqualTo(new[] { ("CAS6", 1) }));
        Assert.That(config.Services[1].Persistence, Is.Null);
    }

    [Test]
    public void Member_weight_overrides_the_server_weight_only_in_that_service()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[service]]
            name = "a"
            vip = "10.0.0.10"
            ports = [443]
            members = [{ server = "CAS2", weight = 0 }, "CAS1"]

            [[service]]
            name = "b"
            vip = "10.0.0.10"
            ports = [80]
            members = ["CAS2"]
            """);

        Assert.That(config.Services[0].Members.Select(m => (m.Server.Name, m.Weight)), Is.EqualTo(new[] { ("CAS2", 0), ("CAS1", 1) }));
        Assert.That(config.Services[1].Members.Select(m => (m.Server.Name, m.Weight)), Is.EqualTo(new[] { ("CAS2", 3) }));
        Assert.That(config.Services[0].Members[0].Server, Is.SameAs(config.Servers[1]), "members refer to the server records");
    }

    [Test]
    public void Persistence_netmask_defaults_to_one_address_of_the_vip_family()
    {
        var config = TestConfigs.Valid("""
            [[server]]
            name = "A"
            address = "10.0.0.11"
            [[server]]
            name = "B"
            address = "2001:db8::11"
            [[service]]
            name = "v4"
            vip = "10.0.0.10"
            ports = [443]
            persistence = "4h"
            [[service]]
            name = "v6"
            vip = "2001:db8::10"
            ports = [443]
            persistence = "15m"
            """);

        Assert.That(config.Services[0].Persistence, Is.EqualTo(new PersistenceConfig { Timeout = TimeSpan.FromHours(4), PrefixLength = 32 }));
        Assert.That(config.Services[1].Persistence, Is.EqualTo(new PersistenceConfig { Timeout = TimeSpan.FromMinutes(15), PrefixLength = 128 }));
        Assert.That(config.Services[0].Persistence!.TableSize, Is.EqualTo(1_000_000));
    }

    [Test]
    public void Persistence_none_and_http_off_are_accepted()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [control]
            http = "off"

            [[service]]
            name = "smtp"
            vip = "10.0.0.10"
            ports = [25]
            persistence = "none"
            """);

        Assert.That(config.Services[0].Persistence, Is.Null);
        Assert.That(config.Control.Http, Is.Null);
    }

    [TestCase("tcp", HealthCheckKind.Tcp)]
    [TestCase("smtp", HealthCheckKind.Smtp)]
    public void Check_port_defaults_to_the_first_service_port(string kind, HealthCheckKind expected)
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + $$"""
            [[service]]
            name = "x"
            vip = "10.0.0.10"
            ports = [25, 587]
            [service.check]
            kind = "{{kind}}"
            """);

        Assert.That(config.Services[0].Check.Kind, Is.EqualTo(expected));
        Assert.That(config.Services[0].Check.Port, Is.EqualTo(25));
        Assert.That(config.Services[0].Check.DsrProbe, Is.True);
    }

    [Test]
    public void Exec_check_is_not_a_dsr_probe_by_default()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[service]]
            name = "x"
            vip = "10.0.0.10"
            ports = [443]
            [service.check]
            kind = "exec"
            program = "/usr/local/bin/check-owa %h %p"
            """);

        Assert.That(config.Services[0].Check.Program, Is.EqualTo("/usr/local/bin/check-owa %h %p"));
        Assert.That(config.Services[0].Check.DsrProbe, Is.False);
    }

    [Test]
    public void Exec_check_takes_an_expect_matched_on_its_output()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[service]]
            name = "x"
            vip = "10.0.0.10"
            ports = [443]
            [service.check]
            kind = "exec"
            program = "/usr/local/bin/check-owa %h %p"
            expect = "OK"
            """);

        Assert.That(config.Services[0].Check.Expect, Is.EqualTo("OK"));
        Assert.That(config.Services[0].Check.Kind, Is.EqualTo(HealthCheckKind.Exec));
    }

    [TestCase("tcp", "")]
    [TestCase("https", "path = \"/owa\"")]
    [TestCase("send-expect", "expect = \"\"")]
    public void Dsr_probe_can_be_turned_off_per_check(string kind, string more)
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + $$"""
            [[service]]
            name = "x"
            vip = "10.0.0.10"
            ports = [443]
            [service.check]
            kind = "{{kind}}"
            {{more}}
            dsr-probe = false
            """);

        Assert.That(config.Services[0].Check.DsrProbe, Is.False);
    }

    [Test]
    public void Send_expect_accepts_an_explicitly_empty_expect()
    {
        var config = TestConfigs.Valid(TestConfigs.Servers + """
            [[service]]
            name = "x"
            vip = "10.0.0.10"
            ports = [135]
            [service.check]
            kind = "send-expect"
            send = "PING\r\n"
            expect = ""
            """);

        Assert.That(config.Services[0].Check.Send, Is.EqualTo("PING\r\n"));
        Assert.That(config.Services[0].Check.Expect, Is.Empty);
    }
}
