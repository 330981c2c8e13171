using System.Net;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Routing;

public sealed class RoutingSnapshotBuilderTests
{
    private static readonly RealServer[] Servers =
        [.. Enumerable.Range(1, 3).Select(i => new RealServer($"cas{i}", IPAddress.Parse($"10.0.1.{i}"), TestAddresses.Server(i)))];

    [Test]
    public void IdsStayStableByNameAcrossRebuilds()
    {
        var builder = new RoutingSnapshotBuilder();
        var first = builder.Build(Servers, [TestLab.Service("a", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443)]);
        var second = builder.Build([Servers[2], Servers[0]], [
            TestLab.Service("b", "198.51.100.1", SchedulerKind.RoundRobin, ["cas3"], 80),
            TestLab.Service("a", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443)]);
        Assert.That(second.Servers.Single(s => s.Name == "cas1").Id, Is.EqualTo(first.Servers.Single(s => s.Name == "cas1").Id));
        Assert.That(second.Services.Single(s => s.Name == "a").Id, Is.EqualTo(first.Services[0].Id));
        Assert.That(second.Version, Is.GreaterThan(first.Version));
        Assert.That(second.GetServerState(first.Servers.Single(s => s.Name == "cas2").Id), Is.EqualTo(ServerState.Disabled), "removed server");
    }

    [Test]
    public void LooksUpServicesByVipProtocolAndPort()
    {
        var snapshot = new RoutingSnapshotBuilder().Build(Servers, [
            TestLab.Service("web", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443, 80),
            TestLab.Service("dns", "198.51.100.1", SchedulerKind.RoundRobin, ["cas2"], 53) with { Protocol = TransportProtocol.Udp },
            TestLab.Service("web6", "2001:db8::1", SchedulerKind.RoundRobin, ["cas3"], 443)]);
        Assert.That(snapshot.TryFindService(TestAddresses.Ip("198.51.100.1"), IpProtocols.Tcp, 80, out var s) && s!.Name == "web", Is.True);
        Assert.That(snapshot.TryFindService(TestAddresses.Ip("198.51.100.1"), IpProtocols.Udp, 53, out s) && s!.Name == "dns", Is.True);
        Assert.That(snapshot.TryFindService(TestAddresses.Ip("198.51.100.1"), IpProtocols.Udp, 443, out _), Is.False);
        Assert.That(snapshot.TryFindService(TestAddresses.Ip("2001:db8::1"), IpProtocols.Tcp, 443, out s) && s!.Name == "web6", Is.True);
        Assert.That(snapshot.IsVip(TestAddresses.Ip("2001:db8::1")), Is.True);
        Assert.That(snapshot.IsVip(TestAddresses.Ip("2001:db8::2")), Is.False);
        Assert.That(snapshot.IsServerMac(TestAddresses.Server(2)), Is.True);
        Assert.That(snapshot.IsServerMac(TestAddresses.Appliance), Is.False);
    }

    [Test]
    public void CollectsEveryError()
    {
        var ok = new RoutingSnapshotBuilder().TryBuild(
            [.. Servers, Servers[0], new RealServer("bad", IPAddress.Loopback, MacAddress.Broadcast)],
            [
                TestLab.Service("a", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "nope"], 443) with { PersistencePrefixLength = 33, SorryServer = "ghost" },
                TestLab.Service("b", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443),
                TestLab.Service("c", "198.51.100.1", SchedulerKind.RoundRobin, [], []),
            ],
            new Dictionary<string, ServerStatus> { ["cas1"] = new(ServerState.Up, -1) },
            out var snapshot,
            out var errors);
        Assert.That(ok, Is.False);
        Assert.That(snapshot, Is.Null);
        Assert.That(errors, Has.Count.EqualTo(8), string.Join("\n", errors));
        Assert.Throws<InvalidOperationException>(() => new RoutingSnapshotBuilder().Build(Servers, [TestLab.Service("x", "198.51.100.1", SchedulerKind.RoundRobin, ["zz"], 1)]));
    }

    [Test]
    public void DispositionsFollowStateAndOnDown()
    {
        var status = new Dictionary<string, ServerStatus>
        {
            ["cas1"] = new(ServerState.Down),
            ["cas2"] = new(ServerState.Drained),
            ["cas3"] = new(ServerState.Up, WeightOverride: 0),
        };
        MemberDisposition D(OnDownBehavior onDown, int id)
            => new RoutingSnapshotBuilder().Build(Servers, [TestLab.Service("a", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2", "cas3"], 443) with { OnDown = onDown }], status).Services[0].GetDisposition(id);

        const MemberDisposition keeps = MemberDisposition.Member | MemberDisposition.KeepsConnections | MemberDisposition.KeepsPersistence;
        Assert.That(D(OnDownBehavior.Quiesce, 0), Is.EqualTo(keeps));
        Assert.That(D(OnDownBehavior.QuiesceExpire, 0), Is.EqualTo(MemberDisposition.Member | MemberDisposition.KeepsConnections | MemberDisposition.ExpiresPersistence));
        Assert.That(D(OnDownBehavior.ShutdownSessions, 0), Is.EqualTo(MemberDisposition.Member));
        Assert.That(D(OnDownBehavior.ShutdownSessions, 1), Is.EqualTo(keeps), "drained");
        Assert.That(D(OnDownBehavior.ShutdownSessions, 2), Is.EqualTo(keeps), "weight 0 is quiescent");
        Assert.That(D(OnDownBehavior.Quiesce, 7), Is.EqualTo(MemberDisposition.None));
    }

    [Test]
    public void MemberStatusAppliesToItsServiceAndIsValidated()
    {
        var services = new[]
        {
            TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2"], 443),
            TestLab.Service("rpc", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2"], 135),
        };
        var snapshot = new RoutingSnapshotBuilder().Build(
            Servers,
            services,
            new Dictionary<string, ServerStatus> { ["cas2"] = new(ServerState.Drained) },
            new Dictionary<MemberKey, ServerStatus> { [new("owa", "cas1")] = new(ServerState.Down, 5), [new("nope", "cas1")] = new(ServerState.Disabled) });

        MemberView M(string service, string server) => snapshot.Services.Single(s => s.Name == service).Members.Single(m => m.Server == server);
        Assert.That(M("owa", "cas1"), Is.EqualTo(new MemberView(0, "cas1", 5, ServerState.Down, MemberDisposition.Member | MemberDisposition.KeepsConnections | MemberDisposition.KeepsPersistence)));
        Assert.That(M("rpc", "cas1").State, Is.EqualTo(ServerState.Up));
        Assert.That(M("rpc", "cas1").Weight, Is.EqualTo(1));
        Assert.That(M("owa", "cas2").State, Is.EqualTo(ServerState.Drained), "falls back to the server's status");
        Assert.That(snapshot.Servers.Single(s => s.Name == "cas1").State, Is.EqualTo(ServerState.Up), "server view keeps the per-server state");

        var ok = new RoutingSnapshotBuilder().TryBuild(
            Servers,
            services,
            null,
            new Dictionary<MemberKey, ServerStatus> { [new("owa", "cas1")] = new(ServerState.Up, -2) },
            out _,
            out var errors);
        Assert.That(ok, Is.False);
        Assert.That(errors, Is.EqualTo(new[] { "Server 'cas1' in service 'owa': weight override -2 is negative." }));
    }
}
