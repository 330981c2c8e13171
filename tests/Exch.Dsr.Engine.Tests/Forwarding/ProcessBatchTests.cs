using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Forwarding;

/// <summary>
/// <see cref="ForwardingEngine.ProcessBatch"/> reads every frame of a chunk before deciding any of it. It must decide
/// exactly as <see cref="ForwardingEngine.Process(Span{byte}, long)"/> frame by frame: two engines get the same random
/// history, one in batches of random size (crossing the chunk size, so flows meet their own earlier frames within a
/// chunk), the other one frame at a time at the same clock. Verdicts, output bytes and every counter must agree.
/// </summary>
public sealed class ProcessBatchTests
{
    [Test]
    public void ABatchDecidesAsItsFramesOneByOne([Values(2026, 1124, 7)] int seed)
    {
        var traffic = new RandomTraffic(seed);
        var random = new Random(seed);
        var batched = RandomTraffic.NewLab();
        var single = RandomTraffic.NewLab();
        var pending = new List<byte[]>();
        var now = Time.Second;
        var frames = 0;
        var batches = 0;

        void Flush()
        {
            if (pending.Count == 0)
            {
                return;
            }

            var inBatch = pending.Select(f => (byte[])f.Clone()).ToArray();
            var oneByOne = pending.Select(f => (byte[])f.Clone()).ToArray();
            var batch = new ArrayBatch(inBatch);
            var verdicts = new ForwardVerdict[inBatch.Length];
            batched.Engine.ProcessBatch(ref batch, now, verdicts);
            for (var i = 0; i < oneByOne.Length; i++)
            {
                var where = $"seed {seed}, batch {batches}, frame {i} of {oneByOne.Length}";
                Assert.That(verdicts[i], Is.EqualTo(single.Engine.Process(oneByOne[i], now)), where);
                Assert.That(inBatch[i], Is.EqualTo(oneByOne[i]), $"{where}: the same bytes leave both");
            }

            frames += pending.Count;
            batches++;
            pending.Clear();
        }

        var target = random.Next(1, 80);
        for (var step = 1; step <= RandomTraffic.Steps; step++)
        {
            var next = traffic.Next(step);
            if (next.Frame is { } frame)
            {
                pending.Add(frame);
                if (random.Next(50) == 0)
                {
                    pending.Add(Junk(random, frame));
                }
            }

            if (next.Change is not null || next.Advance > 0 || pending.Count >= target)
            {
                Flush();
                target = random.Next(1, 80);
            }

            next.PublishChange(batched, single);
            now += next.Advance;
        }

        Flush();
        KnownFlowPathTests.AssertSameCounters(batched.Engine, single.Engine);
        TestContext.Out.WriteLine($"{frames} frames in {batches} batches; known-flow path {batched.Engine.KnownFlowFrames} / {single.Engine.KnownFlowFrames}");
        Assert.That(batched.Engine.KnownFlowFrames, Is.EqualTo(single.Engine.KnownFlowFrames), "the same frames took the short path");
        Assert.That(frames / (double)batches, Is.GreaterThan(2), "batches held several frames");
    }

    [Test]
    public void AFlowsFirstAndNextFramesInOneBatchAreForwardedToOneServer()
    {
        var lab = new TestLab().Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2"], 443));
        lab.Publish();
        var frames = new List<byte[]>();
        for (var client = 1; client <= 40; client++)
        {
            frames.Add(TestFrames.Tcp($"192.0.2.{client}", 40000, "198.51.100.1", 443, TcpFlags.Syn));
            frames.Add(TestFrames.Tcp($"192.0.2.{client}", 40000, "198.51.100.1", 443, TcpFlags.Ack, "data"u8));
        }

        var batch = new ArrayBatch([.. frames]);
        var verdicts = new ForwardVerdict[frames.Count];
        lab.Engine.ProcessBatch(ref batch, Time.Second, verdicts);

        Assert.That(verdicts, Is.All.EqualTo(ForwardVerdict.Forwarded));
        for (var i = 0; i < frames.Count; i += 2)
        {
            Assert.That(batch[i + 1][..6].ToArray(), Is.EqualTo(batch[i][..6].ToArray()), $"client {(i / 2) + 1}: the ACK follows its SYN");
        }

        Assert.That(lab.Engine.KnownFlowFrames, Is.EqualTo(40), "every ACK found the connection its SYN made earlier in the batch");
        Assert.That(lab.Engine.ConnectionCount, Is.EqualTo(40));
    }

    [Test]
    public void AnIPv6HeaderWithIPv4MappedAddressesIsTheIPv4FlowInABatchAsFrameByFrame()
    {
        // Such addresses are not valid on the wire (RFC 4291 2.5.5.2), but a frame carrying them must not be decided
        // differently by the batch's IPv4 fast path than by the general path, which keys them as IPv4.
        var lab = new TestLab().Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1", "cas2"], 443));
        lab.Publish();
        byte[] Mapped(TcpFlags flags)
        {
            var frame = TestFrames.IPv6Raw("2001:db8::7", "2001:db8::10", IpProtocols.Tcp, TestFrames.TcpHeaderBytes(40000, 443, flags));
            IpAddress128.Parse("::ffff:192.0.2.7").WriteIPv6(frame.AsSpan(22));
            IpAddress128.Parse("::ffff:198.51.100.1").WriteIPv6(frame.AsSpan(38));
            return frame;
        }

        var syn = lab.Send(Mapped(TcpFlags.Syn), Time.Second);
        Assert.That((syn.Verdict, syn.Decision.NewConnection), Is.EqualTo((ForwardVerdict.Forwarded, true)));
        var batch = new ArrayBatch([Mapped(TcpFlags.Ack), TestFrames.Tcp("192.0.2.7", 40000, "198.51.100.1", 443, TcpFlags.Ack)]);
        var verdicts = new ForwardVerdict[2];
        lab.Engine.ProcessBatch(ref batch, Time.Seconds(2), verdicts);

        Assert.That(verdicts, Is.All.EqualTo(ForwardVerdict.Forwarded));
        Assert.That(batch[0][..6].ToArray(), Is.EqualTo(syn.Output[..6]), "the ACK follows its SYN");
        Assert.That(batch[1][..6].ToArray(), Is.EqualTo(batch[0][..6].ToArray()), "the IPv4 frame of the same flow too");
        Assert.That((lab.Engine.KnownFlowFrames, lab.Engine.ConnectionCount), Is.EqualTo((2L, 1)), "both on the short path, one connection");
    }

    [Test]
    public void BeforeAnySnapshotEveryFrameIsNotOurs()
    {
        var engine = new ForwardingEngine(TestAddresses.Appliance);
        var batch = new ArrayBatch([TestFrames.Tcp("192.0.2.1", 40000, "198.51.100.1", 443, TcpFlags.Syn), [], [1, 2, 3]]);
        var verdicts = new ForwardVerdict[3];
        engine.ProcessBatch(ref batch, Time.Second, verdicts);
        Assert.That(verdicts, Is.All.EqualTo(ForwardVerdict.NotOurs));
    }

    [Test]
    public void TooFewVerdictsIsTheCallersErrorNotAFrames()
    {
        var lab = new TestLab().Add(TestLab.Service("owa", "198.51.100.1", SchedulerKind.RoundRobin, ["cas1"], 443));
        lab.Publish();
        var batch = new ArrayBatch([TestFrames.Tcp("192.0.2.1", 40000, "198.51.100.1", 443, TcpFlags.Syn), []]);
        Assert.That(() => lab.Engine.ProcessBatch(ref batch, Time.Second, new ForwardVerdict[1]), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(lab.Engine.ConnectionCount, Is.Zero, "nothing was decided");
    }

    /// <summary>Bytes no flow has: a cut, an empty frame, noise.</summary>
    private static byte[] Junk(Random random, byte[] frame) => random.Next(3) switch
    {
        0 => frame[..random.Next(frame.Length)],
        1 => [],
        _ => [.. Enumerable.Range(0, random.Next(14, 80)).Select(_ => (byte)random.Next(256))],
    };

    private readonly struct ArrayBatch(byte[][] frames) : IFrameBatch
    {
        public int Count => frames.Length;

        public Span<byte> this[int index] => frames[index];
    }
}
