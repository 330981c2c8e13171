using System.Net;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Scheduling;

public sealed class SchedulerTests
{
    private static readonly RealServer[] Servers =
        [.. Enumerable.Range(1, 12).Select(i => new RealServer($"cas{i}", IPAddress.Parse($"10.0.1.{i}"), TestAddresses.Server(i)))];

    private static ServiceRoute Route(SchedulerKind kind, params (string Name, int Weight)[] members)
    {
        var service = new VirtualService
        {
            Name = "svc",
            Vip = IPAddress.Parse("198.51.100.1"),
            Ports = [443],
            Scheduler = kind,
            Members = [.. members.Select(m => new ServiceMember(m.Name, m.Weight))],
        };
        return new RoutingSnapshotBuilder().Build(Servers, [service]).Services[0];
    }

    private static List<int> Picks(ServiceRoute route, int count)
    {
        var cursor = default(SchedulerCursor);
        var picks = new List<int>();
        for (var i = 0; i < count; i++)
        {
            picks.Add(route.Scheduler.Select(route, new SchedulingInput(default, [], []), ref cursor));
        }

        return picks;
    }

    [Test]
    public void NamesMapToKinds()
    {
        Assert.That(Schedulers.TryParse("WLC", out var kind) && kind == SchedulerKind.WeightedLeastConnection, Is.True);
        Assert.That(Schedulers.TryParse("mh", out kind) && kind == SchedulerKind.Maglev, Is.True);
        Assert.That(Schedulers.TryParse("random", out _), Is.False);
        foreach (var k in Enum.GetValues<SchedulerKind>())
        {
            Assert.That(Schedulers.Get(k).Kind, Is.EqualTo(k));
        }
    }

    [Test]
    public void RoundRobinTakesMembersInOrderSkippingWeightZero()
    {
        var route = Route(SchedulerKind.RoundRobin, ("cas1", 1), ("cas2", 0), ("cas3", 5));
        Assert.That(Picks(route, 5), Is.EqualTo(new[] { 0, 2, 0, 2, 0 }));
    }

    [Test]
    public void WeightedRoundRobinFollowsLvsSequence()
    {
        var route = Route(SchedulerKind.WeightedRoundRobin, ("cas1", 4), ("cas2", 3), ("cas3", 2));
        Assert.That(Picks(route, 9), Is.EqualTo(new[] { 0, 0, 1, 0, 1, 2, 0, 1, 2 }));
    }

    [Test]
    public void WeightedRoundRobinStepsByGcd()
    {
        // gcd 100: thresholds 300, 200, 100 — distribution 3:1:2 per 6 picks.
        var route = Route(SchedulerKind.WeightedRoundRobin, ("cas1", 300), ("cas2", 100), ("cas3", 200));
        Assert.That(route.WeightGcd, Is.EqualTo(100));
        var picks = Picks(route, 600);
        Assert.That(picks.Count(p => p == 0), Is.EqualTo(300));
        Assert.That(picks.Count(p => p == 1), Is.EqualTo(100));
        Assert.That(picks.Count(p => p == 2), Is.EqualTo(200));
        Assert.That(picks.Take(6), Is.EqualTo(new[] { 0, 0, 2, 0, 1, 2 }));
    }

    [Test]
    public void LeastConnectionPicksSmallestOverhead()
    {
        var route = Route(SchedulerKind.LeastConnection, ("cas1", 1), ("cas2", 1), ("cas3", 1));
        var cursor = default(SchedulerCursor);

        // overhead = active * 256 + inactive: cas1 1*256, cas2 0*256+300, cas3 1*256+0 → cas1 (first of ties at 256).
        int[] active = [1, 0, 1];
        int[] inactive = [0, 300, 0];
        Assert.That(route.Scheduler.Select(route, new SchedulingInput(default, active, inactive), ref cursor), Is.EqualTo(0));
        inactive[1] = 200;
        Assert.That(route.Scheduler.Select(route, new SchedulingInput(default, active, inactive), ref cursor), Is.EqualTo(1));
    }

    [Test]
    public void WeightedLeastConnectionDividesByWeight()
    {
        var route = Route(SchedulerKind.WeightedLeastConnection, ("cas1", 1), ("cas2", 3));
        var cursor = default(SchedulerCursor);

        // cas1: 10/1, cas2: 20/3 → cas2; cas2 at 31/3 > 10 → cas1.
        Assert.That(route.Scheduler.Select(route, new SchedulingInput(default, [10, 20], [0, 0]), ref cursor), Is.EqualTo(1));
        Assert.That(route.Scheduler.Select(route, new SchedulingInput(default, [10, 31], [0, 0]), ref cursor), Is.EqualTo(0));
    }

    [Test]
    public void SourceHashIsStableAndWeighted()
    {
        var route = Route(SchedulerKind.SourceHash, ("cas1", 1), ("cas2", 3));
        Assert.That(route.LookupTable.Length, Is.EqualTo(SourceHashScheduler.TableSize));
        Assert.That(route.LookupTable.ToArray().Count(id => id == 1), Is.EqualTo(192));
        var cursor = default(SchedulerCursor);
        for (var i = 0; i < 100; i++)
        {
            var client = IpAddress128.FromIPv4(0xC0000200u + (uint)i);
            var first = route.Scheduler.Select(route, new SchedulingInput(client, [], []), ref cursor);
            var again = Route(SchedulerKind.SourceHash, ("cas1", 1), ("cas2", 3)).Scheduler.Select(route, new SchedulingInput(client, [5], [5]), ref cursor);
            Assert.That(again, Is.EqualTo(first));
        }
    }

    [Test]
    public void MaglevTableIsPrimeSizedFullAndBalanced()
    {
        var route = Route(SchedulerKind.Maglev, ("cas1", 1), ("cas2", 1), ("cas3", 1), ("cas4", 1));
        var table = route.LookupTable.ToArray();
        Assert.That(table.Length, Is.EqualTo(65537));
        Assert.That(table, Has.None.EqualTo(-1));
        foreach (var group in table.GroupBy(id => id))
        {
            Assert.That(group.Count(), Is.InRange(65537 / 4 * 0.97, 65537 / 4 * 1.03));
        }
    }

    [Test]
    public void MaglevWeightsShiftShare()
    {
        var table = Route(SchedulerKind.Maglev, ("cas1", 1), ("cas2", 3)).LookupTable.ToArray();
        var share = table.Count(id => id == 1) / (double)table.Length;
        Assert.That(share, Is.InRange(0.72, 0.78));
    }

    [Test]
    public void MaglevRemovingOneOfTenMovesAboutATenth()
    {
        var ten = Enumerable.Range(1, 10).Select(i => ($"cas{i}", 1)).ToArray();
        var before = Route(SchedulerKind.Maglev, ten);
        var after = Route(SchedulerKind.Maglev, [.. ten.Where(m => m.Item1 != "cas4")]);
        var removedId = before.Members.Single(m => m.Server == "cas4").ServerId;
        var cursor = default(SchedulerCursor);
        var moved = 0;
        var movedNotFromRemoved = 0;
        const int clients = 100_000;
        for (var i = 0; i < clients; i++)
        {
            var client = IpAddress128.FromIPv4(0x0A000000u + (uint)(i * 7919));
            var a = before.Scheduler.Select(before, new SchedulingInput(client, [], []), ref cursor);
            var b = after.Scheduler.Select(after, new SchedulingInput(client, [], []), ref cursor);
            if (a != b)
            {
                moved++;
                if (a != removedId)
                {
                    movedNotFromRemoved++;
                }
            }
        }

        Assert.That(moved / (double)clients, Is.LessThanOrEqualTo(0.10 + 0.03));
        Assert.That(movedNotFromRemoved / (double)clients, Is.LessThan(0.03), "clients of the surviving servers mostly stay");
    }

    [Test]
    public void MaglevIsIndependentOfMemberOrderAndBuilderInstance()
    {
        var a = Route(SchedulerKind.Maglev, ("cas1", 1), ("cas2", 1), ("cas3", 1));
        var b = Route(SchedulerKind.Maglev, ("cas1", 1), ("cas2", 1), ("cas3", 1));
        Assert.That(a.LookupTable.ToArray(), Is.EqualTo(b.LookupTable.ToArray()));
    }

    [Test]
    public void NoCandidatesGivesMinusOne()
    {
        foreach (var kind in Enum.GetValues<SchedulerKind>())
        {
            var route = Route(kind, ("cas1", 0));
            Assert.That(Picks(route, 1)[0], Is.EqualTo(-1), kind.ToString());
        }
    }
}
