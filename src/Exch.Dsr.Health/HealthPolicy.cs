using Exch.Dsr.Health.Probes;

namespace Exch.Dsr.Health;

public enum HealthState
{
    /// <summary>Not probed yet. Lasts one probe: the first result decides (see <see cref="HealthPolicy"/>).</summary>
    Unknown,
    Up,
    Down,
}

/// <summary>The health of one server in one service after its latest probe.</summary>
public sealed record ServerHealth(
    HealthState State,
    int ConsecutiveSuccesses,
    int ConsecutiveFailures,
    string? LastDetail,
    DateTimeOffset? LastProbe)
{
    public static readonly ServerHealth Initial = new(HealthState.Unknown, 0, 0, null, null);

    /// <summary>
    /// The latest probe's result with the path it took, for a status view: e.g. "https /owa VIP 10.203.7.100:443 via
    /// CAS1: connect timed out after 400ms"; null before the first probe.
    /// </summary>
    public string? LastReason { get; init; }
}

/// <summary>
/// HAProxy's rise/fall state machine: an Up server goes Down after <c>fall</c> consecutive failures, a Down server
/// comes Up after <c>rise</c> consecutive successes; a result that goes the other way resets the count.
/// The first probe decides the initial state on its own. HAProxy starts servers Up and would send clients to a dead
/// CAS for fall × interval after a restart; LVS-style starting Down would keep every service empty for rise × interval.
/// One probe (one interval at most) is the shorter wait and never routes to a server that has just failed.
/// </summary>
public static class HealthPolicy
{
    /// <summary>The state after <paramref name="result"/>; <paramref name="changed"/> says whether the state flipped.</summary>
    public static ServerHealth Apply(
        ServerHealth current, ProbeResult result, int rise, int fall, DateTimeOffset now, out bool changed)
    {
        var successes = result.Healthy ? current.ConsecutiveSuccesses + 1 : 0;
        var failures = result.Healthy ? 0 : current.ConsecutiveFailures + 1;
        var state = current.State switch
        {
            HealthState.Unknown => result.Healthy ? HealthState.Up : HealthState.Down,
            HealthState.Up when failures >= fall => HealthState.Down,
            HealthState.Down when successes >= rise => HealthState.Up,
            _ => current.State,
        };
        changed = state != current.State;
        return new ServerHealth(state, successes, failures, result.Detail, now);
    }
}
