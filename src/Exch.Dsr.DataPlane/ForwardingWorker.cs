using System.Collections.Concurrent;
using System.Diagnostics;
using Exch.Dsr.Capture.Ports;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// One forwarding thread on one port: receive a batch, run each frame through the engine in place, send the
/// forwarded ones back out, answer ARP / echo / NS for owned VIPs, feed ARP senders and neighbour advertisements to
/// the neighbour table, flush. Control work (gratuitous ARP, the resolver's ARP requests and neighbour solicitations)
/// is asked for with flags the thread reads between batches, because only this thread may send on the port.
/// </summary>
/// <remarks>
/// The per-frame path allocates nothing, takes no lock and throws nothing: the engine and composer are
/// allocation-free, the reply buffer is preallocated, counters are plain stores by this thread alone (other threads
/// read them with volatile loads and may see values a batch old). Receive errors end the thread: the port is broken.
/// </remarks>
internal sealed class ForwardingWorker
{
    private const int ReceiveTimeoutMilliseconds = 100;

    private readonly IFramePort _port;
    private readonly ForwardingEngine _engine;
    private readonly NeighbourTable _neighbours;
    private readonly bool _ownVips;
    private readonly MacAddress _ourMac;
    private readonly IpAddress128 _arpSenderIp;
    private readonly IpAddress128[] _ipv4Vips;
    private readonly FrameBatch _batch;

    // Per receive: the indexes of the frames the engine decides (the untruncated ones), and its verdicts for them.
    private readonly int[] _decided;
    private readonly ForwardVerdict[] _batchVerdicts;
    private readonly byte[] _reply;
    private readonly long[] _verdicts = new long[Enum.GetValues<ForwardVerdict>().Length];
    private readonly double _nanosecondsPerTick = 1e9 / Stopwatch.Frequency;
    private readonly ConcurrentQueue<IThreadWork> _onThread = new();
    private Thread? _thread;
    private volatile bool _stopping;
    private int _announceRequested;
    private int _resolveRequested;
    private long _answered;
    private long _truncated;
    private long _controlFramesSent;

    public ForwardingWorker(IFramePort port, ForwardingEngine engine, NeighbourTable neighbours, bool ownVips, IpAddress128 arpSenderIp, IpAddress128[] ipv4Vips, int batchSize)
    {
        _port = port;
        _engine = engine;
        _neighbours = neighbours;
        _ownVips = ownVips;
        _ourMac = engine.ApplianceMac;
        _arpSenderIp = arpSenderIp;
        _ipv4Vips = ipv4Vips;
        _batch = new FrameBatch(batchSize);
        _decided = new int[batchSize];
        _batchVerdicts = new ForwardVerdict[batchSize];
        _reply = GC.AllocateArray<byte>(Math.Max(port.MaxFrameLength, 1536), pinned: true);
    }

    public IFramePort Port => _port;

    /// <summary>
    /// The source of the resolver's neighbour solicitations: the interface's IPv6 link-local address, or the
    /// unspecified address (the default) when it has none; servers then answer to all-nodes, which is seen as well.
    /// </summary>
    public IpAddress128 NdpSenderIp { get; init; }

    public ForwardingEngine Engine => _engine;

    /// <summary>Set when the thread ended on an error; null while it runs or after a clean stop.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Called on the worker's thread when it ends on an error.</summary>
    public Action<ForwardingWorker, Exception>? Failed { get; init; }

    public long Verdicts(ForwardVerdict verdict) => Volatile.Read(ref _verdicts[(int)verdict]);

    public long Answered => Volatile.Read(ref _answered);

    public long Truncated => Volatile.Read(ref _truncated);

    public long ControlFramesSent => Volatile.Read(ref _controlFramesSent);

    public void Start(string name)
    {
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _thread.Start();
    }

    /// <summary>Asks the thread to send a gratuitous ARP for every IPv4 VIP before its next receive.</summary>
    public void RequestAnnouncement()
    {
        Volatile.Write(ref _announceRequested, 1);
        _port.Wakeup();
    }

    /// <summary>Asks the thread to send an ARP request or neighbour solicitation for every server the neighbour table watches.</summary>
    public void RequestResolution()
    {
        Volatile.Write(ref _resolveRequested, 1);
        _port.Wakeup();
    }

    /// <summary>
    /// Runs <paramref name="read"/> on the forwarding thread between two batches (within one receive timeout) and
    /// returns its result: how the control side reads tables that belong to that thread without a lock. The
    /// delegate must be short; it delays the next batch. Faults with <see cref="OperationCanceledException"/> when
    /// the thread has stopped.
    /// </summary>
    public Task<T> InvokeOnThreadAsync<T>(Func<ForwardingEngine, T> read)
    {
        var work = new ThreadWork<T>(read);
        _onThread.Enqueue(work);
        if (_stopping || _thread is not { IsAlive: true })
        {
            DrainOnThreadWork(cancel: true);
        }
        else
        {
            _port.Wakeup();
        }

        return work.Result;
    }

    /// <summary>Stops the thread and waits for it (bounded); the port is left open for the caller to dispose.</summary>
    public bool Stop(TimeSpan wait)
    {
        _stopping = true;
        _port.Wakeup();
        return _thread is null || _thread.Join(wait);
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                if (Volatile.Read(ref _announceRequested) != 0 || Volatile.Read(ref _resolveRequested) != 0)
                {
                    SendControlFrames();
                }

                if (!_onThread.IsEmpty)
                {
                    DrainOnThreadWork(cancel: false);
                }

                int count = _port.Receive(_batch, ReceiveTimeoutMilliseconds);
                if (count == 0)
                {
                    _engine.Idle(Now());
                    continue;
                }

                ProcessBatch(count);
                _port.Flush();
            }
        }
        catch (ObjectDisposedException) when (_stopping)
        {
            // Disposed while stopping: a clean end.
        }
        catch (Exception e)
        {
            Failure = e;
            Failed?.Invoke(this, e);
        }
        finally
        {
            DrainOnThreadWork(cancel: true);
        }
    }

    private void DrainOnThreadWork(bool cancel)
    {
        while (_onThread.TryDequeue(out var work))
        {
            if (cancel)
            {
                work.Cancel();
            }
            else
            {
                work.Run(_engine);
            }
        }
    }

    private void ProcessBatch(int count)
    {
        long now = Now();
        var decided = 0;
        for (int i = 0; i < count; i++)
        {
            if (_batch.IsTruncated(i))
            {
                _truncated++;
            }
            else
            {
                _decided[decided++] = i;
            }
        }

        // One engine call for the whole receive: it reads every frame's flow once and starts loading the connection
        // lines of a chunk of frames before deciding any of them (at 1M clients that overlap is most of a frame's
        // time: tests/Exch.Dsr.Benchmarks).
        var frames = new DecidedFrames(_batch, _decided, decided);
        var verdicts = _batchVerdicts.AsSpan(0, decided);
        _engine.ProcessBatch(ref frames, now, verdicts);
        for (int j = 0; j < decided; j++)
        {
            Act(_batch[_decided[j]], verdicts[j]);
        }
    }

    private long Now() => (long)(Stopwatch.GetTimestamp() * _nanosecondsPerTick);

    private void Act(Span<byte> frame, ForwardVerdict verdict)
    {
        _verdicts[(int)verdict]++;
        switch (verdict)
        {
            case ForwardVerdict.Forwarded:
                _port.TrySend(frame);
                break;
            case ForwardVerdict.NotOurs:
                ObserveNeighbour(frame);
                break;
            case ForwardVerdict.ArpRequestForVip:
                ObserveArp(frame);
                Answer(verdict, frame);
                break;
            case ForwardVerdict.EchoRequestForVip:
            case ForwardVerdict.NeighborSolicitationForVip:
                Answer(verdict, frame);
                break;
        }
    }

    private void ObserveArp(ReadOnlySpan<byte> frame)
    {
        if (VipResponder.TryReadArpSender(frame, out var senderIp, out var senderMac))
        {
            _neighbours.Observe(senderIp, senderMac);
        }
    }

    private void ObserveNeighbour(ReadOnlySpan<byte> frame)
    {
        if (VipResponder.TryReadArpSender(frame, out var ip, out var mac) || VipResponder.TryReadNeighbourAdvertisement(frame, out ip, out mac))
        {
            _neighbours.Observe(ip, mac);
        }
    }

    private void Answer(ForwardVerdict verdict, ReadOnlySpan<byte> request)
    {
        if (VipResponder.TryAnswer(verdict, request, _ownVips, _ourMac, _reply, out int length) && _port.TrySend(_reply.AsSpan(0, length)))
        {
            _answered++;
        }
    }

    private void SendControlFrames()
    {
        if (Interlocked.Exchange(ref _announceRequested, 0) != 0)
        {
            foreach (var vip in _ipv4Vips)
            {
                if (VipResponder.TryComposeGratuitousArp(_reply, vip, _ourMac, out int length) && _port.TrySend(_reply.AsSpan(0, length)))
                {
                    _controlFramesSent++;
                }
            }
        }

        if (Interlocked.Exchange(ref _resolveRequested, 0) != 0)
        {
            foreach (var target in _neighbours.ArpTargets)
            {
                if (VipResponder.TryComposeArpRequest(_reply, target, _arpSenderIp, _ourMac, out int length) && _port.TrySend(_reply.AsSpan(0, length)))
                {
                    _controlFramesSent++;
                }
            }

            foreach (var target in _neighbours.NdpTargets)
            {
                if (VipResponder.TryComposeNeighbourSolicitation(_reply, target, NdpSenderIp, _ourMac, out int length) && _port.TrySend(_reply.AsSpan(0, length)))
                {
                    _controlFramesSent++;
                }
            }
        }

        _port.Flush();
    }

    private interface IThreadWork
    {
        void Run(ForwardingEngine engine);

        void Cancel();
    }

    private sealed class ThreadWork<T>(Func<ForwardingEngine, T> read) : IThreadWork
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Result => _result.Task;

        public void Run(ForwardingEngine engine)
        {
            try
            {
                _result.TrySetResult(read(engine));
            }
            catch (Exception e)
            {
                _result.TrySetException(e);
            }
        }

        // The thread is gone: nothing may read its tables any more.
        public void Cancel() => _result.TrySetCanceled();
    }
}

/// <summary>The untruncated frames of a receive, in order, as the engine's batch.</summary>
internal readonly struct DecidedFrames(FrameBatch batch, int[] indexes, int count) : IFrameBatch
{
    public int Count => count;

    public Span<byte> this[int index] => batch[indexes[index]];
}
