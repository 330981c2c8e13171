using Exch.Dsr.Health.Probes;

namespace Exch.Dsr.Health.Tests;

public sealed class HealthPolicyTests
{
    private static readonly ProbeResult Ok = new(true, "status 200");
    private static readonly ProbeResult Bad = new(false, "status 500");
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static (ServerHealth Health, bool[] Changes) Run(ServerHealth start, params ProbeResult[] results)
    {
        var changes = new bool[results.Length];
        var health = start;
        for (var i = 0; i < results.Length; i++)
        {
            health = HealthPolicy.Apply(health, results[i], rise: 2, fall: 3, Now, out changes[i]);
        }

        return (health, changes);
    }

    [Test]
    public void The_first_probe_decides_the_initial_state()
    {
        Assert.That(Run(ServerHealth.Initial, Ok).Health.State, Is.EqualTo(HealthState.Up));
        Assert.That(Run(ServerHealth.Initial, Bad).Health.State, Is.EqualTo(HealthState.Down));
    }

    [Test]
    public void Fall_three_keeps_the_server_up_through_two_failures_and_takes_it_down_on_the_third()
    {
        var (health, changes) = Run(ServerHealth.Initial, Ok, Bad, Bad, Bad);
        Assert.That(changes, Is.EqualTo(new[] { true, false, false, true }));
        Assert.That(health, Is.EqualTo(new ServerHealth(HealthState.Down, 0, 3, "status 500", Now)));
    }

    [Test]
    public void A_success_between_failures_resets_the_fall_count()
    {
        var (health, changes) = Run(ServerHealth.Initial, Ok, Bad, Bad, Ok, Bad, Bad);
        Assert.That(health.State, Is.EqualTo(HealthState.Up));
        Assert.That(health.ConsecutiveFailures, Is.EqualTo(2));
        Assert.That(changes.Skip(1), Is.All.False);
    }

    [Test]
    public void Rise_two_keeps_the_server_down_after_one_success_and_brings_it_up_on_the_second()
    {
        var (health, changes) = Run(ServerHealth.Initial, Bad, Ok, Ok);
        Assert.That(changes, Is.EqualTo(new[] { true, false, true }));
        Assert.That(health, Is.EqualTo(new ServerHealth(HealthState.Up, 2, 0, "status 200", Now)));
    }

    [Test]
    public void A_failure_between_successes_resets_the_rise_count()
    {
        var (health, _) = Run(ServerHealth.Initial, Bad, Ok, Bad, Ok);
        Assert.That(health.State, Is.EqualTo(HealthState.Down));
        Assert.That(health.ConsecutiveSuccesses, Is.EqualTo(1));
    }
}
