using System.Net;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Configuration.Tests;

/// <summary>The files under config/ are what administrators copy: they must load, and mean what their comments say.</summary>
public sealed class ShippedConfigTests
{
    [Test]
    public void Default_configuration_is_the_lvs_dr_layout()
    {
        var result = ExchDsrConfigLoader.Load(TestConfigs.RepositoryFile("config/exch-dsr.toml"));
        Assert.That(result.Errors.Select(e => e.ToString()), Is.Empty);
        var config = result.Config!;

        Assert.That(config.Servers.Select(s => (s.Name, s.Mac)), Is.EqualTo(new[] { ("CAS1", (System.Net.NetworkInformation.PhysicalAddress?)null), ("CAS2", null) }));
        var services = config.Services.ToDictionary(s => s.Name);
        Assert.That(services.Keys, Is.EquivalentTo(new[] { "outlook-rpc", "owa-https", "http-redirect", "smtp" }));
        Assert.That(config.Services.Select(s => s.Vip).Distinct().Single(), Is.Not.EqualTo(IPAddress.Any));

        var rpc = services["outlook-rpc"];
        Assert.That(rpc.Ports, Is.EqualTo(new[] { 135, 7575, 7576 }));
        Assert.That(rpc.Persistence, Is.EqualTo(new PersistenceConfig { Timeout = TimeSpan.FromSeconds(300), PrefixLength = 32 }));
        Assert.That(rpc.Timeouts.TcpEstablished, Is.GreaterThan(TimeSpan.FromSeconds(900)));

        var owa = services["owa-https"];
        Assert.That(owa.Ports, Is.EqualTo(new[] { 443 }));
        Assert.That(owa.Persistence!.Timeout, Is.EqualTo(TimeSpan.FromHours(4)));
        Assert.That(owa.Persistence.PrefixLength, Is.EqualTo(32));
        Assert.That(owa.Check.Kind, Is.EqualTo(HealthCheckKind.Https));
        Assert.That(owa.Check.Path, Does.StartWith("/owa"));
        Assert.That(owa.Check.Expect, Is.EqualTo("utlook"));
        Assert.That(owa.Timeouts.TcpEstablished, Is.GreaterThan(TimeSpan.FromSeconds(900)));

        Assert.That(services["http-redirect"].Ports, Is.EqualTo(new[] { 80 }));
        Assert.That(services["http-redirect"].Persistence!.Timeout, Is.EqualTo(TimeSpan.FromSeconds(300)));

        var smtp = services["smtp"];
        Assert.That(smtp.Ports, Is.EqualTo(new[] { 25 }));
        Assert.That(smtp.Scheduler, Is.EqualTo(SchedulerKind.LeastConnection));
        Assert.That(smtp.Persistence, Is.Null);
        Assert.That(smtp.Check.Kind, Is.EqualTo(HealthCheckKind.Smtp));
    }

    [Test]
    public void Haproxy_layout_matches_the_haproxy_configuration_it_replaces()
    {
        var result = ExchDsrConfigLoader.Load(TestConfigs.RepositoryFile("config/exch-dsr-haproxy-layout.toml"));
        Assert.That(result.Errors.Select(e => e.ToString()), Is.Empty);
        var services = result.Config!.Services.ToDictionary(s => s.Name);

        Assert.That(services["outlook-rpc"].Ports, Is.EqualTo(new[] { 135, 60200, 60201 }));
        Assert.That(services["outlook-rpc"].Scheduler, Is.EqualTo(SchedulerKind.LeastConnection));
        Assert.That(services["outlook-rpc"].Persistence, Is.Not.Null);
        Assert.That(services["web"].Ports, Is.EqualTo(new[] { 80, 443 }));
        Assert.That(services["web"].Persistence, Is.Not.Null);
        Assert.That(services["smtp"].Ports, Is.EqualTo(new[] { 25 }));
        Assert.That(services["smtp"].Scheduler, Is.EqualTo(SchedulerKind.LeastConnection));
        Assert.That(services["smtp"].Persistence, Is.Null);
        foreach (var service in services.Values)
        {
            Assert.That(service.OnDown, Is.EqualTo(OnDownAction.ShutdownSessions), service.Name);
            Assert.That((service.Check.Interval, service.Check.Rise, service.Check.Fall), Is.EqualTo((TimeSpan.FromSeconds(2), 2, 3)), service.Name);
        }
    }
}
