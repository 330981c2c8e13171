using Exch.Dsr.Engine.Forwarding;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// One forwarding thread as the control side sees it: its engine (to publish to) and a way to read the engine's
/// tables on that thread, between two batches.
/// </summary>
internal interface IForwardingThread
{
    ForwardingEngine Engine { get; }

    /// <summary>Runs <paramref name="read"/> on the forwarding thread; faults with <see cref="OperationCanceledException"/> once it has stopped.</summary>
    Task<T> InvokeAsync<T>(Func<ForwardingEngine, T> read);
}

/// <summary>A <see cref="ForwardingWorker"/>'s thread.</summary>
internal sealed class WorkerThread(ForwardingWorker worker) : IForwardingThread
{
    public ForwardingEngine Engine => worker.Engine;

    public Task<T> InvokeAsync<T>(Func<ForwardingEngine, T> read) => worker.InvokeOnThreadAsync(read);
}
