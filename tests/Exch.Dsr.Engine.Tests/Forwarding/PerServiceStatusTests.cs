using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// Status per (service, server): a CAS failing its OWA check keeps serving RPC. Two services on one VIP, round robin
/// over cas1 and cas2, shutdown-sessions so a down member's flows visibly move.
/// </summary>
public sealed class PerServiceStatusTests
{
    private const string Vip = "198.51.100.1";

    private static TestLab Lab()
        => new TestLab()
            .Add(TestLab.Service("owa", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 443) with { OnDown = OnDownBehavior.ShutdownSessions })
            .Add(TestLab.Service("rpc", Vip, SchedulerKind.RoundRobin, ["cas1", "cas2"], 135) with { OnDown = OnDownBehavior.ShutdownSessions });

    private static byte[] Syn(int client, ushort port) => TestFrames.Tcp($"192.0.2.{client}", 40000, Vip, port, TcpFlags.Syn);

    private static byte[] Ack(int client, ushort port) => TestFrames.Tcp($"192.0.2.{client}", 40000, Vip, port, TcpFlags.Ack);

    [Test]
    public void ServerDownInOneServiceIsStillUsedByAnother()
    {
        var lab = Lab();
        lab.Publish();
        Assert.That(lab.Target(Syn(1, 443), 0), Is.EqualTo("cas1"));
        Assert.That(lab.Target(Syn(1, 135), 0), Is.EqualTo("cas1"));

        lab.SetState("owa", "cas1", ServerState.Down).Publish();

        var moved = lab.Send(Ack(1, 443), Time.Second);
        Assert.That(lab.ServerName(moved.Decision.ServerId), Is.EqualTo("cas2"), "the OWA flow leaves cas1");
        Assert.That(moved.Decision.Reason, Is.EqualTo(DecisionReason.Redispatched));
        var stayed = lab.Send(Ack(1, 135), Time.Second);
        Assert.That(lab.ServerName(stayed.Decision.ServerId), Is.EqualTo("cas1"), "the RPC flow stays on cas1");
        Assert.That(stayed.Decision.Reason, Is.EqualTo(DecisionReason.ExistingFlow));

        var owa = Enumerable.Range(10, 6).Select(c => lab.Target(Syn(c, 443), Time.Second)).ToArray();
        var rpc = Enumerable.Range(10, 6).Select(c => lab.Target(Syn(c, 135), Time.Second)).ToArray();
        Assert.That(owa, Is.All.EqualTo("cas2"), "no new OWA client on cas1");
        Assert.That(rpc, Does.Contain("cas1").And.Contain("cas2"), "RPC still uses both");

        var snapshot = lab.Snapshot;
        Assert.That(snapshot.Services.Single(s => s.Name == "owa").Members.Single(m => m.Server == "cas1").State, Is.EqualTo(ServerState.Down));
        Assert.That(snapshot.Services.Single(s => s.Name == "rpc").Members.Single(m => m.Server == "cas1").State, Is.EqualTo(ServerState.Up));
        Assert.That(snapshot.GetServerState(lab.ServerId("cas1")), Is.EqualTo(ServerState.Up), "the server itself is up");
    }

    [Test]
    public void MemberStatusReplacesTheServerStatusInItsServiceOnly()
    {
        var lab = Lab();
        lab.SetState("cas1", ServerState.Disabled).SetState("rpc", "cas1", ServerState.Up).Publish();

        Assert.That(Enumerable.Range(10, 4).Select(c => lab.Target(Syn(c, 443), 0)), Is.All.EqualTo("cas2"));
        Assert.That(Enumerable.Range(10, 4).Select(c => lab.Target(Syn(c, 135), 0)), Does.Contain("cas1"));
    }

    [Test]
    public void MemberWeightOverrideQuiescesOneService()
    {
        var lab = Lab();
        lab.SetState("owa", "cas2", ServerState.Up, weight: 0).Publish();

        Assert.That(Enumerable.Range(10, 4).Select(c => lab.Target(Syn(c, 443), 0)), Is.All.EqualTo("cas1"));
        Assert.That(Enumerable.Range(10, 4).Select(c => lab.Target(Syn(c, 135), 0)), Does.Contain("cas2"));
        Assert.That(lab.Snapshot.Services.Single(s => s.Name == "owa").Members.Single(m => m.Server == "cas2").Weight, Is.Zero);
    }

    [Test]
    public void SorryServerDisabledInOneService()
    {
        var lab = new TestLab()
            .Add(TestLab.Service("owa", Vip, SchedulerKind.RoundRobin, ["cas1"], 443) with { SorryServer = "cas3" })
            .Add(TestLab.Service("rpc", Vip, SchedulerKind.RoundRobin, ["cas1"], 135) with { SorryServer = "cas3" });
        lab.SetState("cas1", ServerState.Disabled).SetState("owa", "cas3", ServerState.Disabled).Publish();

        Assert.That(lab.Send(Syn(1, 443), 0).Verdict, Is.EqualTo(ForwardVerdict.NoServer));
        var rpc = lab.Send(Syn(1, 135), 0);
        Assert.That(rpc.Decision.Reason, Is.EqualTo(DecisionReason.Sorry));
        Assert.That(lab.ServerName(rpc.Decision.ServerId), Is.EqualTo("cas3"));
    }
}
