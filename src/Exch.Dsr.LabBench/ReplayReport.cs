using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.LabBench;

/// <summary>What one server received in one service during a replay.</summary>
/// <param name="Clients">Distinct clients (masked by the persistence netmask) that got an entry pointing at this server.</param>
/// <param name="NewConnections">Connection entries made for this server (new flows, including re-dispatched ones).</param>
/// <param name="NewPersistenceEntries">Persistence entries made for this server (clients scheduled to it).</param>
/// <param name="Redispatches">Flows and clients moved to this server because their previous one was no longer usable.</param>
public sealed record ServerTraffic(
    string Service,
    string Server,
    long Frames,
    long Bytes,
    long Clients,
    long NewConnections,
    long NewPersistenceEntries,
    long Redispatches);

/// <summary>An events-file line as it took effect: when (replay clock), and whether it changed anything (then a snapshot was published).</summary>
public sealed record AppliedEvent(long UnixNanoseconds, ServerEvent Event, bool Changed);

/// <summary>The outcome of a replay, for the summary table and for tests.</summary>
public sealed record ReplayReport
{
    public required long FramesRead { get; init; }

    public required long FramesForwarded { get; init; }

    public required long BytesForwarded { get; init; }

    /// <summary>Time of the first and last frame read, Unix nanoseconds (0 when the input had no frame).</summary>
    public required long FirstFrameUnixNanoseconds { get; init; }

    public required long LastFrameUnixNanoseconds { get; init; }

    /// <summary>Per service, then per member in configuration order (the sorry server last, when it was used).</summary>
    public required IReadOnlyList<ServerTraffic> Servers { get; init; }

    /// <summary>Frames not forwarded, by verdict and reason, most frequent first.</summary>
    public required IReadOnlyList<KeyValuePair<string, long>> Dropped { get; init; }

    public required IReadOnlyList<AppliedEvent> Events { get; init; }

    /// <summary>Events timed after the last frame, never applied.</summary>
    public required int EventsNotReached { get; init; }

    /// <summary>Decisions made: the decisions file's line count, whether or not one was written.</summary>
    public required long Decisions { get; init; }

    /// <summary>Wall-clock time of the replay itself.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Set when the input ended in a truncated or corrupt record; every frame before it was replayed.</summary>
    public CaptureFileError? InputError { get; init; }

    public long FramesDropped => FramesRead - FramesForwarded;

    public double FramesPerSecond => Elapsed > TimeSpan.Zero ? FramesRead / Elapsed.TotalSeconds : 0;
}
