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

    [TestCase(RingReceiveMode.Frame)]
    [TestCase(RingReceiveMode.Block)]
    public void Fanout_shares_the_frames_between_ports_one_flow_per_port(RingReceiveMode mode)
    {
        NetnsLab lab = Lab();
        const int Flows = 20, PerFlow = 10;
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));
        IFramePort[] ports = lab.Run(() => new IFramePort[]
        {
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-b", BlockCount = 4, ReceiveMode = mode, Fanout = new FanoutGroup(4242, 32, 128) }),
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-b", BlockCount = 4, ReceiveMode = mode, Fanout = new FanoutGroup(4242, 32, 128) }),
        });
        try
        {
            var frames = new List<byte[]>();
            for (int k = 0; k < PerFlow; k++)
            {
                for (int flow = 0; flow < Flows; flow++)
                {
                    frames.Add(LabFrames.Tcp((flow * 100) + k, $"198.51.100.{flow + 1}", "10.20.30.40", (ushort)(40000 + flow), 135));
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

    [TestCase(RingReceiveMode.Frame)]
    [TestCase(RingReceiveMode.Block)]
    public void A_small_ring_wraps_many_times_without_losing_or_repeating_a_frame(RingReceiveMode mode)
    {
        NetnsLab lab = Lab();
        const int Total = 3000;

        // 4 blocks of 8 KiB: about 40 frames per block (V3) or 5 slots of 1,616 bytes (V2, 20 in the ring), so 3,000
        // frames go round the ring about 18 (V3) or 150 (V2) times, and a batch of 7 leaves blocks half-read between
        // receives. A burst must fit the ring: 50 frames for V3, 15 for V2.
        int perBurst = mode == RingReceiveMode.Block ? 50 : 15, bursts = Total / perBurst;
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));
        using IFramePort receiver = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions
        {
            InterfaceName = "fan-b",
            BlockSizeBytes = 8192,
            BlockCount = 4,
            MaxFrameLength = 1600,
            ReceiveMode = mode,
        }));
        var batch = new FrameBatch(7);
        var seen = new HashSet<int>();
        var clock = Stopwatch.StartNew();
        for (int burst = 0; burst < bursts && clock.Elapsed < TimeSpan.FromSeconds(20); burst++)
        {
            int first = 10_000 + (burst * perBurst);
            Receiving.SendAll(sender, Enumerable.Range(first, perBurst).Select(i => LabFrames.Marked(i, 60 + (i % 40))));
            var burstClock = Stopwatch.StartNew();
            while (seen.Count < (burst + 1) * perBurst && burstClock.Elapsed < TimeSpan.FromSeconds(2))
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
        Assert.That(seen, Has.Count.EqualTo(Total));
        Assert.That(counters.KernelDropped, Is.Zero);
        Assert.That(counters.Received, Is.EqualTo(Total));
    }

    [Test]
    public void A_lone_frame_waits_for_the_block_timeout_in_block_mode_and_not_in_frame_mode()
    {
        NetnsLab lab = Lab();
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-a", BlockCount = 4 }));

        double quick = MeanLatencyMilliseconds(lab, sender, RingReceiveMode.Block, blockTimeout: 1, firstSequence: 20_000);
        double slow = MeanLatencyMilliseconds(lab, sender, RingReceiveMode.Block, blockTimeout: 250, firstSequence: 21_000);
        double perFrame = MeanLatencyMilliseconds(lab, sender, RingReceiveMode.Frame, blockTimeout: 250, firstSequence: 22_000);

        // A lone frame sits in its block until the retire timer fires: on average half the timeout. A V2 slot is
        // handed over as soon as it is written, whatever the (ignored) block timeout.
        TestContext.Out.WriteLine($"mean latency of a lone frame: block mode {quick:F2} ms at 1 ms, {slow:F2} ms at 250 ms; frame mode {perFrame:F2} ms");
        Assert.That(quick, Is.LessThan(40));
        Assert.That(slow, Is.GreaterThan(40));
        Assert.That(perFrame, Is.LessThan(40));
    }

    [Test]
    public void Frame_mode_sizes_its_slots_by_the_interface_mtu()
    {
        NetnsLab lab = Lab();
        using var port = lab.Run(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fan-b", BlockCount = 4 }));

        // veth MTU 1500: 1500 + 14 + 4 + 96 bytes of headroom, rounded to 16.
        Assert.That(port.FrameSlotSize, Is.EqualTo(1616));
    }

    private static double MeanLatencyMilliseconds(NetnsLab lab, IFramePort sender, RingReceiveMode mode, int blockTimeout, int firstSequence)
    {
        const int Frames = 6;
        using IFramePort receiver = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions
        {
            InterfaceName = "fan-b",
            BlockCount = 4,
            BlockTimeoutMilliseconds = blockTimeout,
            ReceiveMode = mode,
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
