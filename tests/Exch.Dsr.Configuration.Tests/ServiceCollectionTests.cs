using Exch.Dsr.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Exch.Dsr.Configuration.Tests;

public sealed class ServiceCollectionTests
{
    private static IHost BuildHost(string toml)
    {
        var configuration = new ConfigurationBuilder().AddTomlText(toml, "host.toml").Build();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddExchDsrConfiguration(configuration);
        return builder.Build();
    }

    [Test]
    public async Task Host_with_a_bad_configuration_fails_at_start_with_every_positioned_error()
    {
        using var host = BuildHost(TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\nscheduler = \"rrr\"\nsloppy = 1\n");

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(exception!.OptionsType, Is.EqualTo(typeof(ExchDsrConfig)));
        Assert.That(exception.Failures, Is.EqualTo(new[]
        {
            "host.toml:13:13: scheduler 'rrr' is not one of rr, wrr, lc, wlc, sh, mh",
            "host.toml:14:10: sloppy must be true or false (no quotes), e.g. sloppy = true, not the number 1",
        }));
    }

    [Test]
    public async Task Host_with_a_toml_syntax_error_fails_at_start_with_its_position()
    {
        using var host = BuildHost("[[server]]\nname = \"CAS1\"\naddress = \"10.0.0.11\" junk\n");

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(exception!.Failures.Single(), Does.Match(@"^host\.toml:3:\d+: \S"));
    }

    [Test]
    public async Task Host_with_a_good_configuration_starts_and_serves_the_records()
    {
        using var host = BuildHost(TestConfigs.Servers + "[[service]]\nname = \"owa\"\nvip = \"10.0.0.10\"\nports = [443]\n");
        await host.StartAsync();
        var config = host.Services.GetRequiredService<IOptions<ExchDsrConfig>>().Value;
        Assert.That(config.Services.Single().Name, Is.EqualTo("owa"));
        Assert.That(config.Servers.Select(s => s.Name), Is.EqualTo(new[] { "CAS1", "CAS2" }));
        await host.StopAsync();
    }
}
