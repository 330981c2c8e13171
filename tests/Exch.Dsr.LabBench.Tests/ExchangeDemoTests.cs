using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench.Demo;
using Exch.Dsr.LabBench.Synthesis;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ExchangeDemoTests
{
    private static readonly ExchangeMixOptions Small = new()
    {
        OutlookClients = 200,
        OwaClients = 100,
        SmtpSenders = 10,
        UsersBehindNat = 20,
        Duration = TimeSpan.FromMinutes(6),
    };

    private static ExchDsrConfig Shipped()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "config", "exch-dsr.toml")))
        {
            directory = directory.Parent;
        }

        Assert.That(directory, Is.Not.Null, "config/exch-dsr.toml above the test directory");
        var loaded = ExchDsrConfigLoader.Load(Path.Combine(directory!.FullName, "config", "exch-dsr.toml"));
        Assert.That(loaded.Errors, Is.Empty);
        return loaded.Config!;
    }

    [Test]
    public void OutlookClientsStayTogetherAcrossPortsAndTheFailedCasClientsMove()
    {
        var result = ExchangeDemo.Run(Shipped(), Small);

        var outlook = result.Services.Single(s => s.Service == result.OutlookService);
        Assert.That(outlook.Ports, Is.EqualTo(new ushort[] { 135, 7575, 7576 }));
        Assert.That(outlook.Clients, Is.EqualTo(201), "200 LAN clients and the NAT address");
        Assert.That(outlook.ClientsOnEveryPort, Is.EqualTo(201));
        Assert.That(outlook.Split, Is.Zero);
        Assert.That(outlook.HeldTogether, Is.EqualTo(201));
        Assert.That(outlook.Redispatched, Is.GreaterThan(0));
        Assert.That(outlook.RedispatchedThenHeld, Is.EqualTo(outlook.Redispatched));
        Assert.That(result.Report.Events.Single().Event.Server, Is.EqualTo(result.Failure.Server));
        Assert.That(result.Report.FramesForwarded, Is.EqualTo(result.Report.FramesRead), "every synthetic frame is for a service");
        Assert.That(result.NatServers, Is.Not.Empty);
    }

    [Test]
    public void TheDemoIsDeterministic()
    {
        var first = ExchangeDemo.Run(Shipped(), Small);
        var second = ExchangeDemo.Run(Shipped(), Small);

        Assert.That(second.Report.Servers, Is.EqualTo(first.Report.Servers));
        Assert.That(second.Services, Is.EqualTo(first.Services).Using<PersistenceFindings>((a, b) => a.ToString() == b.ToString()));
        Assert.That(second.Report.Decisions, Is.EqualTo(first.Report.Decisions));
    }

    [Test]
    public void SyntheticFramesCarryCorrectChecksumsAndTheirPlannedTimes()
    {
        var plan = ExchangeMixPlanner.Plan(Small with { OutlookClients = 3, OwaClients = 2, SmtpSenders = 1, UsersBehindNat = 2 });
        var vip = IpAddress128.Parse("192.0.2.10");
        var source = new SyntheticFrameSource(plan, 1_000, vip, MacAddress.Parse("02:d5:00:00:00:01"), SyntheticFrameSource.DefaultRouterMac);

        var count = 0;
        while (source.TryReadNext(out var frame))
        {
            var segment = plan[count++];
            Assert.That(frame.TimestampNs, Is.EqualTo(1_000 + segment.OffsetNanoseconds));
            Assert.That(EthernetView.TryParse(frame.Data, out var eth, out _), Is.True);
            Assert.That(IPv4View.TryParse(eth.Payload, out var ip, out _), Is.True);
            Assert.That(InternetChecksum.Compute(eth.Payload[..ip.HeaderLength]), Is.Zero, "IPv4 header checksum");
            var pseudo = InternetChecksum.PseudoHeader(ip.Source, ip.Destination, IpProtocols.Tcp, ip.Payload.Length);
            Assert.That(InternetChecksum.Finish(InternetChecksum.Add(pseudo, ip.Payload)), Is.Zero, "TCP checksum");
            Assert.That(ip.Destination, Is.EqualTo(vip));
            Assert.That(ip.Payload.Length, Is.EqualTo(20 + segment.PayloadLength));
        }

        Assert.That(count, Is.EqualTo(plan.Length));
        Assert.That(source.Position, Is.EqualTo(source.Length));
    }
}
