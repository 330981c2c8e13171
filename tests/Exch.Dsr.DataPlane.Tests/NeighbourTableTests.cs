using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane.Tests;

public sealed class NeighbourTableTests
{
    private static readonly MacAddress Cas1Mac = MacAddress.Parse("02:00:00:00:00:11");
    private static readonly MacAddress Cas1NewMac = MacAddress.Parse("02:00:00:00:01:11");

    [Test]
    public void A_configured_mac_is_known_at_once_and_an_auto_one_only_after_arp()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS1", "10.0.0.11"), TestConfigs.Server("CAS2", "10.0.0.12", "02:00:00:00:00:12")]);

        Assert.That(table.MacOf(0), Is.Null);
        Assert.That(table.MacOf(1), Is.EqualTo(MacAddress.Parse("02:00:00:00:00:12")));
        Assert.That(table.ArpTargets.ToArray(), Is.EqualTo(new[] { IpAddress128.Parse("10.0.0.11") }), "only auto servers are asked");
    }

    [Test]
    public void An_observed_mac_is_adopted_once_and_a_changed_one_reports_the_previous()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS1", "10.0.0.11")]);

        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.11"), Cas1Mac), Is.True);
        var first = table.AdoptObserved();
        var again = table.AdoptObserved();
        table.Observe(IpAddress128.Parse("10.0.0.11"), Cas1NewMac);
        var moved = table.AdoptObserved();

        Assert.That(first, Is.EqualTo(new[] { new NeighbourChange("CAS1", System.Net.IPAddress.Parse("10.0.0.11"), null, Cas1Mac) }));
        Assert.That(again, Is.Empty, "nothing new");
        Assert.That(moved.Single().Previous, Is.EqualTo(Cas1Mac));
        Assert.That(moved.Single().Current, Is.EqualTo(Cas1NewMac));
        Assert.That(table.MacOf(0), Is.EqualTo(Cas1NewMac));
    }

    [Test]
    public void A_reload_keeps_learned_macs_of_unchanged_servers_and_watches_new_ones()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS1", "10.0.0.11"), TestConfigs.Server("CAS2", "10.0.0.12")]);
        table.Observe(IpAddress128.Parse("10.0.0.11"), Cas1Mac);
        table.Observe(IpAddress128.Parse("10.0.0.12"), MacAddress.Parse("02:00:00:00:00:12"));
        table.AdoptObserved();

        // CAS1 unchanged (now second in the list), CAS2 moved to a new address, CAS3 new.
        table.Watch([TestConfigs.Server("CAS3", "10.0.0.13"), TestConfigs.Server("CAS1", "10.0.0.11"), TestConfigs.Server("CAS2", "10.0.0.22")]);

        Assert.That(table.Servers.Select(s => s.Name), Is.EqualTo(new[] { "CAS3", "CAS1", "CAS2" }));
        Assert.That((table.MacOf(0), table.MacOf(1), table.MacOf(2)), Is.EqualTo(((MacAddress?)null, (MacAddress?)Cas1Mac, (MacAddress?)null)), "only CAS1 keeps what was learned");
        Assert.That(table.ArpTargets.ToArray(), Is.EquivalentTo(new[] { IpAddress128.Parse("10.0.0.13"), IpAddress128.Parse("10.0.0.11"), IpAddress128.Parse("10.0.0.22") }));
        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.12"), Cas1NewMac), Is.False, "CAS2's old address is no longer watched");
        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.13"), Cas1NewMac), Is.True);
        Assert.That(table.AdoptObserved().Select(c => c.Server), Is.EqualTo(new[] { "CAS3" }), "CAS1's carried MAC is not reported again");
        Assert.That(table.MacOf(0), Is.EqualTo(Cas1NewMac));
    }

    [Test]
    public void Strangers_broadcast_and_zero_macs_are_ignored()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS1", "10.0.0.11")]);

        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.99"), Cas1Mac), Is.False, "not a server");
        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.11"), MacAddress.Broadcast), Is.False);
        Assert.That(table.Observe(IpAddress128.Parse("10.0.0.11"), MacAddress.Zero), Is.False);
        Assert.That(table.AdoptObserved(), Is.Empty);
        Assert.That(table.MacOf(0), Is.Null);
    }

    [Test]
    public void An_ipv6_server_set_to_auto_is_asked_with_ndp_and_learned_like_an_ipv4_one()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS6", "2001:db8::11"), TestConfigs.Server("CAS1", "10.0.0.11")]);

        Assert.That(table.ArpTargets.ToArray(), Is.EqualTo(new[] { IpAddress128.Parse("10.0.0.11") }));
        Assert.That(table.NdpTargets.ToArray(), Is.EqualTo(new[] { IpAddress128.Parse("2001:db8::11") }));
        Assert.That(table.HasTargets, Is.True);
        Assert.That(table.Observe(IpAddress128.Parse("2001:db8::11"), Cas1Mac), Is.True);
        Assert.That(table.AdoptObserved().Single().Server, Is.EqualTo("CAS6"));
        Assert.That(table.MacOf(0), Is.EqualTo(Cas1Mac));
    }

    [Test]
    public void Observing_allocates_nothing()
    {
        var table = new NeighbourTable([TestConfigs.Server("CAS1", "10.0.0.11"), TestConfigs.Server("CAS2", "10.0.0.12")]);
        var address = IpAddress128.Parse("10.0.0.12");
        table.Observe(address, Cas1Mac);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            table.Observe(address, Cas1Mac);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
