using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

public sealed class InterfaceChecksTests
{
    [Test]
    public void A_missing_interface_is_reported_not_thrown()
    {
        StartupCheck check = InterfaceChecks.CheckInterface("no-such-if0", out InterfaceInfo? info);

        Assert.That(info, Is.Null);
        Assert.That(check.Status, Is.EqualTo(CheckStatus.Failed));
        Assert.That(check.Message, Is.EqualTo("there is no network interface named no-such-if0"));
    }

    [TestCase("")]
    [TestCase("a-name-far-too-long-for-linux")]
    [TestCase("../etc")]
    public void A_name_linux_cannot_have_is_reported(string name) =>
        Assert.That(InterfaceChecks.CheckInterface(name, out _).Status, Is.EqualTo(CheckStatus.Failed));

    [Test]
    public void Loopback_reads_as_up_with_its_mtu()
    {
        Assert.That(InterfaceChecks.TryReadInterface("lo", out InterfaceInfo? info, out string error), Is.True, error);
        Assert.That(info!.IsUp, Is.True);
        Assert.That(info.Mtu, Is.GreaterThan(0));
        Assert.That(info.MacAddress, Is.EqualTo("00:00:00:00:00:00"));
    }

    [TestCase("CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n", CheckStatus.Ok, null)]
    [TestCase("CapEff:\t0000000000002000\n", CheckStatus.Failed, "missing CAP_NET_ADMIN")]
    [TestCase("CapEff:\t0000000000001000\n", CheckStatus.Failed, "missing CAP_NET_RAW")]
    [TestCase("CapEff:\t0000000000000000\n", CheckStatus.Failed, "missing CAP_NET_RAW and CAP_NET_ADMIN")]
    [TestCase("Name:\tx\n", CheckStatus.Unknown, "no CapEff")]
    public void Capabilities_are_read_from_capeff(string status, CheckStatus expected, string? message)
    {
        StartupCheck check = InterfaceChecks.CheckCapabilities(status);

        Assert.That(check.Status, Is.EqualTo(expected));
        if (message is not null)
        {
            Assert.That(check.Message, Does.Contain(message));
        }
    }

    [Test]
    public void Gro_on_fails_with_the_command_that_turns_it_off()
    {
        const string Output = "Features for eth1:\nrx-checksumming: on\ngeneric-receive-offload: on\nlarge-receive-offload: off [fixed]\n";

        StartupCheck check = InterfaceChecks.CheckReceiveOffloads("eth1", Output);

        Assert.That(check.Status, Is.EqualTo(CheckStatus.Failed));
        Assert.That(check.Message, Does.StartWith("GRO on eth1"));
        Assert.That(check.Remedy, Is.EqualTo("ethtool -K eth1 gro off lro off"));
    }

    [Test]
    public void Gro_and_lro_off_pass() =>
        Assert.That(
            InterfaceChecks.CheckReceiveOffloads("eth1", "generic-receive-offload: off\nlarge-receive-offload: off [fixed]\n").Status,
            Is.EqualTo(CheckStatus.Ok));

    [Test]
    public void Lro_fixed_on_cannot_be_fixed_by_a_command() =>
        Assert.That(
            InterfaceChecks.CheckReceiveOffloads("eth1", "generic-receive-offload: off\nlarge-receive-offload: on [fixed]\n").Message,
            Does.Contain("cannot be turned off"));
}

/// <summary>The same checks against interfaces in a namespace lab: down, renamed MTU and MAC, offloads on and off.</summary>
[NonParallelizable]
public sealed class InterfaceChecksLabTests
{
    private NetnsLab? _lab;

    [OneTimeSetUp]
    public void CreateLab()
    {
        _lab = NetnsLab.Create();
        _lab.AddVethPair("chk-a", "chk-b");
        _lab.Ip("link", "set", "chk-a", "mtu", "1400", "address", "02:00:5e:10:20:30");
        _lab.Ip("link", "add", "chk-down", "type", "veth", "peer", "name", "chk-down-p");
    }

    [OneTimeTearDown]
    public void DeleteLab() => _lab?.Dispose();

    [Test]
    public void An_up_interface_reports_its_mtu_and_mac()
    {
        (StartupCheck check, InterfaceInfo? info) = _lab!.Run(() => (InterfaceChecks.CheckInterface("chk-a", out InterfaceInfo? i), i));

        Assert.That(check.Status, Is.EqualTo(CheckStatus.Ok), check.Message);
        Assert.That(info!.Mtu, Is.EqualTo(1400));
        Assert.That(info.MacAddress, Is.EqualTo("02:00:5e:10:20:30"));
        Assert.That(check.Message, Does.Contain("MTU 1400").And.Contain("02:00:5e:10:20:30"));
    }

    [Test]
    public void A_down_interface_fails_with_the_command_that_brings_it_up()
    {
        StartupCheck check = _lab!.Run(() => InterfaceChecks.CheckInterface("chk-down", out _));

        Assert.That(check.Status, Is.EqualTo(CheckStatus.Failed));
        Assert.That(check.Message, Does.StartWith("chk-down is down"));
        Assert.That(check.Remedy, Is.EqualTo("ip link set chk-down up"));
    }

    [Test]
    public void Offloads_are_read_with_ethtool_inside_the_namespace()
    {
        NetnsLab.RequireEthtool();
        _lab!.Exec("ethtool", "-K", "chk-b", "gro", "on");

        StartupCheck off = _lab.Run(() => InterfaceChecks.CheckReceiveOffloads("chk-a"));
        StartupCheck on = _lab.Run(() => InterfaceChecks.CheckReceiveOffloads("chk-b"));

        Assert.That(off.Status, Is.EqualTo(CheckStatus.Ok), off.Message);
        Assert.That(on.Status, Is.EqualTo(CheckStatus.Failed), on.Message);
        Assert.That(on.Remedy, Is.EqualTo("ethtool -K chk-b gro off lro off"));
    }

    [Test]
    public void Run_all_lists_capabilities_interface_offloads_and_huge_pages()
    {
        IReadOnlyList<StartupCheck> checks = _lab!.Run(() => InterfaceChecks.RunAll("chk-a"));

        Assert.That(checks.Select(c => c.Name), Is.EqualTo(new[] { "capabilities", "interface", "receive offloads", "huge pages" }));
        Assert.That(checks[0].Status, Is.EqualTo(CheckStatus.Ok), "the tests run as root");
    }
}
