namespace Exch.Dsr.LabBench;

/// <summary>What an events-file line does to a real server.</summary>
public enum ServerEventAction
{
    /// <summary>Health check failed: no new flows, and persisted clients are re-dispatched by the on-down policy.</summary>
    Down,

    /// <summary>Health check passes again (clears <see cref="Down"/>).</summary>
    Up,

    /// <summary>No new clients; clients already persisted to it stay.</summary>
    Drain,

    /// <summary>Taken out by the operator: its connections and clients are re-dispatched whatever on-down says; survives an <see cref="Up"/>.</summary>
    Disable,

    /// <summary>Clears <see cref="Drain"/> and <see cref="Disable"/>.</summary>
    Enable,

    /// <summary>Sets the scheduling weight (0 drains, like <see cref="Drain"/>).</summary>
    Weight,
}

/// <summary>
/// When an event applies: an offset from the first frame of the replay, or an absolute Unix time, both in nanoseconds.
/// </summary>
public readonly record struct EventTime(long Nanoseconds, bool IsRelative)
{
    /// <summary>The Unix time in nanoseconds at which the event applies, given the first frame's time.</summary>
    public long Resolve(long firstFrameUnixNanoseconds) => IsRelative ? firstFrameUnixNanoseconds + Nanoseconds : Nanoseconds;
}

/// <summary>
/// One line of an events file: at <see cref="Time"/>, <see cref="Action"/> happens to <see cref="Server"/>,
/// in every service it belongs to or only in <see cref="Service"/>.
/// </summary>
public sealed record ServerEvent(int Line, EventTime Time, string Server, ServerEventAction Action, int Weight, string? Service)
{
    public override string ToString()
    {
        var action = Action == ServerEventAction.Weight ? $"weight {Weight}" : Action.ToString().ToLowerInvariant();
        return Service is null ? $"{Server} {action}" : $"{Server} {action} service {Service}";
    }
}
