using System.Net.NetworkInformation;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.LabBench;
using EngineScheduler = Exch.Dsr.Engine.Scheduling.SchedulerKind;

namespace Exch.Dsr.LabBench.Tests;

public sealed class RoutingSnapshotFactoryTests
{
    [Test]
    public void ServersKeepConfiguredMacsAndAutoOnesAreDerivedFromTheirAddress()
    {
        var factory = RoutingSnapshotFactory.ForReplay(TestConfigs.Exchange());

        Assert.That(factory.Servers.Select(s => s.Name), Is.EqualTo(new[] { "CAS1", "CAS2", "CAS3", "SORRY" }));
        Assert.That(factory.Servers[0].Mac, Is.EqualTo(MacAddress.Parse("02:00:0a:00:00:0b")));
        Assert.That(factory.Servers[1].Mac, Is.EqualTo(MacAddress.Parse("00:15:5d:00:00:12")));
        Assert.That(factory.AddressNotes[0], Is.EqualTo("CAS1 10.0.0.11 mac 02:00:0a:00:00:0b (derived from its IP: mac = auto)"));
        Assert.That(factory.AddressNotes[1], Is.EqualTo("CAS2 10.0.0.12 mac 00:15:5d:00:00:12 (configured)"));
    }

    [Test]
    public void TheApplianceMacIsTheConfiguredOneOrAFixedLocalOne()
    {
        var config = TestConfigs.Exchange();
        Assert.That(RoutingSnapshotFactory.ReplayApplianceMac(config).Mac, Is.EqualTo(MacAddress.Parse("02:d5:00:00:00:01")));
        Assert.That(RoutingSnapshotFactory.ReplayApplianceMac(config).Note, Does.Contain("mac = auto"));

        var pinned = config with { Appliance = new ApplianceConfig { Mac = PhysicalAddress.Parse("00-11-22-33-44-55") } };
        Assert.That(RoutingSnapshotFactory.ReplayApplianceMac(pinned).Mac, Is.EqualTo(MacAddress.Parse("00:11:22:33:44:55")));
    }

    [Test]
    public void EveryServiceSettingReachesTheEngine()
    {
        var config = TestConfigs.Exchange(OnDownAction.QuiesceExpire);
        var owa = RoutingSnapshotFactory.ToService(config.Services[1], new ServerOverrides());

        Assert.That(owa.Name, Is.EqualTo("owa-https"));
        Assert.That(owa.Vip, Is.EqualTo(TestConfigs.Vip));
        Assert.That(owa.Protocol, Is.EqualTo(Engine.Routing.TransportProtocol.Tcp));
        Assert.That(owa.Ports, Is.EqualTo(new ushort[] { 443 }));
        Assert.That(owa.Scheduler, Is.EqualTo(EngineScheduler.WeightedLeastConnection));
        Assert.That(owa.PersistenceTimeout, Is.EqualTo(TimeSpan.FromMinutes(20)));
        Assert.That(owa.PersistencePrefixLength, Is.EqualTo(24));
        Assert.That(owa.Members, Is.EqualTo(new[] { new Engine.Routing.ServiceMember("CAS1", 1), new Engine.Routing.ServiceMember("CAS2", 1) }));
        Assert.That(owa.OnDown, Is.EqualTo(OnDownBehavior.QuiesceExpire));
        Assert.That(owa.SorryServer, Is.EqualTo("SORRY"));
        Assert.That(owa.Sloppy, Is.False);

        var smtp = RoutingSnapshotFactory.ToService(config.Services[2], new ServerOverrides());
        Assert.That(smtp.PersistenceTimeout, Is.Null);
        Assert.That(smtp.Sloppy, Is.True);
        Assert.That(smtp.Scheduler, Is.EqualTo(EngineScheduler.RoundRobin));

        var outlook = RoutingSnapshotFactory.ToService(config.Services[0], new ServerOverrides());
        Assert.That(outlook.Ports, Is.EqualTo(new ushort[] { 135, 7575, 7576 }));
        Assert.That(outlook.Scheduler, Is.EqualTo(EngineScheduler.WeightedRoundRobin));
        Assert.That(outlook.Members[2], Is.EqualTo(new Engine.Routing.ServiceMember("CAS3", 2)));
    }

    [Test]
    public void TimeoutsMapOntoLvsStates()
    {
        var timeouts = RoutingSnapshotFactory.ToTimeouts(new Configuration.ConnectionTimeouts
        {
            TcpEstablished = TimeSpan.FromHours(1),
            TcpSyn = TimeSpan.FromSeconds(30),
            TcpFinWait = TimeSpan.FromSeconds(20),
            TcpClose = TimeSpan.FromSeconds(5),
            Udp = TimeSpan.FromSeconds(60),
        });

        Assert.That(timeouts.For(ConnectionState.Established), Is.EqualTo(TimeSpan.FromHours(1)));
        Assert.That(timeouts.For(ConnectionState.SynReceived), Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(timeouts.For(ConnectionState.FinWait), Is.EqualTo(TimeSpan.FromSeconds(20)));
        Assert.That(timeouts.For(ConnectionState.Close), Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(timeouts.For(ConnectionState.Udp), Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(timeouts.For(ConnectionState.TimeWait), Is.EqualTo(Engine.Routing.ConnectionTimeouts.Lvs.TcpTimeWait), "not configurable: LVS's");
    }

    [Test]
    public void SnapshotsCarryServerStateAndKeepIdsAcrossRebuilds()
    {
        var config = TestConfigs.Exchange(OnDownAction.ShutdownSessions);
        var factory = RoutingSnapshotFactory.ForReplay(config);
        var overrides = new ServerOverrides();
        var first = factory.Build(overrides);

        overrides.Apply(config, new ServerEvent(1, default, "CAS2", ServerEventAction.Down, 0, null));
        overrides.Apply(config, new ServerEvent(2, default, "CAS3", ServerEventAction.Weight, 7, "outlook-rpc"));
        var second = factory.Build(overrides);

        Assert.That(second.Version, Is.GreaterThan(first.Version));
        Assert.That(second.Servers.Select(s => (s.Name, s.Id)), Is.EqualTo(first.Servers.Select(s => (s.Name, s.Id))));
        var cas2 = second.Servers.Single(s => s.Name == "CAS2");
        Assert.That(second.GetServerState(cas2.Id), Is.EqualTo(ServerState.Down));
        var outlook = second.Services.Single(s => s.Name == "outlook-rpc");
        Assert.That(outlook.Candidates.ToArray(), Does.Not.Contain(cas2.Id));
        Assert.That(outlook.Members.Single(m => m.Server == "CAS3").Weight, Is.EqualTo(7));
        Assert.That(second.IsServerMac(MacAddress.Parse("02:00:0a:00:00:0b")), Is.True);
    }
}
