using System.Diagnostics;
using Exch.Dsr.Capture.LibPcap;
using Exch.Dsr.Capture.PacketRing;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

public enum Backend
{
    Pcap,
    Ring,
}

/// <summary>
/// The port contract, run against both backends with real frames through a veth pair inside a namespace the
/// fixture builds and deletes: cap-a and cap-b are the two ends of one wire, cap-c / cap-d a second one for tests
/// that take a link down.
/// </summary>
[TestFixture(Backend.Pcap)]
[TestFixture(Backend.Ring)]
[NonParallelizable]
public sealed class FramePortTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);
    private readonly Backend _backend;
    private NetnsLab? _lab;

    public FramePortTests(Backend backend) => _backend = backend;

    private NetnsLab Lab => _lab ?? throw new InvalidOperationException("no lab");

    [OneTimeSetUp]
    public void CreateLab()
    {
        NetnsLab.RequireRoot();
        if (_backend == Backend.Pcap && !PcapPort.IsLibraryAvailable(out string message))
        {
            Assert.Ignore($"install libpcap0.8 ({message})");
        }

        _lab = NetnsLab.Create();
        _lab.AddVethPair("cap-a", "cap-b");
        _lab.AddVethPair("cap-c", "cap-d");
    }

    [OneTimeTearDown]
    public void DeleteLab() => _lab?.Dispose();

    [Test]
    public void A_frame_sent_into_one_end_arrives_at_the_other_byte_for_byte()
    {
        using IFramePort sender = Open("cap-a");
        using IFramePort receiver = Open("cap-b");
        byte[][] frames = [LabFrames.Marked(100, 60), LabFrames.Marked(101, 61), LabFrames.Marked(102, 128), LabFrames.Marked(103, 1000), LabFrames.Marked(104, 1514)];

        Receiving.SendAll(sender, frames);
        var (received, _) = Receiving.Collect(receiver, frames.Length, Patience);

        Assert.That(received.Keys, Is.EquivalentTo(new[] { 100, 101, 102, 103, 104 }));
        foreach (byte[] frame in frames)
        {
            Assert.That(received[LabFrames.SequenceOf(frame)], Is.EqualTo(frame), $"frame of {frame.Length} bytes");
        }
    }

    [Test]
    public void A_port_sees_only_incoming_frames_not_those_sent_out_of_its_interface()
    {
        using IFramePort a = Open("cap-a");
        using IFramePort otherOnA = Open("cap-a", throughQdisc: true);
        using IFramePort b = Open("cap-b");

        // Out of cap-a through the kernel's normal transmit path, where packet taps see outgoing frames.
        Receiving.SendAll(otherOnA, Enumerable.Range(200, 20).Select(i => LabFrames.Marked(i)));
        Receiving.SendAll(a, Enumerable.Range(250, 20).Select(i => LabFrames.Marked(i)));
        var (atB, _) = Receiving.Collect(b, 40, Patience);
        Receiving.SendAll(b, Enumerable.Range(300, 5).Select(i => LabFrames.Marked(i)));
        var (atA, _) = Receiving.Collect(a, 5, Patience);
        Dictionary<int, byte[]> laterAtA = Receiving.Drain(a, TimeSpan.FromMilliseconds(300));

        Assert.That(atB.Keys, Is.EquivalentTo(Enumerable.Range(200, 20).Concat(Enumerable.Range(250, 20))), "the frames went out");
        Assert.That(atA.Keys.Concat(laterAtA.Keys), Is.EquivalentTo(Enumerable.Range(300, 5)), "a sees b's frames and nothing sent out of cap-a");
    }

    [Test]
    public void A_vlan_tagged_frame_arrives_with_its_tag_and_is_reinjected_as_received()
    {
        using IFramePort a = Open("cap-a");
        using IFramePort b = Open("cap-b");
        byte[] tagged = LabFrames.Tagged(400, tci: 0x2064); // priority 1, VLAN 100

        Receiving.SendAll(a, [tagged]);

        // Forward it as the data plane would: straight from the batch, in place, back out the same port.
        var batch = new FrameBatch(16);
        byte[]? seen = null;
        var clock = Stopwatch.StartNew();
        while (seen is null && clock.Elapsed < Patience)
        {
            int count = b.Receive(batch, 50);
            for (int i = 0; i < count; i++)
            {
                if (LabFrames.SequenceOf(batch[i]) == 400)
                {
                    seen = batch[i].ToArray();
                    Assert.That(b.TrySend(batch[i]), Is.True);
                    b.Flush();
                }
            }
        }

        var (backAtA, _) = Receiving.Collect(a, 1, Patience);

        Assert.That(seen, Is.EqualTo(tagged), "tag 0x8100/0x2064 present in the handed-over bytes");
        Assert.That(backAtA.GetValueOrDefault(400), Is.EqualTo(tagged), "re-injected with the tag");
        if (_backend == Backend.Ring)
        {
            Assert.That(b.ReadCounters().VlanTagsReinserted, Is.GreaterThanOrEqualTo(1), "veth stripped the tag into tp_vlan_tci");
        }
    }

    [Test]
    public void One_receive_returns_many_frames_when_many_are_waiting()
    {
        using IFramePort a = Open("cap-a");
        using IFramePort b = Open("cap-b");
        const int Count = 500;

        Receiving.SendAll(a, Enumerable.Range(1000, Count).Select(i => LabFrames.Marked(i, 60 + (i % 100))));
        Thread.Sleep(50); // let the block timeout (1 ms) pass so the ring has full blocks waiting
        var (received, largestBatch) = Receiving.Collect(b, Count, Patience, batchCapacity: 256);

        FramePortCounters sent = a.ReadCounters();
        Assert.That(sent.Sent + sent.SendFailures, Is.EqualTo(Count));
        Assert.That(received, Has.Count.EqualTo(sent.Sent), "every frame the kernel took arrived");
        Assert.That(sent.Sent, Is.EqualTo(Count), $"send failures: {string.Join(", ", sent.SendFailuresByErrno)}");
        Assert.That(largestBatch, Is.GreaterThan(16), "frames come in batches, not one per call");
    }

    [Test]
    public void Receiving_and_forwarding_allocate_nothing()
    {
        using IFramePort a = Open("cap-a");
        using IFramePort b = Open("cap-b");
        const int Count = 200;
        var batch = new FrameBatch(32);
        b.Receive(batch, 1); // first calls bind the imports (poll, sendmmsg, ...) through the resolver, which allocates
        b.TrySend(LabFrames.Marked(-1));
        b.Flush();
        Receiving.SendAll(a, Enumerable.Range(2000, Count).Select(i => LabFrames.Marked(i)));

        int forwarded = 0;
        var clock = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 1000 && forwarded < Count && clock.ElapsedMilliseconds < 5000; round++)
        {
            int count = b.Receive(batch, 20);
            for (int i = 0; i < count; i++)
            {
                if (LabFrames.SequenceOf(batch[i]) >= 2000)
                {
                    b.TrySend(batch[i]);
                    forwarded++;
                }
            }

            b.Flush();
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(forwarded, Is.EqualTo(Count));
        Assert.That(allocated, Is.Zero, "bytes allocated while receiving and forwarding");
    }

    [Test]
    public void Wakeup_returns_a_blocked_receive_promptly()
    {
        using IFramePort b = Open("cap-b");
        (int Count, TimeSpan Elapsed) outcome = default;
        var receiver = new Thread(() =>
        {
            var batch = new FrameBatch(8);
            var clock = Stopwatch.StartNew();
            int count = b.Receive(batch, Timeout.Infinite);
            outcome = (count, clock.Elapsed);
        });

        receiver.Start();
        Thread.Sleep(200);
        b.Wakeup();

        Assert.That(receiver.Join(TimeSpan.FromSeconds(3)), Is.True, "the receive returned");
        Assert.That(outcome.Count, Is.Zero);
        Assert.That(outcome.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void Dispose_returns_a_blocked_receive_and_later_calls_throw()
    {
        IFramePort b = Open("cap-b");
        Exception? failure = null;
        int count = -1;
        var receiver = new Thread(() =>
        {
            try
            {
                count = b.Receive(new FrameBatch(8), Timeout.Infinite);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });

        receiver.Start();
        Thread.Sleep(200);
        b.Dispose();

        Assert.That(receiver.Join(TimeSpan.FromSeconds(3)), Is.True, "the receive returned");
        Assert.That(failure, Is.Null);
        Assert.That(count, Is.Zero);
        Assert.That(() => b.Receive(new FrameBatch(8), 0), Throws.InstanceOf<ObjectDisposedException>());
        b.Dispose(); // twice is fine
    }

    [Test]
    public void Counters_count_frames_sent_received_refused_and_seen_by_the_kernel()
    {
        using IFramePort a = Open("cap-a");
        using IFramePort b = Open("cap-b");

        Receiving.SendAll(a, Enumerable.Range(500, 10).Select(i => LabFrames.Marked(i)));
        var (received, _) = Receiving.Collect(b, 10, Patience);
        bool tooLong = a.TrySend(new byte[a.MaxFrameLength + 1]);
        bool empty = a.TrySend([]);

        FramePortCounters atA = a.ReadCounters();
        FramePortCounters atB = b.ReadCounters();
        Assert.That(received, Has.Count.EqualTo(10));
        Assert.That((tooLong, empty), Is.EqualTo((false, false)));
        Assert.That(atA.Sent, Is.EqualTo(10));
        Assert.That(atA.SendRejected, Is.EqualTo(2));
        Assert.That(atA.SendFailures, Is.Zero);
        Assert.That(atB.Received, Is.GreaterThanOrEqualTo(10));
        Assert.That(atB.KernelReceived, Is.GreaterThanOrEqualTo(10), "PACKET_STATISTICS / pcap_stats");
        Assert.That(atB.KernelDropped, Is.Zero);
    }

    [Test]
    public void Sending_on_a_downed_link_is_counted_by_errno_not_thrown()
    {
        using IFramePort c = Open("cap-c");
        Lab.Ip("link", "set", "cap-c", "down");
        try
        {
            Assert.That(c.TrySend(LabFrames.Marked(600)), Is.True);
            c.Flush();

            FramePortCounters counters = c.ReadCounters();
            Assert.That(counters.SendFailures, Is.EqualTo(1));
            Assert.That(counters.SendFailuresByErrno, Does.ContainKey("ENETDOWN"));
            Assert.That(counters.Sent, Is.Zero);
        }
        finally
        {
            Lab.Ip("link", "set", "cap-c", "up");
        }
    }

    /// <param name="throughQdisc">
    /// Ring only: send through the qdisc like any other program. With PACKET_QDISC_BYPASS (the default) frames skip the
    /// packet taps, so other sockets on the interface would not see them as outgoing at all.
    /// </param>
    private IFramePort Open(string device, bool throughQdisc = false) => Lab.Run<IFramePort>(() => _backend switch
    {
        Backend.Pcap => PcapPort.Open(new PcapPortOptions { InterfaceName = device }, out _),
        _ => PacketRingPort.Open(new PacketRingOptions { InterfaceName = device, BlockCount = 8, QdiscBypass = !throughQdisc }),
    });
}
