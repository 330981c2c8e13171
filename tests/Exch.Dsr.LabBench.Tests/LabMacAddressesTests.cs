using Exch.Dsr.LabBench;

namespace Exch.Dsr.LabBench.Tests;

public sealed class LabMacAddressesTests
{
    [Test]
    public void Ipv4ServersGetTheirAddressInALocallyAdministeredMac()
    {
        var mac = new byte[6];
        LabMacAddresses.DeriveFromAddress([10, 0, 0, 11], mac);
        Assert.That(mac, Is.EqualTo(new byte[] { 0x02, 0x00, 0x0a, 0x00, 0x00, 0x0b }));
    }

    [Test]
    public void Ipv6DerivationIsStableUnicastAndLocal()
    {
        var address = System.Net.IPAddress.Parse("2001:db8::11").GetAddressBytes();
        var first = new byte[6];
        var second = new byte[6];
        LabMacAddresses.DeriveFromAddress(address, first);
        LabMacAddresses.DeriveFromAddress(address, second);
        Assert.That(first, Is.EqualTo(second));
        Assert.That(first[0] & 0x03, Is.EqualTo(0x02), "locally administered, not multicast");
        Assert.That(first.AsSpan().SequenceEqual(LabMacAddresses.ReplayAppliance), Is.False);
    }

    [Test]
    public void TheReplayApplianceAddressIsLocallyAdministeredUnicast() =>
        Assert.That(LabMacAddresses.ReplayAppliance[0] & 0x03, Is.EqualTo(0x02));
}
