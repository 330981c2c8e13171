using Exch.Dsr.Capture.Files;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ReplayAllocationTests
{
    [Test]
    public void FramesOfKnownFlowsAllocateNothing()
    {
        var capture = new CaptureBuilder().At(0, TestFrames.Tcp("192.0.2.1", 50000, "10.0.0.100", 443, TcpFlags.Syn));
        for (var i = 1; i <= 20_000; i++)
        {
            capture.At(i * 0.001, TestFrames.Tcp("192.0.2.1", 50000, "10.0.0.100", 443, TcpFlags.Psh | TcpFlags.Ack, new byte[100]));
        }

        var pcap = capture.ToPcap();
        var session = new ReplaySession(TestConfigs.Exchange(), []);
        using var log = new DecisionLogWriter(new MemoryStream(1 << 16));
        session.WriteDecisionsTo(log);
        using var reader = CaptureFileReader.Open(new MemoryStream(pcap), leaveOpen: false, bufferSize: 1 << 22);
        using var writer = new PcapFileWriter(Stream.Null);

        // Measured between two progress calls (frames 8,192 and 16,384): the engine's tables are allocated when it
        // adopts its first snapshot, at the first frame, and are not the loop's cost.
        var marks = new List<long>(4);
        var report = session.Run(new CaptureFileSource(reader, pcap.Length), writer, _ => marks.Add(GC.GetAllocatedBytesForCurrentThread()));

        Assert.That(report.FramesForwarded, Is.EqualTo(20_001));
        Assert.That(marks, Has.Count.EqualTo(2));
        Assert.That(marks[1] - marks[0], Is.Zero, "8,192 frames of a known flow, read, forwarded and written");
    }
}
