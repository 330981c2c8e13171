using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane.Tests;

public sealed class LiveRoutingSnapshotsTests
{
    private static readonly MacAddress Cas1Mac = MacAddress.Parse("02:00:00:00:00:11");

    [Test]
    public void A_server_with_an_unknown_mac_is_left_out_of_servers_members_and_sorry()
    {
        var config = TestConfigs.TwoServers(
            TestConfigs.Server("CAS1", "192.0.2.11"),
            TestConfigs.Server("CAS2", "192.0.2.12", "02:00:00:00:00:12"),
            sorry: TestConfigs.Server("SORRY", "192.0.2.13"));
        var snapshots = new LiveRoutingSnapshots(config, new NeighbourTable(config.Servers));

        var snapshot = snapshots.Build(out var excluded);

        Assert.That(excluded, Is.EqualTo(new[] { "CAS1", "SORRY" }));
        Assert.That(snapshot.Servers.Select(s => s.Name), Is.EqualTo(new[] { "CAS2" }));
        Assert.That(snapshot.Services.SelectMany(s => s.Members).Select(m => m.Server).Distinct(), Is.EqualTo(new[] { "CAS2" }));
        Assert.That(snapshot.Services.Select(s => s.Definition.SorryServer), Has.All.Null);
    }

    [Test]
    public void A_learned_then_changed_mac_is_in_the_next_snapshot_under_the_same_server_id()
    {
        var config = TestConfigs.TwoServers(TestConfigs.Server("CAS1", "192.0.2.11"), TestConfigs.Server("CAS2", "192.0.2.12", "02:00:00:00:00:12"));
        var neighbours = new NeighbourTable(config.Servers);
        var snapshots = new LiveRoutingSnapshots(config, neighbours);
        snapshots.Build(out _);

        neighbours.Observe(IpAddress128.Parse("192.0.2.11"), Cas1Mac);
        neighbours.AdoptObserved();
        var learned = snapshots.Build(out var excludedAfterLearning);
        var newMac = MacAddress.Parse("02:00:00:00:01:11");
        neighbours.Observe(IpAddress128.Parse("192.0.2.11"), newMac);
        neighbours.AdoptObserved();
        var moved = snapshots.Build(out _);

        Assert.That(excludedAfterLearning, Is.Empty);
        var before = learned.Servers.Single(s => s.Name == "CAS1");
        var after = moved.Servers.Single(s => s.Name == "CAS1");
        Assert.That(before.Mac, Is.EqualTo(Cas1Mac));
        Assert.That(after.Mac, Is.EqualTo(newMac));
        Assert.That(after.Id, Is.EqualTo(before.Id), "ids stay stable, so connection and persistence entries stay valid");
        Assert.That(moved.Services.Single(s => s.Name == "owa-https").Members.Select(m => m.Server), Is.EqualTo(new[] { "CAS1", "CAS2" }));
    }

    [Test]
    public void The_pcap_filter_takes_icmp_to_the_vips_and_icmp6_only_when_ipv6_is_in_play_and_keeps_the_tagged_alternative_last()
    {
        var config = TestConfigs.TwoServers(TestConfigs.Server("CAS1", "192.0.2.11"), TestConfigs.Server("CAS2", "192.0.2.12"));

        string owned = LiveDataPlane.PcapFilter(config);
        string hosted = LiveDataPlane.PcapFilter(config with { Appliance = config.Appliance with { OwnVips = false } });

        Assert.That(owned, Does.Contain($"(icmp and dst host {TestConfigs.Vip})").And.Contain("arp").And.Contain("tcp dst port (135 or 443 or 7575 or 7576)"));
        Assert.That(owned, Does.EndWith("))").And.Contain(" or (vlan and ("));
        Assert.That(owned.IndexOf("vlan", StringComparison.Ordinal), Is.GreaterThan(owned.IndexOf("icmp", StringComparison.Ordinal)), "everything untagged comes before 'vlan'");
        Assert.That(hosted, Does.Contain($"(icmp and dst host {TestConfigs.Vip})"), "ICMP errors to a hosted VIP still follow their flow");
        Assert.That(owned, Does.Not.Contain("icmp6"), "nothing IPv6 in this configuration");

        var v6Server = config with { Servers = [.. config.Servers, TestConfigs.Server("CAS6", "2001:db8::16")] };
        Assert.That(LiveDataPlane.PcapFilter(v6Server), Does.Contain("icmp6"), "neighbour advertisements of an IPv6 auto server");
    }
}
