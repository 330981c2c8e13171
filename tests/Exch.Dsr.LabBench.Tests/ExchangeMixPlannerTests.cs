using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench.Synthesis;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ExchangeMixPlannerTests
{
    private static readonly ExchangeMixOptions Small = new()
    {
        OutlookClients = 40,
        OwaClients = 30,
        SmtpSenders = 5,
        UsersBehindNat = 20,
        Duration = TimeSpan.FromMinutes(3),
    };

    [Test]
    public void TheSameSeedGivesTheSamePlan()
    {
        Assert.That(ExchangeMixPlanner.Plan(Small), Is.EqualTo(ExchangeMixPlanner.Plan(Small)));
        Assert.That(ExchangeMixPlanner.Plan(Small with { Seed = 7 }), Is.Not.EqualTo(ExchangeMixPlanner.Plan(Small)));
    }

    [Test]
    public void TimesNeverGoBackwards()
    {
        var plan = ExchangeMixPlanner.Plan(Small);
        for (var i = 1; i < plan.Length; i++)
        {
            Assert.That(plan[i].OffsetNanoseconds, Is.GreaterThanOrEqualTo(plan[i - 1].OffsetNanoseconds), $"segment {i}");
        }
    }

    [Test]
    public void EveryOutlookClientAsksTheEndpointMapperBeforeEachRpcPort()
    {
        var plan = ExchangeMixPlanner.Plan(Small);
        var firstMapperSyn = new Dictionary<uint, long>();
        foreach (var segment in plan.Where(s => s.Kind == ClientKind.Outlook && s.Flags == TcpFlags.Syn))
        {
            if (segment.ServicePort == 135)
            {
                firstMapperSyn.TryAdd(segment.ClientAddress, segment.OffsetNanoseconds);
            }
            else
            {
                Assert.That(firstMapperSyn.TryGetValue(segment.ClientAddress, out var mapper) && mapper < segment.OffsetNanoseconds, Is.True);
            }
        }

        var clients = plan.Where(s => s.Kind == ClientKind.Outlook).Select(s => s.ClientAddress).Distinct().Count();
        // Each of the 40 LAN clients has its own address; the NAT's Outlook users share one.
        Assert.That(clients, Is.EqualTo(41));
        Assert.That(plan.Where(s => s.Kind == ClientKind.Outlook).Select(s => s.ServicePort).Distinct().Order(), Is.EqualTo(new ushort[] { 135, 7575, 7576 }));
    }

    [Test]
    public void ConnectionsFromTheNatAddressNeverShareASourcePort()
    {
        var plan = ExchangeMixPlanner.Plan(Small);
        var syns = plan.Where(s => s.ClientAddress == ExchangeMixPlanner.NatAddress && s.Flags == TcpFlags.Syn).ToList();
        Assert.That(syns, Has.Count.GreaterThan(20));
        Assert.That(syns.Select(s => s.ClientPort).Distinct().Count(), Is.EqualTo(syns.Count));
    }

    [Test]
    public void EachConnectionOpensWithASynAndEndsWithFinThenAck()
    {
        var plan = ExchangeMixPlanner.Plan(Small);
        foreach (var connection in plan.GroupBy(s => (s.ClientAddress, s.ClientPort)))
        {
            var segments = connection.ToList();
            Assert.That(segments[0].Flags, Is.EqualTo(TcpFlags.Syn));
            Assert.That(segments[^2].Flags, Is.EqualTo(TcpFlags.Fin | TcpFlags.Ack));
            Assert.That(segments[^1].Flags, Is.EqualTo(TcpFlags.Ack));
            Assert.That(segments[1].Sequence, Is.EqualTo(segments[0].Sequence + 1), "the SYN takes one sequence number");
        }
    }
}
