using System.Diagnostics;
using Exch.Dsr.Capture.PacketRing;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

/// <summary>What only the AF_PACKET ring does: option checks, fanout across ports.</summary>
[NonParallelizable]
public sealed class PacketRingPortTests
{
    private NetnsLab? _lab;

    [TestCase(1000, 8, 1, "BlockSizeBytes")]
    [TestCase(4096, 8, 1, "BlockSizeBytes")] // smaller than one jumbo frame
    [TestCase(65536, 0, 1, "BlockCount")]
    [TestCase(65536, 8, 0, "BlockTimeoutMilliseconds")]
    public void Bad_ring_geometry_is_refused_before_any_socket_is_opened(int blockSize, int blockCount, int timeout, string _)
    {
        var options = new PacketRingOptions { InterfaceName = "lo", BlockSizeBytes = blockSize, BlockCount = blockCount, BlockTimeoutMilliseconds = timeout };

        Assert.That(() => PacketRingPort.Open(options), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void A_missing_interface_fails_the_open_with_a_clear_message()
    {
        var e = Assert.Throws<FramePortException>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "no-such-if0" }));

        Assert.That(e!.Message, Does.Contain("no network interface named no-such-if0"));
    }

    [Test]
    public void Fanout_shares_the_frames_between_ports_one_flow_per_port()
    {
        NetnsLab lab = Lab();
        const int Flows = 20, PerFlow = 10;
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));
        IFramePort[] ports = lab.Run(() => new IFramePort[]
        {
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-b", BlockCount = 4, FanoutGroupId = 4242 }),
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-b", BlockCount = 4, FanoutGroupId = 4242 }),
        });
        try
        {
            var frames = new List<byte[]>();
            for (int k = 0; k < PerFlow; k++)
            {
                for (int flow = 0; flow < Flows; flow++)
                {
                    frames.Add(LabFrames.Tcp((flow * 100) + k, "198.51.100.7", "10.20.30.40", (ushort)(40000 + flow), 135));
                }
            }

            Receiving.SendAll(sender, frames);

            var portOfSequence = new Dictionary<int, int>();
            var batch = new FrameBatch(64);
            var clock = Stopwatch.StartNew();
            while (portOfSequence.Count < Flows * PerFlow && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                for (int p = 0; p < ports.Length; p++)
                {
                    int count = ports[p].Receive(batch, 10);
                    for (int i = 0; i < count; i++)
                    {
                        int sequence = LabFrames.SequenceOf(batch[i]);
                        if (sequence >= 0)
                        {
                            Assert.That(portOfSequence.TryAdd(sequence, p), Is.True, $"frame {sequence} delivered twice");
                        }
                    }
                }
            }

            Assert.That(portOfSequence, Has.Count.EqualTo(Flows * PerFlow));
            var portsPerFlow = portOfSequence.GroupBy(e => e.Key / 100).ToDictionary(g => g.Key, g => g.Select(e => e.Value).Distinct().Count());
            Assert.That(portsPerFlow.Values, Is.All.EqualTo(1), "each flow stays on one port");
            Assert.That(portOfSequence.Values.Distinct().Count(), Is.EqualTo(2), "both ports got flows");
        }
        finally
        {
            foreach (IFramePort port in ports)
            {
                port.Dispose();
            }
        }
    }

    [Test]
    public void A_small_ring_wraps_many_times_without_losing_or_repeating_a_frame()
    {
        NetnsLab lab = Lab();
        const int Bursts = 60, PerBurst = 50;

        // 4 blocks of 8 KiB: about 40 frames per block, so 3,000 frames go round the ring about 18 times, and a batch
        // of 7 leaves blocks half-read between receives.
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));
        using IFramePort receiver = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions
        {
            InterfaceName = "fan-b",
            BlockSizeBytes = 8192,
            BlockCount = 4,
            MaxFrameLength = 1600,
        }));
        var batch = new FrameBatch(7);
        var seen = new HashSet<int>();
        var clock = Stopwatch.StartNew();
        for (int burst = 0; burst < Bursts && clock.Elapsed < TimeSpan.FromSeconds(20); burst++)
        {
            int first = 10_000 + (burst * PerBurst);
            Receiving.SendAll(sender, Enumerable.Range(first, PerBurst).Select(i => LabFrames.Marked(i, 60 + (i % 40))));
            var burstClock = Stopwatch.StartNew();
            while (seen.Count < (burst + 1) * PerBurst && burstClock.Elapsed < TimeSpan.FromSeconds(2))
            {
                int count = receiver.Receive(batch, 20);
                for (int i = 0; i < count; i++)
                {
                    int sequence = LabFrames.SequenceOf(batch[i]);
                    Assert.That(batch[i].ToArray(), Is.EqualTo(LabFrames.Marked(sequence, 60 + (sequence % 40))), $"frame {sequence} intact");
                    Assert.That(seen.Add(sequence), Is.True, $"frame {sequence} delivered twice");
                }
            }
        }

        FramePortCounters counters = receiver.ReadCounters();
        Assert.That(seen, Has.Count.EqualTo(Bursts * PerBurst));
        Assert.That(counters.KernelDropped, Is.Zero);
        Assert.That(counters.Received, Is.EqualTo(Bursts * PerBurst));
    }

    [Test]
    public void A_lone_frame_waits_for_the_block_timeout()
    {
        NetnsLab lab = Lab();
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));

        double quick = MeanLatencyMilliseconds(lab, sender, blockTimeout: 1, firstSequence: 20_000);
        double slow = MeanLatencyMilliseconds(lab, sender, blockTimeout: 250, firstSequence: 21_000);

        // A lone frame sits in its block until the retire timer fires: on average half the timeout.
        TestContext.Out.WriteLine($"mean latency of a lone frame: {quick:F1} ms at 1 ms, {slow:F1} ms at 250 ms");
        Assert.That(quick, Is.LessThan(40));
        Assert.That(slow, Is.GreaterThan(40));
    }

    private static double MeanLatencyMilliseconds(NetnsLab lab, IFramePort sender, int blockTimeout, int firstSequence)
    {
        const int Frames = 6;
        using IFramePort receiver = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions
        {
            InterfaceName = "fan-b",
            BlockCount = 4,
            BlockTimeoutMilliseconds = blockTimeout,
        }));
        var batch = new FrameBatch(8);
        double total = 0;
        for (int n = 0; n < Frames; n++)
        {
            Thread.Sleep(37 * (n + 1) % 100); // vary the phase against the retire timer
            var clock = Stopwatch.StartNew();
            Receiving.SendAll(sender, [LabFrames.Marked(firstSequence + n)]);
            bool arrived = false;
            while (!arrived && clock.ElapsedMilliseconds < 2000)
            {
                int count = receiver.Receive(batch, 100);
                for (int i = 0; i < count; i++)
                {
                    arrived |= LabFrames.SequenceOf(batch[i]) == firstSequence + n;
                }
            }

            Assert.That(arrived, Is.True, $"frame {firstSequence + n} arrived");
            total += clock.Elapsed.TotalMilliseconds;
        }

        return total / Frames;
    }

    [OneTimeTearDown]
    public void DeleteLab() => _lab?.Dispose();

    private NetnsLab Lab()
    {
        if (_lab is null)
        {
            _lab = NetnsLab.Create();
            _lab.AddVethPair("fan-a", "fan-b");
        }

        return _lab;
    }
}
