namespace Exch.Dsr.Configuration.Tests;

/// <summary>
/// One test per rule, each asserting the whole "file:line:column: message" line, so a wrong position fails as
/// surely as a wrong message. <see cref="WithService"/> puts its first extra line on line 13.
/// </summary>
public sealed class ValidationTests
{
    /// <summary>Lines 1-8: servers CAS1 and CAS2; 9-12: service 'owa' on 10.0.0.10:443; then <paramref name="extra"/>.</summary>
    private static string WithService(string extra) => TestConfigs.Servers + """
        [[service]]
        name = "owa"
        vip = "10.0.0.10"
        ports = [443]

        """ + extra;

    private static void AssertOnly(string toml, string expected)
        => Assert.That(TestConfigs.Errors(toml), Is.EqualTo(new[] { expected }));

    [Test]
    public void Unknown_scheduler_lists_the_allowed_ones_at_the_value()
        => AssertOnly(WithService("scheduler = \"rrr\""), "test.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh");

    [Test]
    public void Misspelt_key_gets_a_did_you_mean_at_the_key()
        => AssertOnly(
            WithService("  schedular = \"rr\""),
            "test.toml:13:3: unknown key 'schedular' in [[service]] 'owa'; did you mean 'scheduler'?");

    [Test]
    public void Key_in_the_wrong_case_is_unknown_with_the_right_spelling_suggested()
        => AssertOnly(WithService("Scheduler = \"rr\""), "test.toml:13:1: unknown key 'Scheduler' in [[service]] 'owa'; did you mean 'scheduler'?");

    [Test]
    public void Unknown_key_with_no_near_miss_lists_the_allowed_keys()
    {
        var error = TestConfigs.Errors(WithService("frobnicate = 1")).Single();
        Assert.That(error, Does.StartWith("test.toml:13:1: unknown key 'frobnicate' in [[service]] 'owa'; allowed keys: name, vip, protocol, ports, scheduler,"));
    }

    [Test]
    public void Unknown_keys_are_found_in_every_table()
    {
        var errors = TestConfigs.Errors("""
            colour = "blue"
            [appliance]
            interfce = "eth1"
            [control]
            sockett = "/x"
            [[server]]
            name = "CAS1"
            adress = "10.0.0.11"
            """);

        // Sorted by position; document-wide errors sit at 1:1.
        Assert.That(errors, Is.EqualTo(new[]
        {
            "test.toml:1:1: unknown key 'colour' in the file's top level; allowed keys: appliance, control, server, service",
            "test.toml:1:1: no [[service]] is defined: add at least one, e.g. [[service]] name = \"owa\" vip = \"10.0.0.10\" ports = [443]",
            "test.toml:3:1: unknown key 'interfce' in [appliance]; did you mean 'interface'?",
            "test.toml:5:1: unknown key 'sockett' in [control]; did you mean 'socket'?",
            "test.toml:6:1: [[server]] 'CAS1' has no address; add e.g. address = \"10.0.0.11\"",
            "test.toml:8:1: unknown key 'adress' in [[server]] 'CAS1'; did you mean 'address'?",
        }));
    }

    [Test]
    public void Unknown_keys_in_timeouts_check_and_member_tables()
    {
        var errors = TestConfigs.Errors(WithService("""
            members = [{ server = "CAS1", wieght = 2 }]
            [service.timeouts]
            tcp-establish = "1h"
            [service.check]
            intervall = "2s"
            """));

        Assert.That(errors, Is.EqualTo(new[]
        {
            "test.toml:13:31: unknown key 'wieght' in a member of [[service]] 'owa'; did you mean 'weight'?",
            "test.toml:15:1: unknown key 'tcp-establish' in [service.timeouts] of [[service]] 'owa'; did you mean 'tcp-established'?",
            "test.toml:17:1: unknown key 'intervall' in [service.check] of [[service]] 'owa'; did you mean 'interval'?",
        }));
    }

    [Test]
    public void String_where_a_number_is_expected_is_a_type_error_at_the_value()
        => AssertOnly(
            WithService("[service.check]\nrise = \"x\""),
            "test.toml:14:8: rise must be a whole number, e.g. rise = 2, not the string \"x\"");

    [Test]
    public void Quoted_number_is_still_a_type_error()
        => AssertOnly(WithService("[service.check]\nfall = \"3\""), "test.toml:14:8: fall must be a whole number, e.g. fall = 3, not the string \"3\"");

    [Test]
    public void Number_where_a_string_is_expected_is_a_type_error()
        => AssertOnly(WithService("scheduler = 5"), "test.toml:13:13: scheduler must be a string in quotes, e.g. scheduler = \"rr\", not the number 5");

    [Test]
    public void Boolean_in_quotes_is_a_type_error()
        => AssertOnly(WithService("sloppy = \"yes\""), "test.toml:13:10: sloppy must be true or false (no quotes), e.g. sloppy = true, not the string \"yes\"");

    [Test]
    public void Ports_must_be_a_list()
        => AssertOnly(
            TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = 443\n",
            "test.toml:12:9: ports must be a list, e.g. ports = [443], not the number 443");

    [TestCase("0", 10)]
    [TestCase("65536", 10)]
    [TestCase("-1", 10)]
    public void Port_out_of_range_is_reported_at_the_element(string port, int column)
        => AssertOnly(
            TestConfigs.Servers + $"[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [{port}]\n",
            $"test.toml:12:{column}: port {port} is out of range: allowed 1 to 65535");

    [Test]
    public void Quoted_port_is_refused()
        => AssertOnly(
            TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [135, \"7575\"]\n",
            "test.toml:12:15: a port must be a whole number 1 to 65535 without quotes, e.g. ports = [443], not '7575'");

    [Test]
    public void Same_port_twice_in_one_service()
        => AssertOnly(
            TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443, 80, 443]\n",
            "test.toml:12:19: port 443 is listed twice in [[service]] 'owa'");

    [Test]
    public void Same_vip_protocol_and_port_in_two_services()
        => AssertOnly(
            WithService("[[service]]\nname = \"owa2\"\nvip = \"10.0.0.10\"\nports = [80, 443]\n"),
            "test.toml:16:14: port 443/tcp on vip 10.0.0.10 is already served by service 'owa' (line 12); each VIP, protocol and port belongs to one service");

    [Test]
    public void Same_port_on_another_protocol_or_vip_is_fine()
        => TestConfigs.Valid(WithService("""
            [[service]]
            name = "owa-udp"
            vip = "10.0.0.10"
            protocol = "udp"
            ports = [443]
            [[service]]
            name = "owa-other-vip"
            vip = "10.0.0.20"
            ports = [443]
            """));

    [Test]
    public void Duplicate_service_names_ignoring_case()
        => AssertOnly(
            WithService("[[service]]\nname = \"OWA\"\nvip = \"10.0.0.20\"\nports = [443]\n"),
            "test.toml:14:8: [[service]] name 'OWA' is already used (line 10); names must be unique");

    [Test]
    public void Duplicate_server_names()
        => AssertOnly(
            TestConfigs.Servers + "[[server]]\nname = \"CAS1\"\naddress = \"10.0.0.13\"\n" + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\n",
            "test.toml:10:8: [[server]] name 'CAS1' is already used (line 2); names must be unique");

    [Test]
    public void Duplicate_server_addresses()
        => AssertOnly(
            TestConfigs.Servers + "[[server]]\nname = \"CAS3\"\naddress = \"10.0.0.12\"\n" + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\n",
            "test.toml:11:11: address 10.0.0.12 is already used by server 'CAS2' (line 7)");

    [Test]
    public void Server_name_with_a_space_is_refused()
        => AssertOnly(
            "[[server]]\nname = \"CAS 1\"\naddress = \"10.0.0.11\"\n[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\n",
            "test.toml:2:8: name 'CAS 1' may use only letters, digits, '.', '_' and '-' (1 to 64 characters), e.g. \"CAS1\"");

    [Test]
    public void Unknown_member_lists_the_defined_servers()
        => AssertOnly(WithService("members = [\"CAS1\", \"CAS3\"]"), "test.toml:13:20: members names server 'CAS3', which no [[server]] defines; defined servers: CAS1, CAS2");

    [Test]
    public void Member_in_the_wrong_case_gets_the_right_name()
        => AssertOnly(WithService("members = [\"cas1\"]"), "test.toml:13:12: members names server 'cas1', which no [[server]] defines; did you mean 'CAS1'? (names are case-sensitive)");

    [Test]
    public void Unknown_member_in_table_form_points_at_its_server_value()
        => AssertOnly(WithService("members = [{ server = \"CAS9\", weight = 2 }]"), "test.toml:13:23: members names server 'CAS9', which no [[server]] defines; defined servers: CAS1, CAS2");

    [Test]
    public void Member_listed_twice()
        => AssertOnly(WithService("members = [\"CAS1\", { server = \"CAS1\" }]"), "test.toml:13:31: server 'CAS1' is listed twice in members of [[service]] 'owa'");

    [Test]
    public void Member_weight_out_of_range()
        => AssertOnly(WithService("members = [{ server = \"CAS1\", weight = 70000 }]"), "test.toml:13:40: weight 70000 is out of range: allowed 0 to 65535");

    [Test]
    public void Member_table_without_server()
        => AssertOnly(WithService("members = [{ weight = 2 }]"), "test.toml:13:12: a member written as a table needs server, e.g. { server = \"CAS2\", weight = 2 }");

    [Test]
    public void Unknown_sorry_server()
        => AssertOnly(WithService("sorry-server = \"SORRY\""), "test.toml:13:16: sorry-server names server 'SORRY', which no [[server]] defines; defined servers: CAS1, CAS2");

    [Test]
    public void Sorry_server_that_is_also_a_member()
        => AssertOnly(
            WithService("members = [\"CAS1\"]\nsorry-server = \"CAS1\""),
            "test.toml:14:16: sorry-server 'CAS1' is also a member; the sorry server only takes clients while every member is down, so it must not be one");

    [Test]
    public void Sorry_server_of_the_other_address_family()
        => AssertOnly(
            TestConfigs.Servers + "[[server]]\nname = \"SORRY6\"\naddress = \"2001:db8::99\"\n[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\nsorry-server = \"SORRY6\"\n",
            "test.toml:16:16: server 'SORRY6' has IPv6 address 2001:db8::99 but the vip 10.0.0.10 is IPv4; DSR forwards packets unchanged, so a server needs an address of the VIP's family");

    [Test]
    public void Check_kind_none_takes_no_other_key()
        => AssertOnly(
            WithService("[service.check]\nkind = \"none\"\ninterval = \"5s\""),
            "test.toml:15:1: 'interval' does nothing for a 'none' check; it is used by kind tcp, send-expect, http, https, smtp, exec");

    [Test]
    public void Empty_members_list()
        => AssertOnly(
            WithService("members = []"),
            "test.toml:13:11: [[service]] 'owa' has no members: list servers, e.g. members = [\"CAS1\", \"CAS2\"], or leave members out to use every server of the vip's address family");

    [Test]
    public void No_server_of_the_vip_family_means_no_members()
        => AssertOnly(
            TestConfigs.Servers + "[[service]]\nname = \"owa6\"\nvip = \"2001:db8::10\"\nports = [443]\n",
            "test.toml:9:1: [[service]] 'owa6' has no members: no [[server]] has an IPv6 address like its vip 2001:db8::10; add one, or list members");

    [Test]
    public void Member_of_the_other_address_family()
        => AssertOnly(
            TestConfigs.Servers + "[[server]]\nname = \"CAS6\"\naddress = \"2001:db8::16\"\n[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\nmembers = [\"CAS1\", \"CAS6\"]\n",
            "test.toml:16:20: server 'CAS6' has IPv6 address 2001:db8::16 but the vip 10.0.0.10 is IPv4; DSR forwards packets unchanged, so a server needs an address of the VIP's family");

    [Test]
    public void Non_contiguous_netmask()
        => AssertOnly(
            WithService("persistence = \"300s\"\npersistence-netmask = \"255.0.255.0\""),
            "test.toml:14:23: persistence-netmask '255.0.255.0' is not contiguous: its one bits must all come before its zero bits (e.g. 255.255.255.0 = /24)");

    [TestCase("33")]
    [TestCase("\"/33\"")]
    public void Prefix_too_long_for_ipv4(string netmask)
        => AssertOnly(
            WithService($"persistence = \"300s\"\npersistence-netmask = {netmask}"),
            "test.toml:14:23: persistence-netmask /33 is too long for an IPv4 vip: a prefix length is 0 to 32");

    [Test]
    public void Prefix_too_long_for_ipv6_and_dotted_mask_on_ipv6()
    {
        var errors = TestConfigs.Errors("""
            [[server]]
            name = "CAS6"
            address = "2001:db8::16"
            [[service]]
            name = "a"
            vip = "2001:db8::10"
            ports = [443]
            persistence = "300s"
            persistence-netmask = 129
            [[service]]
            name = "b"
            vip = "2001:db8::10"
            ports = [80]
            persistence = "300s"
            persistence-netmask = "255.255.255.0"
            """);

        Assert.That(errors, Is.EqualTo(new[]
        {
            "test.toml:9:23: persistence-netmask /129 is too long for an IPv6 vip: a prefix length is 0 to 128",
            "test.toml:15:23: persistence-netmask '255.255.255.0' is an IPv4 mask but the vip is IPv6: use a prefix length 0 to 128",
        }));
    }

    [Test]
    public void Netmask_without_persistence_does_nothing_and_says_so()
        => AssertOnly(
            WithService("persistence-netmask = 24"),
            "test.toml:13:1: persistence-netmask has no effect without persistence; set persistence = \"300s\" or remove it");

    [Test]
    public void Duration_without_unit_as_a_number()
        => AssertOnly(WithService("persistence = 300"), "test.toml:13:15: persistence: duration '300' needs a unit: ms, s, m, h or d (write persistence = \"300s\")");

    [Test]
    public void Duration_without_unit_as_a_string()
        => AssertOnly(WithService("[service.timeouts]\ntcp-established = \"900\""), "test.toml:14:19: tcp-established: duration '900' needs a unit: ms, s, m, h or d (e.g. \"900s\")");

    [Test]
    public void Duration_with_a_fraction_or_unknown_unit()
    {
        var errors = TestConfigs.Errors(WithService("persistence = \"1.5h\"\n[service.timeouts]\nudp = \"5min\""));
        Assert.That(errors, Has.Count.EqualTo(2));
        Assert.That(errors[0], Does.StartWith("test.toml:13:15: persistence: duration '1.5h' is not a whole number followed by ms, s, m, h or d"));
        Assert.That(errors[1], Does.StartWith("test.toml:15:7: udp: duration '5min' is not a whole number followed by ms, s, m, h or d"));
    }

    [Test]
    public void Zero_duration_is_refused()
        => AssertOnly(WithService("[service.check]\ninterval = \"0s\""), "test.toml:14:12: interval must be longer than zero");

    [Test]
    public void Http_check_needs_a_path()
        => AssertOnly(
            WithService("[service.check]\nkind = \"https\""),
            "test.toml:13:1: an https check needs path, the URL path to request, e.g. path = \"/owa/healthcheck.htm\" ([service.check] of [[service]] 'owa')");

    [Test]
    public void Http_path_must_start_with_a_slash()
        => AssertOnly(
            WithService("[service.check]\nkind = \"http\"\npath = \"owa\""),
            "test.toml:15:8: path 'owa' must start with '/' and contain no spaces, e.g. \"/owa/healthcheck.htm\"");

    [Test]
    public void Exec_check_needs_a_program()
        => AssertOnly(
            WithService("[service.check]\nkind = \"exec\""),
            "test.toml:13:1: an exec check needs program, the command to run (exit 0 = up), e.g. program = \"/usr/local/bin/check-owa %h %p\" ([service.check] of [[service]] 'owa')");

    [Test]
    public void Send_expect_check_needs_expect_written_even_if_empty()
        => AssertOnly(
            WithService("[service.check]\nkind = \"send-expect\"\nsend = \"HELLO\""),
            "test.toml:13:1: a send-expect check needs expect, the text the reply must contain (expect = \"\" accepts any reply) ([service.check] of [[service]] 'owa')");

    [Test]
    public void Key_of_another_check_kind_is_reported()
        => AssertOnly(
            WithService("[service.check]\nkind = \"tcp\"\npath = \"/owa\""),
            "test.toml:15:1: 'path' does nothing for a 'tcp' check; it is used by kind http, https");

    [Test]
    public void Dsr_probe_is_refused_on_an_exec_check()
        => AssertOnly(
            WithService("[service.check]\nkind = \"exec\"\nprogram = \"/bin/true\"\ndsr-probe = true"),
            "test.toml:16:1: 'dsr-probe' does nothing for a 'exec' check; it is used by kind tcp, send-expect, http, https, smtp");

    [Test]
    public void Expect_is_refused_on_a_tcp_check()
        => AssertOnly(
            WithService("[service.check]\nkind = \"tcp\"\nexpect = \"OK\""),
            "test.toml:15:1: 'expect' does nothing for a 'tcp' check; it is used by kind send-expect, http, https, smtp, exec");

    [Test]
    public void Unknown_check_kind()
        => AssertOnly(WithService("[service.check]\nkind = \"ping\""), "test.toml:14:8: kind 'ping' is not one of none, tcp, send-expect, http, https, smtp, exec");

    [TestCase("rise", "0", 8)]
    [TestCase("fall", "0", 8)]
    [TestCase("rise", "101", 8)]
    public void Rise_and_fall_must_be_at_least_one(string key, string value, int column)
        => AssertOnly(WithService($"[service.check]\n{key} = {value}"), $"test.toml:14:{column}: {key} {value} is out of range: allowed 1 to 100");

    [TestCase("\"2s\"", "2s")]
    [TestCase("\"3s\"", "3s")]
    public void Check_timeout_must_be_shorter_than_interval(string timeout, string shown)
        => AssertOnly(
            WithService($"[service.check]\ninterval = \"2s\"\ntimeout = {timeout}"),
            $"test.toml:15:11: check timeout {shown} must be shorter than its interval 2s, or probes overlap");

    [Test]
    public void Check_timeout_against_the_default_interval()
        => AssertOnly(WithService("[service.check]\ntimeout = \"5s\""), "test.toml:14:11: check timeout 5s must be shorter than its interval 2s, or probes overlap");

    [Test]
    public void Check_port_out_of_range()
        => AssertOnly(WithService("[service.check]\nport = 0"), "test.toml:14:8: port 0 is out of range: allowed 1 to 65535");

    [Test]
    public void No_servers_and_no_services()
        => Assert.That(TestConfigs.Errors("[appliance]\ninterface = \"eth1\"\n"), Is.EqualTo(new[]
        {
            "test.toml:1:1: no [[server]] is defined: add at least one real server, e.g. [[server]] name = \"CAS1\" address = \"10.0.0.11\"",
            "test.toml:1:1: no [[service]] is defined: add at least one, e.g. [[service]] name = \"owa\" vip = \"10.0.0.10\" ports = [443]",
        }));

    [Test]
    public void Single_bracket_service_is_explained()
        => AssertOnly(
            TestConfigs.Servers + "[service]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\n",
            "test.toml:9:1: service must be written [[service]] (double brackets), one block per service");

    [Test]
    public void Service_without_vip_or_ports_or_name()
        => Assert.That(TestConfigs.Errors(TestConfigs.Servers + "[[service]]\nscheduler = \"rr\"\n"), Is.EqualTo(new[]
        {
            "test.toml:9:1: [[service]] has no name; add e.g. name = \"owa\"",
            "test.toml:9:1: [[service]] at line 9 has no vip; add e.g. vip = \"10.0.0.10\"",
            "test.toml:9:1: [[service]] at line 9 has no ports; add e.g. ports = [443]",
        }));

    [TestCase("10.1", 7)]
    [TestCase("10.0.0.300", 7)]
    [TestCase("cas1.example.com", 7)]
    public void Vip_that_is_not_an_address(string vip, int column)
        => AssertOnly(
            TestConfigs.Servers + $"[[service]]\nname = \"owa\"\nvip = \"{vip}\"\nports = [443]\n",
            $"test.toml:11:{column}: vip '{vip}' is not an IPv4 or IPv6 address (e.g. \"10.0.0.10\" or \"2001:db8::10\")");

    [TestCase("127.0.0.1")]
    [TestCase("224.0.0.5")]
    [TestCase("0.0.0.0")]
    [TestCase("::1")]
    public void Vip_that_no_client_could_reach(string vip)
        => AssertOnly(
            TestConfigs.Servers + $"[[service]]\nname = \"owa\"\nvip = \"{vip}\"\nports = [443]\n",
            $"test.toml:11:7: vip {vip} is not a unicast address a client could reach (loopback, multicast, broadcast and 0.0.0.0 are refused)");

    [Test]
    public void Vip_that_is_a_server_address()
        => AssertOnly(
            TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.11\"\nports = [443]\n",
            "test.toml:11:7: vip 10.0.0.11 is also the address of server 'CAS1'; a VIP is an address of its own");

    [TestCase("00:15:5d:01:02", "mac '00:15:5d:01:02' is not \"auto\" or a MAC address like \"00:15:5d:01:02:03\" (\"00-15-5D-01-02-03\" as Windows shows it also works)")]
    [TestCase("00:15-5d:01:02:03", "mac '00:15-5d:01:02:03' is not \"auto\" or a MAC address like \"00:15:5d:01:02:03\" (\"00-15-5D-01-02-03\" as Windows shows it also works)")]
    [TestCase("01:00:5e:00:00:01", "mac '01:00:5e:00:00:01' of [[server]] 'CAS1' is not a unicast MAC address (the first byte must be even and the address not all zeros)")]
    [TestCase("00:00:00:00:00:00", "mac '00:00:00:00:00:00' of [[server]] 'CAS1' is not a unicast MAC address (the first byte must be even and the address not all zeros)")]
    public void Bad_server_mac(string mac, string message)
        => AssertOnly(
            $"[[server]]\nname = \"CAS1\"\naddress = \"10.0.0.11\"\nmac = \"{mac}\"\n[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\nmembers = [\"CAS1\"]\n",
            $"test.toml:4:7: {message}");

    [Test]
    public void Server_weight_out_of_range()
        => AssertOnly(
            "[[server]]\nname = \"CAS1\"\naddress = \"10.0.0.11\"\nweight = 65536\n[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\nmembers = [\"CAS1\"]\n",
            "test.toml:4:10: weight 65536 is out of range: allowed 0 to 65535");

    [Test]
    public void Network_reachable_http_needs_a_password_file()
        => AssertOnly(
            WithService("[control]\nhttp = \"0.0.0.0:8405\""),
            "test.toml:14:8: http 0.0.0.0:8405 is reachable from the network but no admin-password-file is set; set one, or listen on 127.0.0.1");

    [TestCase("8405")]
    [TestCase("localhost:8405")]
    [TestCase("127.0.0.1")]
    public void Http_must_be_address_and_port(string http)
        => AssertOnly(
            WithService($"[control]\nhttp = \"{http}\""),
            $"test.toml:14:8: http '{http}' is not address:port (e.g. \"127.0.0.1:8405\" or \"[::1]:8405\") or \"off\"");

    [Test]
    public void Relative_paths_in_control_are_refused()
        => Assert.That(TestConfigs.Errors(WithService("[control]\nsocket = \"control.sock\"\nadmin-password-file = \"admin.txt\"")), Is.EqualTo(new[]
        {
            "test.toml:14:10: socket 'control.sock' must be an absolute path, e.g. \"/run/exch-dsr/control.sock\"",
            "test.toml:15:23: admin-password-file 'admin.txt' must be an absolute path, e.g. \"/etc/exch-dsr/admin.password\"",
        }));

    [Test]
    public void Relative_certificate_paths_are_refused()
        => Assert.That(TestConfigs.Errors(WithService("[control]\nhttp-certificate = \"status.pem\"\nhttp-certificate-key = \"status.key\"")), Is.EqualTo(new[]
        {
            "test.toml:14:20: http-certificate 'status.pem' must be an absolute path, e.g. \"/etc/exch-dsr/status.pem\"",
            "test.toml:15:24: http-certificate-key 'status.key' must be an absolute path, e.g. \"/etc/exch-dsr/status.key\"",
        }));

    [Test]
    public void A_certificate_key_needs_the_certificate()
        => AssertOnly(
            WithService("[control]\nhttp-certificate-key = \"/etc/exch-dsr/status.key\""),
            "test.toml:14:1: http-certificate-key is set but http-certificate is not; set both (or only http-certificate when its file holds the key too)");

    [TestCase("\"Ethernet 2\"")]
    [TestCase("\"averyveryverylongname\"")]
    public void Interface_must_be_a_linux_interface_name(string name)
        => Assert.That(
            TestConfigs.Errors(WithService($"[appliance]\ninterface = {name}")).Single(),
            Does.StartWith("test.toml:14:13: interface '").And.Contain("is not a Linux interface name"));

    [Test]
    public void Unknown_backend_and_threads_out_of_range()
        => Assert.That(TestConfigs.Errors(WithService("[appliance]\nbackend = \"xdp\"\nthreads = 1000")), Is.EqualTo(new[]
        {
            "test.toml:14:11: backend 'xdp' is not one of pcap, ring",
            "test.toml:15:11: threads 1000 is out of range: allowed 0 to 256",
        }));

    [Test]
    public void Connections_out_of_range_either_way()
        => Assert.That(TestConfigs.Errors(WithService("[appliance]\nconnections = 100")).Concat(TestConfigs.Errors(WithService("[appliance]\nconnections = 20000000"))), Is.EqualTo(new[]
        {
            "test.toml:14:15: connections 100 is out of range: allowed 1024 to 16777215",
            "test.toml:14:15: connections 20000000 is out of range: allowed 1024 to 16777215",
        }));

    [Test]
    public void Unknown_protocol_and_on_down()
        => Assert.That(TestConfigs.Errors(WithService("protocol = \"sctp\"\non-down = \"drain\"")), Is.EqualTo(new[]
        {
            "test.toml:13:12: protocol 'sctp' is not one of tcp, udp",
            "test.toml:14:11: on-down 'drain' is not one of quiesce, quiesce-expire, shutdown-sessions",
        }));

    [Test]
    public void Toml_syntax_error_is_one_positioned_error()
    {
        var errors = TestConfigs.Errors("[[server]]\nname = \"CAS1\nport = 1\n");
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.Match(@"^test\.toml:2:\d+: \S"));
    }

    [Test]
    public void Keys_differing_only_in_case_are_refused()
    {
        var errors = TestConfigs.Errors("[[server]]\nname = \"CAS1\"\nName = \"CAS2\"\n");
        Assert.That(errors, Is.EqualTo(new[] { "test.toml:3:1: key 'Name' differs from 'name' (line 2) only in letter case; keys are lower-case" }));
    }

    [Test]
    public void A_file_with_many_mistakes_reports_every_one_in_file_order()
    {
        var errors = TestConfigs.Errors("""
            [appliance]
            interface = "eth1"
            backend = "rings"

            [[server]]
            name = "CAS1"
            address = "10.0.0.11"
            mac = "zz:zz:zz:zz:zz:zz"

            [[server]]
            name = "CAS2"
            address = "10.0.0.12"

            [[service]]
            name = "owa"
            vip = "10.0.0.10"
            ports = [443, 70000]
            schedular = "wlc"
            persistence = "4"
            persistence-netmask = "255.255.0.255"
            members = ["CAS1", "CAS3"]
            [service.check]
            kind = "https"
            rise = 0
            timeout = "1s"

            [[service]]
            name = "owa"
            vip = "10.0.0.10"
            ports = [443]
            """);

        Assert.That(errors, Is.EqualTo(new[]
        {
            "test.toml:3:11: backend 'rings' is not one of pcap, ring",
            "test.toml:8:7: mac 'zz:zz:zz:zz:zz:zz' is not \"auto\" or a MAC address like \"00:15:5d:01:02:03\" (\"00-15-5D-01-02-03\" as Windows shows it also works)",
            "test.toml:17:15: port 70000 is out of range: allowed 1 to 65535",
            "test.toml:18:1: unknown key 'schedular' in [[service]] 'owa'; did you mean 'scheduler'?",
            "test.toml:19:15: persistence: duration '4' needs a unit: ms, s, m, h or d (e.g. \"4s\")",
            "test.toml:21:20: members names server 'CAS3', which no [[server]] defines; defined servers: CAS1, CAS2",
            "test.toml:22:1: an https check needs path, the URL path to request, e.g. path = \"/owa/healthcheck.htm\" ([service.check] of [[service]] 'owa')",
            "test.toml:24:8: rise 0 is out of range: allowed 1 to 100",
            "test.toml:28:8: [[service]] name 'owa' is already used (line 15); names must be unique",
        }));
    }
}
