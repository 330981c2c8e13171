namespace Exch.Dsr.Engine.Forwarding;

/// <summary>
/// The frames of one receive, by index, for <see cref="ForwardingEngine.ProcessBatch"/>: a ring's batch, a test's
/// array. Implement it on a struct, so that the engine's generic batch loop reads frames without a virtual call.
/// </summary>
public interface IFrameBatch
{
    int Count { get; }

    /// <summary>Frame <paramref name="index"/>, writable in place; the same bytes every time it is asked for.</summary>
    Span<byte> this[int index] { get; }
}
