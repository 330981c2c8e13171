using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

public sealed class PcapFileWriterTests
{
    [Test]
    public void File_header_is_nanosecond_little_endian_ethernet_with_snaplen_262144()
    {
        var output = new MemoryStream();
        new PcapFileWriter(output).Dispose();

        byte[] expected =
        [
            0x4D, 0x3C, 0xB2, 0xA1, // magic a1b23c4d, little-endian
            0x02, 0x00, 0x04, 0x00, // version 2.4
            0x00, 0x00, 0x00, 0x00, // thiszone
            0x00, 0x00, 0x00, 0x00, // sigfigs
            0x00, 0x00, 0x04, 0x00, // snaplen 262144
            0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
        ];
        Assert.That(output.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void Record_holds_seconds_nanoseconds_lengths_and_data()
    {
        var output = new MemoryStream();
        using (var writer = new PcapFileWriter(output, leaveOpen: true))
            writer.Write([0xAA, 0xBB, 0xCC], 1_700_000_000_123_456_789, originalLength: 70);

        byte[] expected =
        [
            0x00, 0xF1, 0x53, 0x65, // 1700000000 s
            0x15, 0xCD, 0x5B, 0x07, // 123456789 ns
            0x03, 0x00, 0x00, 0x00, // captured
            0x46, 0x00, 0x00, 0x00, // original
            0xAA, 0xBB, 0xCC,
        ];
        Assert.That(output.ToArray()[24..], Is.EqualTo(expected));
    }

    [Test]
    public void Many_frames_round_trip_with_exact_bytes_and_nanosecond_timestamps()
    {
        string path = Path.Combine(Path.GetTempPath(), $"exch-dsr-roundtrip-{Guid.NewGuid():N}.pcap");
        try
        {
            var random = new Random(7);
            var written = new List<ReadAll.Frame>();
            long timestamp = 1_700_000_000_000_000_001;
            long offset = 24;
            using (var writer = PcapFileWriter.Create(path))
            {
                for (int i = 0; i < 20_000; i++)
                {
                    int length = i switch
                    {
                        100 => PcapFileWriter.SnapLength,
                        200 => 9_018,
                        300 => 0,
                        _ => random.Next(14, 1_515),
                    };
                    byte[] data = TestFrames.Make(length, i);
                    int original = i % 10 == 0 ? length + random.Next(1, 1_000) : length;
                    timestamp += random.Next(1, 2_000_000_000);
                    writer.Write(data, timestamp, original);
                    written.Add(new ReadAll.Frame(data, timestamp, original, i + 1, offset));
                    offset += 16 + length;
                }

                Assert.That(writer.FramesWritten, Is.EqualTo(20_000));
            }

            using var reader = CaptureFileReader.Open(path);
            Assert.That(reader.Format, Is.EqualTo(CaptureFileFormat.Pcap));
            Assert.That(reader.LinkType, Is.EqualTo(LinkTypes.Ethernet));
            var read = ReadAll.From(reader, out CaptureFileError? error);
            Assert.That(error, Is.Null);
            Assert.That(read.Count, Is.EqualTo(written.Count));
            for (int i = 0; i < written.Count; i++)
            {
                Assert.That(read[i] with { Data = [] }, Is.EqualTo(written[i] with { Data = [] }), $"frame {i + 1}");
                Assert.That(read[i].Data, Is.EqualTo(written[i].Data), $"frame {i + 1}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Write_rejects_frames_it_cannot_store()
    {
        using var writer = new PcapFileWriter(Stream.Null);
        Assert.Throws<ArgumentException>(() => writer.Write(new byte[PcapFileWriter.SnapLength + 1], 0, PcapFileWriter.SnapLength + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new byte[60], 0, originalLength: 59));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new byte[60], -1, 60));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(new byte[60], (uint.MaxValue + 1L) * 1_000_000_000, 60));
        Assert.That(writer.FramesWritten, Is.Zero);

        writer.Write(new byte[60], uint.MaxValue * 1_000_000_000L + 999_999_999, 60);
        Assert.That(writer.FramesWritten, Is.EqualTo(1));
    }

    [Test]
    public void Last_second_of_2106_round_trips()
    {
        long timestamp = uint.MaxValue * 1_000_000_000L + 999_999_999;
        var output = new MemoryStream();
        using (var writer = new PcapFileWriter(output, leaveOpen: true))
            writer.Write(new byte[60], timestamp, 60);

        var frames = ReadAll.From(output.ToArray(), out _);
        Assert.That(frames.Single().TimestampNs, Is.EqualTo(timestamp));
    }

    [Test]
    public void Frames_reach_the_stream_on_flush_and_the_stream_is_left_open_on_request()
    {
        var output = new MemoryStream();
        var writer = new PcapFileWriter(output, leaveOpen: true);
        writer.Write(new byte[60], 1, 60);
        Assert.That(output.Length, Is.Zero, "buffered until flushed");

        writer.Flush();
        Assert.That(output.Length, Is.EqualTo(24 + 16 + 60));

        writer.Dispose();
        Assert.That(output.CanWrite, Is.True);
        Assert.Throws<ObjectDisposedException>(() => writer.Write(new byte[60], 1, 60));
    }

    [Test]
    public void Dispose_closes_an_owned_stream()
    {
        var output = new MemoryStream();
        new PcapFileWriter(output).Dispose();
        Assert.That(output.CanWrite, Is.False);
    }

    [Test]
    public void Writing_allocates_nothing_per_frame()
    {
        byte[] frame = TestFrames.Make(1_514, 1);
        using var writer = new PcapFileWriter(Stream.Null);
        for (int i = 0; i < 1_000; i++)
            writer.Write(frame, i, frame.Length);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++)
            writer.Write(frame, i, frame.Length);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
    }
}
