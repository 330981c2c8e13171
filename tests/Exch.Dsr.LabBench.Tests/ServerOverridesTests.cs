using Exch.Dsr.Engine.Routing;
using Exch.Dsr.LabBench;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ServerOverridesTests
{
    private static ServerEvent Event(string server, ServerEventAction action, string? service = null, int weight = 0) =>
        new(1, new EventTime(0, true), server, action, weight, service);

    [Test]
    public void ServersStartUpWithTheirConfiguredWeights()
    {
        var config = TestConfigs.Exchange();
        var overrides = new ServerOverrides();

        Assert.That(overrides.StatusOf("CAS1"), Is.EqualTo(new ServerStatus(ServerState.Up)));
        Assert.That(overrides.WeightOf(config.Services[0], config.Services[0].Members[2]), Is.EqualTo(2));
        Assert.That(overrides.ServerStatuses(), Is.Empty);
    }

    [Test]
    public void DisableOutranksDownWhichOutranksDrainAndEnableClearsOnlyTheOperatorsActions()
    {
        var config = TestConfigs.Exchange();
        var overrides = new ServerOverrides();

        Assert.That(overrides.Apply(config, Event("CAS1", ServerEventAction.Drain)), Is.True);
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Drained));
        overrides.Apply(config, Event("CAS1", ServerEventAction.Down));
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Down));
        overrides.Apply(config, Event("CAS1", ServerEventAction.Disable));
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Disabled));
        overrides.Apply(config, Event("CAS1", ServerEventAction.Up));
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Disabled), "health does not undo the operator");
        overrides.Apply(config, Event("CAS1", ServerEventAction.Enable));
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Up));
        Assert.That(overrides.ServerStatuses(), Is.Empty, "back to the configuration, nothing is overridden");
        Assert.That(overrides.Apply(config, Event("CAS1", ServerEventAction.Up)), Is.False, "already up");
    }

    [Test]
    public void AServerWideWeightOverridesEveryServiceAndAScopedOneOnlyItsService()
    {
        var config = TestConfigs.Exchange();
        var overrides = new ServerOverrides();
        var outlook = config.Services[0];
        var smtp = config.Services[2];

        overrides.Apply(config, Event("CAS3", ServerEventAction.Weight, weight: 4));
        Assert.That(overrides.StatusOf("CAS3"), Is.EqualTo(new ServerStatus(ServerState.Up, 4)));

        overrides.Apply(config, Event("CAS3", ServerEventAction.Weight, "outlook-rpc", weight: 5));
        overrides.Apply(config, Event("CAS1", ServerEventAction.Drain, "smtp"));
        Assert.That(overrides.WeightOf(outlook, outlook.Members[2]), Is.EqualTo(5));
        Assert.That(overrides.StatusOf("smtp", "CAS1").State, Is.EqualTo(ServerState.Drained), "a scoped drain is a state, shown as drained");
        Assert.That(overrides.StatusOf("outlook-rpc", "CAS1").State, Is.EqualTo(ServerState.Up));
        Assert.That(overrides.WeightOf(outlook, outlook.Members[0]), Is.EqualTo(1));

        Assert.That(overrides.Apply(config, Event("CAS1", ServerEventAction.Enable, "smtp")), Is.True);
        Assert.That(overrides.StatusOf("smtp", "CAS1").State, Is.EqualTo(ServerState.Up));
        Assert.That(overrides.Apply(config, Event("CAS3", ServerEventAction.Enable, "outlook-rpc")), Is.False, "enable ends a drain or disable, not a weight set on purpose");
        Assert.That(overrides.WeightOf(outlook, outlook.Members[2]), Is.EqualTo(5));
    }

    [Test]
    public void ValidationNamesEveryBadEventWithItsLine()
    {
        var config = TestConfigs.Exchange();
        var parsed = ServerEventsParser.Parse(
            "+1s CAS9 down\n+1s CAS1 weight 2 service pop3\n+1s CAS3 drain service owa-https\n+1s CAS1 down service smtp\n+1s SORRY disable\n+1s CAS2 weight 0 service owa-https\n+1s CAS2 disable service owa-https\n+1s CAS3 up service smtp\n",
            "ev");

        var (_, errors) = ReplayEventsFile.Check(parsed, config, "ev");

        Assert.That(errors, Is.EqualTo(new[]
        {
            "ev:1: no server 'CAS9' in the configuration (servers: CAS1, CAS2, CAS3, SORRY)",
            "ev:2: no service 'pop3' in the configuration (services: outlook-rpc, owa-https, smtp)",
            "ev:3: server 'CAS3' is not a member of service 'owa-https'",
        }));
    }

    [Test]
    public void ScopedDownUpAndDisableChangeOneServiceOnly()
    {
        var config = TestConfigs.Exchange();
        var overrides = new ServerOverrides();

        Assert.That(overrides.Apply(config, Event("CAS1", ServerEventAction.Down, "owa-https")), Is.True);
        Assert.That(overrides.StatusOf("owa-https", "CAS1").State, Is.EqualTo(ServerState.Down));
        Assert.That(overrides.StatusOf("outlook-rpc", "CAS1").State, Is.EqualTo(ServerState.Up));
        Assert.That(overrides.StatusOf("CAS1").State, Is.EqualTo(ServerState.Up), "the server itself is up");
        Assert.That(overrides.ServerStatuses(), Is.Empty);
        Assert.That(overrides.MemberStatuses(), Is.EqualTo(new Dictionary<MemberKey, ServerStatus> { [new("owa-https", "CAS1")] = new(ServerState.Down) }));

        overrides.Apply(config, Event("CAS1", ServerEventAction.Disable, "owa-https"));
        Assert.That(overrides.Apply(config, Event("CAS1", ServerEventAction.Up, "owa-https")), Is.False, "health does not undo the operator");
        Assert.That(overrides.StatusOf("owa-https", "CAS1").State, Is.EqualTo(ServerState.Disabled));
        overrides.Apply(config, Event("CAS1", ServerEventAction.Enable, "owa-https"));
        Assert.That(overrides.StatusOf("owa-https", "CAS1").State, Is.EqualTo(ServerState.Up));
        Assert.That(overrides.MemberStatuses(), Is.Empty, "back to the configuration, nothing is overridden");
    }

    [Test]
    public void InAServiceTheMoreRestrictiveLayerWinsAndEachLayerIsClearedByItsOwnScope()
    {
        var config = TestConfigs.Exchange();
        var overrides = new ServerOverrides();

        overrides.Apply(config, Event("CAS2", ServerEventAction.Drain));
        overrides.Apply(config, Event("CAS2", ServerEventAction.Weight, weight: 3));
        overrides.Apply(config, Event("CAS2", ServerEventAction.Down, "owa-https"));
        Assert.That(overrides.StatusOf("owa-https", "CAS2"), Is.EqualTo(new ServerStatus(ServerState.Down, 3)), "down outranks drained; the server-wide weight stays");
        Assert.That(overrides.StatusOf("outlook-rpc", "CAS2"), Is.EqualTo(new ServerStatus(ServerState.Drained, 3)));

        overrides.Apply(config, Event("CAS2", ServerEventAction.Disable));
        Assert.That(overrides.StatusOf("owa-https", "CAS2").State, Is.EqualTo(ServerState.Disabled));
        Assert.That(overrides.MemberStatuses()[new MemberKey("owa-https", "CAS2")].State, Is.EqualTo(ServerState.Disabled), "merged for the builder");

        overrides.Apply(config, Event("CAS2", ServerEventAction.Up));
        overrides.Apply(config, Event("CAS2", ServerEventAction.Enable));
        Assert.That(overrides.StatusOf("owa-https", "CAS2").State, Is.EqualTo(ServerState.Down), "a server-wide up leaves the OWA check failed");
        Assert.That(overrides.StatusOf("outlook-rpc", "CAS2").State, Is.EqualTo(ServerState.Up));
        overrides.Apply(config, Event("CAS2", ServerEventAction.Up, "owa-https"));
        Assert.That(overrides.StatusOf("owa-https", "CAS2").State, Is.EqualTo(ServerState.Up));
    }

    [Test]
    public void TheSnapshotTakesTheScopedStateForItsServiceOnly()
    {
        var config = TestConfigs.Exchange();
        var factory = RoutingSnapshotFactory.ForReplay(config);
        var overrides = new ServerOverrides();
        overrides.Apply(config, Event("CAS1", ServerEventAction.Down, "owa-https"));

        var snapshot = factory.Build(overrides);

        ServerState StateIn(string service) => snapshot.Services.Single(s => s.Name == service).Members.Single(m => m.Server == "CAS1").State;
        Assert.That(StateIn("owa-https"), Is.EqualTo(ServerState.Down));
        Assert.That(StateIn("outlook-rpc"), Is.EqualTo(ServerState.Up));
        Assert.That(StateIn("smtp"), Is.EqualTo(ServerState.Up));
        Assert.That(snapshot.Services.Single(s => s.Name == "owa-https").Candidates.ToArray(), Is.EqualTo(new[] { snapshot.Servers.Single(s => s.Name == "CAS2").Id }));
    }

    [Test]
    public void SyntaxAndConfigurationErrorsComeInLineOrder()
    {
        var parsed = ServerEventsParser.Parse("+1s CAS9 down\n+1x CAS1 down\n+1s CAS8 up\n", "ev");

        var (_, errors) = ReplayEventsFile.Check(parsed, TestConfigs.Exchange(), "ev");

        Assert.That(errors.Select(e => e[..5]), Is.EqualTo(new[] { "ev:1:", "ev:2:", "ev:3:" }));
    }
}
