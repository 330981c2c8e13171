using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

/// <summary>Records straddling the reader's buffer, records bigger than it, short reads, and the allocation budget.</summary>
public sealed class ReaderBufferTests
{
    private static (byte[] Pcap, byte[] PcapNg, List<ReadAll.Frame> Pcapframes, List<ReadAll.Frame> PcapNgFrames) MakeCaptures(int count)
    {
        var random = new Random(11);
        var pcap = new PcapBytes(0xA1B23C4D, snapLength: 0);
        var pcapNg = new PcapNgBytes().Section().Interface(tsresol: 9, snapLength: 0);
        var pcapFrames = new List<ReadAll.Frame>();
        var pcapNgFrames = new List<ReadAll.Frame>();
        long timestamp = 1_700_000_000_000_000_000;
        for (int i = 0; i < count; i++)
        {
            // Mostly small frames, now and then one bigger than the smallest buffers under test.
            int length = i % 97 == 0 ? random.Next(2_000, 20_000) : random.Next(0, 1_600);
            byte[] data = TestFrames.Make(length, i);
            timestamp += random.Next(1, 1_000_000_000);
            pcapFrames.Add(new ReadAll.Frame(data, timestamp, length, i + 1, pcap.Length));
            pcap.Record((uint)(timestamp / 1_000_000_000), (uint)(timestamp % 1_000_000_000), data);
            pcapNgFrames.Add(new ReadAll.Frame(data, timestamp, length, i + 1, pcapNg.Length));
            pcapNg.EnhancedPacket(0, (ulong)timestamp, data);
        }

        return (pcap.ToArray(), pcapNg.ToArray(), pcapFrames, pcapNgFrames);
    }

    [Test]
    public void Records_straddling_or_outgrowing_the_buffer_are_read_whole(
        [Values(64, 100, 1_000, 4_096, 65_536, CaptureFileReader.DefaultBufferSize)] int bufferSize,
        [Values] bool pcapNg)
    {
        var (pcap, ng, pcapFrames, ngFrames) = MakeCaptures(2_000);

        var frames = ReadAll.From(pcapNg ? ng : pcap, out CaptureFileError? error, bufferSize);

        AssertSameFrames(frames, pcapNg ? ngFrames : pcapFrames);
        Assert.That(error, Is.Null);
    }

    [Test]
    public void Short_reads_from_the_stream_are_stitched_together([Values] bool pcapNg)
    {
        var (pcap, ng, pcapFrames, ngFrames) = MakeCaptures(300);

        using var reader = CaptureFileReader.Open(new TrickleStream(pcapNg ? ng : pcap, maxRead: 7), bufferSize: 256);
        var frames = ReadAll.From(reader, out CaptureFileError? error);

        AssertSameFrames(frames, pcapNg ? ngFrames : pcapFrames);
        Assert.That(error, Is.Null);
    }

    [Test]
    public void Steady_state_reading_allocates_nothing([Values] bool pcapNg)
    {
        const int Count = 100_000;
        string path = Path.Combine(Path.GetTempPath(), $"exch-dsr-alloc-{Guid.NewGuid():N}.{(pcapNg ? "pcapng" : "pcap")}");
        try
        {
            var random = new Random(3);
            var file = pcapNg ? null : new PcapBytes(0xA1B23C4D);
            var ngFile = pcapNg ? new PcapNgBytes().Section().Interface(tsresol: 9).Interface(tsresol: 0x94) : null;
            byte[][] frames = Enumerable.Range(0, 16).Select(i => TestFrames.Make(random.Next(60, 1_515), i)).ToArray();
            for (int i = 0; i < Count; i++)
            {
                file?.Record((uint)i, 0, frames[i % frames.Length]);
                ngFile?.EnhancedPacket((uint)(i & 1), (ulong)i * 1_000, frames[i % frames.Length]);
            }

            File.WriteAllBytes(path, file?.ToArray() ?? ngFile!.ToArray());

            using var reader = CaptureFileReader.Open(path);
            long checksum = 0;
            for (int i = 0; i < 1_000; i++)
            {
                Assert.That(reader.TryReadNext(out CapturedFrame frame), Is.True);
                checksum += frame.Data[^1];
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            while (reader.TryReadNext(out CapturedFrame frame))
                checksum += frame.Data[^1] + frame.TimestampNs;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            Assert.That(reader.Error, Is.Null);
            Assert.That(reader.FramesRead, Is.EqualTo(Count));
            Assert.That(checksum, Is.Not.Zero);
            Assert.That(allocated, Is.Zero, $"bytes allocated reading {Count - 1_000} frames");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void AssertSameFrames(List<ReadAll.Frame> actual, List<ReadAll.Frame> expected)
    {
        Assert.That(actual, Has.Count.EqualTo(expected.Count));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.That(actual[i] with { Data = [] }, Is.EqualTo(expected[i] with { Data = [] }), $"frame {i + 1}");
            Assert.That(actual[i].Data, Is.EqualTo(expected[i].Data), $"frame {i + 1}");
        }
    }

    /// <summary>Hands out at most a few bytes per read, as a pipe or a slow network stream may.</summary>
    private sealed class TrickleStream(byte[] data, int maxRead) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, maxRead), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
