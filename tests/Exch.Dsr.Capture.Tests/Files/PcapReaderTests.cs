using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

public sealed class PcapReaderTests
{
    private static readonly byte[] Frame1 = TestFrames.Make(60, 1);
    private static readonly byte[] Frame2 = TestFrames.Make(100, 2);
    private static readonly byte[] Frame3 = TestFrames.Make(80, 3);

    [TestCase(0xA1B2C3D4u, false, 1_000, TestName = "Microsecond, little-endian")]
    [TestCase(0xA1B2C3D4u, true, 1_000, TestName = "Microsecond, big-endian")]
    [TestCase(0xA1B23C4Du, false, 1, TestName = "Nanosecond, little-endian")]
    [TestCase(0xA1B23C4Du, true, 1, TestName = "Nanosecond, big-endian")]
    public void Reads_every_magic_in_either_byte_order(uint magic, bool bigEndian, long nsPerFractionUnit)
    {
        byte[] file = new PcapBytes(magic, bigEndian)
            .Record(1_700_000_000, 123_456, Frame1)
            .Record(1_700_000_001, 999_999, Frame2, original: 1_514)
            .ToArray();

        using var reader = CaptureFileReader.Open(new MemoryStream(file));
        Assert.That(reader.Format, Is.EqualTo(CaptureFileFormat.Pcap));
        Assert.That(reader.LinkType, Is.EqualTo(LinkTypes.Ethernet));
        var frames = ReadAll.From(reader, out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].Data, Is.EqualTo(Frame1));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_700_000_000_000_000_000 + 123_456 * nsPerFractionUnit));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(60));
        Assert.That(frames[0].FrameNumber, Is.EqualTo(1));
        Assert.That(frames[0].FileOffset, Is.EqualTo(24));
        Assert.That(frames[1].Data, Is.EqualTo(Frame2));
        Assert.That(frames[1].TimestampNs, Is.EqualTo(1_700_000_001_000_000_000 + 999_999 * nsPerFractionUnit));
        Assert.That(frames[1].OriginalLength, Is.EqualTo(1_514));
        Assert.That(frames[1].FrameNumber, Is.EqualTo(2));
        Assert.That(frames[1].FileOffset, Is.EqualTo(24 + 16 + 60));
    }

    [Test]
    public void Frame_data_is_writable_in_place()
    {
        byte[] file = new PcapBytes().Record(1, 0, Frame1).ToArray();
        using var reader = CaptureFileReader.Open(new MemoryStream(file));

        Assert.That(reader.TryReadNext(out CapturedFrame frame), Is.True);
        frame.Data[0] = 0x02;
        frame.Data[5] = 0xFE;
        Assert.That(frame.Data[0], Is.EqualTo(0x02));
        Assert.That(frame.Data[5], Is.EqualTo(0xFE));
    }

    [Test]
    public void Fcs_bits_of_the_link_type_field_are_not_part_of_the_link_type()
    {
        // Bit 26 says the frames carry an FCS, bits 28-31 its length in 16-bit words.
        byte[] file = new PcapBytes(linkType: 0x2400_0001).Record(1, 0, Frame1).ToArray();
        using var reader = CaptureFileReader.Open(new MemoryStream(file));
        Assert.That(reader.LinkType, Is.EqualTo(LinkTypes.Ethernet));
    }

    [Test]
    public void Snapshot_length_zero_means_no_limit()
    {
        byte[] file = new PcapBytes(snapLength: 0).Record(1, 0, Frame2).ToArray();
        var frames = ReadAll.From(file, out CaptureFileError? error);
        Assert.That(error, Is.Null);
        Assert.That(frames.Single().Data, Is.EqualTo(Frame2));
    }

    [Test]
    public void A_header_without_records_is_an_empty_capture()
    {
        var frames = ReadAll.From(new PcapBytes().ToArray(), out CaptureFileError? error);
        Assert.That(frames, Is.Empty);
        Assert.That(error, Is.Null);
    }

    // Frames 1, 2 and 3 start at offsets 24, 100 and 216; the file ends at 312.
    [TestCase(24, 0, null)]
    [TestCase(24 + 1, 0, "frame 1 at byte offset 24: record header truncated (1 of 16 bytes)")]
    [TestCase(24 + 15, 0, "frame 1 at byte offset 24: record header truncated (15 of 16 bytes)")]
    [TestCase(24 + 16, 0, "frame 1 at byte offset 24: record data truncated (0 of 60 bytes)")]
    [TestCase(100, 1, null)]
    [TestCase(100 + 8, 1, "frame 2 at byte offset 100: record header truncated (8 of 16 bytes)")]
    [TestCase(100 + 16 + 50, 1, "frame 2 at byte offset 100: record data truncated (50 of 100 bytes)")]
    [TestCase(216 + 16 + 79, 2, "frame 3 at byte offset 216: record data truncated (79 of 80 bytes)")]
    [TestCase(312, 3, null)]
    public void Truncated_file_returns_the_frames_before_the_cut_then_says_where(int length, int expectedFrames, string? expectedError)
    {
        byte[] file = new PcapBytes().Record(1, 0, Frame1).Record(2, 0, Frame2).Record(3, 0, Frame3).ToArray();
        Assert.That(file, Has.Length.EqualTo(312));
        byte[][] originals = [Frame1, Frame2, Frame3];

        // Small buffers put the cut across refills as well as inside one.
        foreach (int bufferSize in new[] { 64, 100, CaptureFileReader.DefaultBufferSize })
        {
            var frames = ReadAll.From(file[..length], out CaptureFileError? error, bufferSize);

            Assert.That(frames, Has.Count.EqualTo(expectedFrames), $"buffer {bufferSize}");
            for (int i = 0; i < expectedFrames; i++)
                Assert.That(frames[i].Data, Is.EqualTo(originals[i]), $"buffer {bufferSize}");
            Assert.That(error?.Message, Is.EqualTo(expectedError), $"buffer {bufferSize}");
        }
    }

    [Test]
    public void Error_carries_frame_number_offset_and_reason_and_reading_stays_stopped()
    {
        byte[] file = new PcapBytes().Record(1, 0, Frame1).Record(2, 0, Frame2).ToArray();
        using var reader = CaptureFileReader.Open(new MemoryStream(file[..^1]));

        Assert.That(reader.TryReadNext(out _), Is.True);
        Assert.That(reader.TryReadNext(out _), Is.False);
        Assert.That(reader.Error, Is.EqualTo(new CaptureFileError(2, 100, "record data truncated (99 of 100 bytes)")));
        Assert.That(reader.Error!.ToString(), Is.EqualTo(reader.Error.Message));
        Assert.That(reader.TryReadNext(out _), Is.False);
        Assert.That(reader.FramesRead, Is.EqualTo(1));
    }

    [Test]
    public void Absurd_captured_length_stops_reading()
    {
        byte[] file = new PcapBytes(snapLength: 0).Record(1, 0, Frame1).Record(2, 0, Frame2, captured: 262_145).ToArray();
        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo("frame 2 at byte offset 100: captured length 262145 is absurd (more than 262144 bytes)"));
    }

    [Test]
    public void Captured_length_beyond_the_snapshot_length_stops_reading()
    {
        byte[] file = new PcapBytes(snapLength: 96).Record(1, 0, Frame1).Record(2, 0, Frame2).ToArray();
        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo("frame 2 at byte offset 100: captured length 100 exceeds the snapshot length 96"));
    }

    [Test]
    public void Absurd_original_length_stops_reading()
    {
        byte[] file = new PcapBytes().Record(1, 0, Frame1, original: 0x8000_0000).ToArray();
        ReadAll.From(file, out CaptureFileError? error);
        Assert.That(error?.Message, Is.EqualTo("frame 1 at byte offset 24: original length 2147483648 is absurd"));
    }

    [TestCase(113, "link type 113 (LINUX_SLL) is not Ethernet; capture with -i <interface>, not -i any")]
    [TestCase(276, "link type 276 (LINUX_SLL2) is not Ethernet; capture with -i <interface>, not -i any")]
    [TestCase(0, "link type 0 (NULL) is not Ethernet; only Ethernet captures (link type 1) can be replayed")]
    [TestCase(101, "link type 101 (RAW) is not Ethernet; only Ethernet captures (link type 1) can be replayed")]
    [TestCase(105, "link type 105 (IEEE802_11) is not Ethernet; only Ethernet captures (link type 1) can be replayed")]
    [TestCase(127, "link type 127 (IEEE802_11_RADIOTAP) is not Ethernet; only Ethernet captures (link type 1) can be replayed")]
    [TestCase(4242, "link type 4242 is not Ethernet; only Ethernet captures (link type 1) can be replayed")]
    public void Non_ethernet_link_type_fails_the_open_naming_it(int linkType, string expected)
    {
        byte[] file = new PcapBytes(linkType: (uint)linkType).Record(1, 0, Frame1).ToArray();
        var stream = new MemoryStream(file);

        Assert.That(() => CaptureFileReader.Open(stream), Throws.TypeOf<CaptureFileFormatException>().With.Message.EqualTo(expected));
        Assert.That(stream.CanRead, Is.False, "the stream the reader owned is closed");
    }

    [Test]
    public void Unsupported_version_fails_the_open()
    {
        byte[] file = new PcapBytes(major: 3, minor: 0).ToArray();
        Assert.That(() => CaptureFileReader.Open(new MemoryStream(file)), Throws.TypeOf<CaptureFileFormatException>().With.Message.EqualTo("pcap version 3.0 is not supported (expected 2.4)"));
    }

    [Test]
    public void Truncated_file_header_fails_the_open()
    {
        byte[] file = new PcapBytes().ToArray()[..20];
        Assert.That(() => CaptureFileReader.Open(new MemoryStream(file)), Throws.TypeOf<CaptureFileFormatException>().With.Message.EqualTo("pcap file header truncated (20 of 24 bytes)"));
    }

    [TestCase(new byte[] { 0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01 }, "not a pcap or pcapng file (magic 0x7f454c46)")]
    [TestCase(new byte[] { 0x1F, 0x8B, 0x08, 0x00 }, "not a pcap or pcapng file (magic 0x1f8b0800); it is gzip-compressed, decompress it first")]
    [TestCase(new byte[] { 0x34, 0xCD, 0xB2, 0xA1, 0x02, 0x00 }, "modified (Kuznetsov) pcap is not supported (magic 0x34cdb2a1); convert it with editcap -F pcap")]
    [TestCase(new byte[] { 0xD4, 0xC3, 0xB2 }, "not a pcap or pcapng file (only 3 bytes)")]
    [TestCase(new byte[0], "empty file: not a pcap or pcapng file")]
    public void Not_a_capture_file_fails_the_open_with_its_magic(byte[] file, string expected)
    {
        Assert.That(() => CaptureFileReader.Open(new MemoryStream(file)), Throws.TypeOf<CaptureFileFormatException>().With.Message.EqualTo(expected));
    }

    [Test]
    public void Open_by_path_reads_the_file_and_a_stream_left_open_stays_open()
    {
        string path = Path.Combine(Path.GetTempPath(), $"exch-dsr-open-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, new PcapBytes().Record(1, 0, Frame1).ToArray());
            using (var reader = CaptureFileReader.Open(path))
                Assert.That(ReadAll.From(reader, out _).Single().Data, Is.EqualTo(Frame1));

            var stream = new MemoryStream(File.ReadAllBytes(path));
            CaptureFileReader.Open(stream, leaveOpen: true).Dispose();
            Assert.That(stream.CanRead, Is.True);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Offsets_count_from_where_the_stream_was_positioned()
    {
        byte[] file = [.. new byte[10], .. new PcapBytes().Record(1, 0, Frame1).ToArray()];
        var stream = new MemoryStream(file) { Position = 10 };

        using var reader = CaptureFileReader.Open(stream);
        Assert.That(ReadAll.From(reader, out _).Single().FileOffset, Is.EqualTo(24));
    }
}
