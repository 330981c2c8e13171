using System.Net;
using Exch.Dsr.Capture.LibPcap;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

public sealed class CaptureFilterTests
{
    [Test]
    public void One_vip_with_two_ports_arp_and_vlan_variants()
    {
        string filter = new CaptureFilter().AddService(IPAddress.Parse("192.0.2.10"), FilterProtocol.Tcp, 7575, 135).Build();

        Assert.That(filter, Is.EqualTo(
            "(dst host 192.0.2.10 and tcp dst port (135 or 7575)) or arp"
            + " or (vlan and ((dst host 192.0.2.10 and tcp dst port (135 or 7575)) or arp))"));
    }

    [Test]
    public void Services_merge_ports_per_vip_and_protocol_and_keep_their_order()
    {
        string filter = new CaptureFilter { IncludeVlanTagged = false, IncludeArp = false }
            .AddService(IPAddress.Parse("192.0.2.10"), FilterProtocol.Tcp, 443)
            .AddService(IPAddress.Parse("2001:db8::10"), FilterProtocol.Udp, 53)
            .AddService(IPAddress.Parse("192.0.2.10"), FilterProtocol.Tcp, 80, 443)
            .Build();

        Assert.That(filter, Is.EqualTo("(dst host 192.0.2.10 and tcp dst port (80 or 443)) or (dst host 2001:db8::10 and udp dst port 53)"));
    }

    [Test]
    public void A_filter_that_would_capture_nothing_is_refused()
    {
        Assert.That(() => new CaptureFilter { IncludeArp = false }.Build(), Throws.InvalidOperationException);
        Assert.That(() => new CaptureFilter().AddService(IPAddress.Loopback, FilterProtocol.Tcp), Throws.ArgumentException);
    }
}

/// <summary>The built filter applied by libpcap to real frames in the namespace lab.</summary>
[NonParallelizable]
public sealed class CaptureFilterLabTests
{
    private const string Vip = "10.20.30.40";
    private NetnsLab? _lab;

    [OneTimeSetUp]
    public void CreateLab()
    {
        NetnsLab.RequireRoot();
        if (!PcapPort.IsLibraryAvailable(out string message))
        {
            Assert.Ignore($"install libpcap0.8 ({message})");
        }

        _lab = NetnsLab.Create();
        _lab.AddVethPair("flt-a", "flt-b");
    }

    [OneTimeTearDown]
    public void DeleteLab() => _lab?.Dispose();

    [Test]
    public void The_filter_passes_vip_traffic_and_arp_tagged_or_not_and_drops_the_rest()
    {
        string filter = new CaptureFilter().AddService(IPAddress.Parse(Vip), FilterProtocol.Tcp, 135, 7575).Build();
        using IFramePort sender = _lab!.Run<IFramePort>(() => PcapPort.Open(new PcapPortOptions { InterfaceName = "flt-a" }, out _));
        using IFramePort receiver = _lab.Run<IFramePort>(() => PcapPort.Open(new PcapPortOptions { InterfaceName = "flt-b", Filter = filter }, out _));
        var frames = new Dictionary<int, byte[]>
        {
            [1] = LabFrames.Tcp(1, "198.51.100.7", Vip, 50000, 135),
            [2] = LabFrames.Tcp(2, "198.51.100.7", Vip, 50001, 7575),
            [3] = LabFrames.Tcp(3, "198.51.100.7", Vip, 50002, 80),
            [4] = LabFrames.Tcp(4, "198.51.100.7", "10.20.30.41", 50003, 135),
            [5] = LabFrames.Arp(5, Vip),
            [6] = LabFrames.Tcp(6, "198.51.100.7", Vip, 50004, 135, vlanTci: 100),
            [7] = LabFrames.Tcp(7, "198.51.100.7", "10.20.30.41", 50005, 135, vlanTci: 100),
            [8] = LabFrames.Arp(8, Vip, vlanTci: 100),
            [9] = LabFrames.Marked(9),
            [10] = LabFrames.Tcp(10, "198.51.100.7", Vip, 135, 50006), // from the VIP's port, not to it
        };

        Receiving.SendAll(sender, frames.Values);
        var (passed, _) = Receiving.Collect(receiver, 5, TimeSpan.FromSeconds(5));
        foreach (var (sequence, frame) in Receiving.Drain(receiver, TimeSpan.FromMilliseconds(300)))
        {
            passed[sequence] = frame;
        }

        Assert.That(passed.Keys, Is.EquivalentTo(new[] { 1, 2, 5, 6, 8 }));
        Assert.That(passed[6], Is.EqualTo(frames[6]), "the tagged frame arrives with its tag");
        Assert.That(passed[8], Is.EqualTo(frames[8]));
    }

    [Test]
    public void A_filter_that_does_not_compile_fails_the_open_with_libpcaps_message()
    {
        var e = Assert.Throws<FramePortException>(() =>
            _lab!.Run<IFramePort>(() => PcapPort.Open(new PcapPortOptions { InterfaceName = "flt-b", Filter = "dst host and and" }, out _)));
        Assert.That(e!.Message, Does.Contain("does not compile").And.Contain("dst host and and"));
    }

    [Test]
    public void A_missing_interface_fails_the_open_with_a_clear_message()
    {
        var e = Assert.Throws<FramePortException>(() =>
            _lab!.Run<IFramePort>(() => PcapPort.Open(new PcapPortOptions { InterfaceName = "no-such-if0" }, out _)));
        Assert.That(e!.Message, Does.Contain("no-such-if0"));
        TestContext.Out.WriteLine(e.Message);
    }
}
