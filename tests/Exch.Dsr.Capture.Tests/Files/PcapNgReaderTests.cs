using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

public sealed class PcapNgReaderTests
{
    private static readonly byte[] Frame1 = TestFrames.Make(60, 1);
    private static readonly byte[] Frame2 = TestFrames.Make(101, 2);
    private static readonly byte[] Frame3 = TestFrames.Make(1_514, 3);

    private static void ThrowsOnOpen(byte[] file, string expected) =>
        Assert.That(
            () => CaptureFileReader.Open(new MemoryStream(file)),
            Throws.TypeOf<CaptureFileFormatException>().With.Message.EqualTo(expected));

    [TestCase(null, 1_700_000_000_123_456ul, 1_700_000_000_123_456_000L, TestName = "No if_tsresol: microseconds")]
    [TestCase((byte)6, 1_700_000_000_123_456ul, 1_700_000_000_123_456_000L, TestName = "if_tsresol 6: microseconds")]
    [TestCase((byte)9, 1_700_000_000_123_456_789ul, 1_700_000_000_123_456_789L, TestName = "if_tsresol 9: nanoseconds")]
    [TestCase((byte)3, 1_700_000_000_123ul, 1_700_000_000_123_000_000L, TestName = "if_tsresol 3: milliseconds")]
    [TestCase((byte)0, 1_700_000_000ul, 1_700_000_000_000_000_000L, TestName = "if_tsresol 0: seconds")]
    [TestCase((byte)12, 123_456_789_012ul, 123_456_789L, TestName = "if_tsresol 12: picoseconds")]
    [TestCase((byte)0x94, (1_700_000_000ul << 20) + (1ul << 19), 1_700_000_000_500_000_000L, TestName = "if_tsresol 2^-20")]
    [TestCase((byte)0x94, 3ul, 2_861L, TestName = "if_tsresol 2^-20, rounded down")]
    [TestCase((byte)0xA0, (1_700_000_000ul << 32) | 0x4000_0000ul, 1_700_000_000_250_000_000L, TestName = "if_tsresol 2^-32")]
    [TestCase((byte)0x80, 1_700_000_000ul, 1_700_000_000_000_000_000L, TestName = "if_tsresol 2^0")]
    public void Timestamps_follow_the_interface_resolution(byte? tsresol, ulong ticks, long expectedNs)
    {
        byte[] file = new PcapNgBytes().Section().Interface(tsresol: tsresol).EnhancedPacket(0, ticks, Frame1).ToArray();

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames.Single().TimestampNs, Is.EqualTo(expectedNs));
    }

    [Test]
    public void Timestamp_offset_option_adds_seconds()
    {
        byte[] file = new PcapNgBytes().Section()
            .Interface(tsresol: 9, tsoffset: 1_000_000_000)
            .EnhancedPacket(0, 700_000_000_000_000_001, Frame1)
            .ToArray();

        Assert.That(ReadAll.From(file, out _).Single().TimestampNs, Is.EqualTo(1_700_000_000_000_000_001));
    }

    [Test]
    public void Each_interface_has_its_own_resolution()
    {
        var builder = new PcapNgBytes().Section()
            .Interface(tsresol: 6)
            .Interface(tsresol: 9)
            .Interface(tsresol: 0x8A);
        long offset1 = builder.Length;
        builder.EnhancedPacket(1, 1_700_000_000_000_000_007, Frame1);
        long offset2 = builder.Length;
        builder.EnhancedPacket(0, 1_700_000_001_000_001, Frame2, original: 1_500);
        long offset3 = builder.Length;
        builder.EnhancedPacket(2, (1_700_000_002ul << 10) + 256, Frame3);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames, Is.EqualTo(new[]
        {
            new ReadAll.Frame(Frame1, 1_700_000_000_000_000_007, 60, 1, offset1),
            new ReadAll.Frame(Frame2, 1_700_000_001_000_001_000, 1_500, 2, offset2),
            new ReadAll.Frame(Frame3, 1_700_000_002_250_000_000, 1_514, 3, offset3),
        }).Using<ReadAll.Frame>(FramesEqual));
    }

    [Test]
    public void Unknown_and_uninteresting_blocks_are_skipped()
    {
        var builder = new PcapNgBytes().Section()
            .RawBlock(4, [0, 0, 0, 0]) // name resolution block, empty
            .Interface(tsresol: 9)
            .RawBlock(0x0A, TestFrames.Make(37, 9)) // decryption secrets block
            .EnhancedPacket(0, 1, Frame1)
            .RawBlock(5, TestFrames.Make(20, 5)) // interface statistics block
            .RawBlock(0x0000_0BAD, TestFrames.Make(13, 6)) // custom block
            .RawBlock(0x1234_5678, []); // a type nobody knows
        long offset2 = builder.Length;
        builder.EnhancedPacket(0, 2, Frame2, withComment: true);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames.Select(f => f.FrameNumber), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(frames[1].Data, Is.EqualTo(Frame2));
        Assert.That(frames[1].TimestampNs, Is.EqualTo(2));
        Assert.That(frames[1].FileOffset, Is.EqualTo(offset2));
    }

    [Test]
    public void Big_endian_section_is_read()
    {
        byte[] file = new PcapNgBytes().Section(bigEndian: true)
            .Interface(tsresol: 9, snapLength: 2_000)
            .EnhancedPacket(0, 1_700_000_000_123_456_789, Frame1, original: 64)
            .SimplePacket(101, Frame2)
            .ToArray();

        using var reader = CaptureFileReader.Open(new MemoryStream(file));
        Assert.That(reader.Format, Is.EqualTo(CaptureFileFormat.PcapNg));
        Assert.That(reader.LinkType, Is.EqualTo(LinkTypes.Ethernet));
        var frames = ReadAll.From(reader, out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames, Has.Count.EqualTo(2));
        Assert.That(frames[0].Data, Is.EqualTo(Frame1));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_700_000_000_123_456_789));
        Assert.That(frames[0].OriginalLength, Is.EqualTo(64));
        Assert.That(frames[1].Data, Is.EqualTo(Frame2));
    }

    [Test]
    public void Sections_switch_byte_order_and_restart_interface_numbering()
    {
        byte[] file = new PcapNgBytes()
            .Section()
            .Interface(tsresol: 6)
            .Interface(tsresol: 9)
            .EnhancedPacket(1, 5, Frame1)
            .Section(bigEndian: true)
            .Interface(tsresol: 3)
            .EnhancedPacket(0, 7, Frame2)
            .Section()
            .Interface(tsresol: 9)
            .EnhancedPacket(0, 11, Frame3)
            .ToArray();

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames.Select(f => f.TimestampNs), Is.EqualTo(new long[] { 5, 7_000_000, 11 }));
        Assert.That(frames[2].Data, Is.EqualTo(Frame3));
    }

    [Test]
    public void Interfaces_of_an_earlier_section_are_gone()
    {
        var builder = new PcapNgBytes()
            .Section().Interface().Interface().EnhancedPacket(1, 5, Frame1)
            .Section().Interface();
        long offset = builder.Length;
        builder.EnhancedPacket(1, 7, Frame2);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo($"frame 2 at byte offset {offset}: packet on interface 1, but the section describes 1 interface(s)"));
    }

    [Test]
    public void Simple_packet_takes_the_previous_timestamp_and_the_snapshot_length_of_interface_0()
    {
        byte[] file = new PcapNgBytes().Section()
            .Interface(tsresol: 9, snapLength: 64)
            .SimplePacket(60, Frame1)
            .EnhancedPacket(0, 1_700_000_000_000_000_042, Frame1)
            .SimplePacket(101, Frame2[..64])
            .ToArray();

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(error, Is.Null);
        Assert.That(frames.Select(f => f.TimestampNs), Is.EqualTo(new long[] { 0, 1_700_000_000_000_000_042, 1_700_000_000_000_000_042 }));
        Assert.That(frames[2].Data, Is.EqualTo(Frame2[..64]));
        Assert.That(frames[2].OriginalLength, Is.EqualTo(101));
    }

    [Test]
    public void Obsolete_packet_block_is_read()
    {
        byte[] file = new PcapNgBytes().Section()
            .Interface(tsresol: 6)
            .Interface(tsresol: 9)
            .ObsoletePacket(1, 1_700_000_000_000_000_003, Frame2)
            .ToArray();

        var frame = ReadAll.From(file, out CaptureFileError? error).Single();

        Assert.That(error, Is.Null);
        Assert.That(frame.Data, Is.EqualTo(Frame2));
        Assert.That(frame.TimestampNs, Is.EqualTo(1_700_000_000_000_000_003));
    }

    [Test]
    public void Section_without_interfaces_or_packets_is_an_empty_capture()
    {
        var frames = ReadAll.From(new PcapNgBytes().Section().ToArray(), out CaptureFileError? error);
        Assert.That(frames, Is.Empty);
        Assert.That(error, Is.Null);
    }

    [Test]
    public void Non_ethernet_interface_before_the_first_packet_fails_the_open()
    {
        byte[] file = new PcapNgBytes().Section().Interface().Interface(linkType: 113).EnhancedPacket(0, 1, Frame1).ToArray();
        ThrowsOnOpen(file, "interface 1: link type 113 (LINUX_SLL) is not Ethernet; capture with -i <interface>, not -i any");
    }

    [Test]
    public void Non_ethernet_interface_in_a_later_section_stops_reading()
    {
        var builder = new PcapNgBytes().Section().Interface().EnhancedPacket(0, 1, Frame1).Section(bigEndian: true);
        long offset = builder.Length;
        builder.Interface(linkType: 101).EnhancedPacket(0, 2, Frame2);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo(
            $"frame 2 at byte offset {offset}: interface 0: link type 101 (RAW) is not Ethernet; only Ethernet captures (link type 1) can be replayed"));
    }

    [Test]
    public void Block_length_mismatch_stops_reading()
    {
        var builder = new PcapNgBytes().Section().Interface().EnhancedPacket(0, 1, Frame1);
        long offset = builder.Length;
        builder.EnhancedPacket(0, 2, Frame1).EnhancedPacket(0, 3, Frame1);
        byte[] file = builder.ToArray();
        int blockLength = (int)(file.Length - offset) / 2;
        file[offset + blockLength - 4] ^= 0x04; // the trailing copy of the second packet's length

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo($"frame 2 at byte offset {offset}: block length mismatch (92 at the start, 88 at the end)"));
    }

    [TestCase(2, "block header truncated (2 of 8 bytes)")]
    [TestCase(8, "block truncated (8 of 92 bytes)")]
    [TestCase(91, "block truncated (91 of 92 bytes)")]
    public void Truncated_block_stops_reading_after_the_frames_before_it(int keep, string expected)
    {
        var builder = new PcapNgBytes().Section().Interface().EnhancedPacket(0, 1, Frame1).EnhancedPacket(0, 2, Frame1);
        long offset = builder.Length;
        builder.EnhancedPacket(0, 3, Frame1);
        byte[] file = builder.ToArray()[..(int)(offset + keep)];

        foreach (int bufferSize in new[] { 64, CaptureFileReader.DefaultBufferSize })
        {
            var frames = ReadAll.From(file, out CaptureFileError? error, bufferSize);

            Assert.That(frames, Has.Count.EqualTo(2), $"buffer {bufferSize}");
            Assert.That(frames[1].Data, Is.EqualTo(Frame1), $"buffer {bufferSize}");
            Assert.That(error?.Message, Is.EqualTo($"frame 3 at byte offset {offset}: {expected}"), $"buffer {bufferSize}");
        }
    }

    [Test]
    public void Damaged_header_block_before_the_first_packet_fails_the_open()
    {
        var builder = new PcapNgBytes().Section();
        long offset = builder.Length;
        byte[] file = builder.Interface().EnhancedPacket(0, 1, Frame1).ToArray()[..(int)(offset + 12)];
        ThrowsOnOpen(file, $"frame 1 at byte offset {offset}: block truncated (12 of 32 bytes)");
    }

    [Test]
    public void Damaged_first_packet_block_is_a_read_error_not_an_open_error()
    {
        var builder = new PcapNgBytes().Section().Interface();
        long offset = builder.Length;
        byte[] file = builder.EnhancedPacket(0, 1, Frame1).ToArray()[..^1];

        using var reader = CaptureFileReader.Open(new MemoryStream(file));
        Assert.That(reader.TryReadNext(out _), Is.False);
        Assert.That(reader.Error?.Message, Is.EqualTo($"frame 1 at byte offset {offset}: block truncated (91 of 92 bytes)"));
    }

    [Test]
    public void Bad_byte_order_magic_in_a_later_section_stops_reading()
    {
        var builder = new PcapNgBytes().Section().Interface().EnhancedPacket(0, 1, Frame1);
        long offset = builder.Length;
        byte[] file = builder.Section().ToArray();
        file[offset + 8] = 0x99;

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo($"frame 2 at byte offset {offset}: bad byte-order magic 0x1a2b3c99 in section header block"));
    }

    [Test]
    public void Bad_byte_order_magic_in_the_first_section_fails_the_open()
    {
        byte[] file = new PcapNgBytes().Section().ToArray();
        file[8] = 0;
        ThrowsOnOpen(file, "frame 1 at byte offset 0: bad byte-order magic 0x1a2b3c00 in section header block");
    }

    [Test]
    public void Interface_option_overrunning_its_block_fails_the_open()
    {
        byte[] body = [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x64, 0x00, 0x65, 0x74, 0x68, 0x30];
        byte[] file = new PcapNgBytes().Section().RawBlock(1, body).ToArray();
        ThrowsOnOpen(file, "frame 1 at byte offset 28: interface description option 2 is 100 bytes long but only 4 remain in the block");
    }

    [Test]
    public void Timestamp_resolution_beyond_what_converts_fails_the_open()
    {
        byte[] file = new PcapNgBytes().Section().Interface(tsresol: 29).ToArray();
        ThrowsOnOpen(file, "frame 1 at byte offset 28: interface 0: timestamp resolution 10^-29 is finer than this reader converts (10^-28)");
    }

    [Test]
    public void Unsupported_section_version_fails_the_open()
    {
        ThrowsOnOpen(new PcapNgBytes().Section(major: 2).ToArray(), "frame 1 at byte offset 0: pcapng version 2.0 is not supported (expected 1.0)");
    }

    [TestCase(262_145u, null, "captured length 262145 is absurd (more than 262144 bytes)")]
    [TestCase(65u, 64u, "captured length 65 exceeds the snapshot length 64")]
    [TestCase(68u, null, "captured length 68 does not fit in the block")]
    public void Bad_captured_length_stops_reading(uint captured, uint? snapLength, string expected)
    {
        var builder = new PcapNgBytes().Section().Interface(snapLength: snapLength ?? 0).EnhancedPacket(0, 1, Frame1);
        long offset = builder.Length;
        builder.EnhancedPacket(0, 2, Frame1, captured: captured);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo($"frame 2 at byte offset {offset}: {expected}"));
    }

    [TestCase(0x0100_0004u, "block length 16777220 is absurd (more than 16777216 bytes)")]
    [TestCase(90u, "block length 90 is invalid (must be a multiple of 4, at least 12)")]
    [TestCase(8u, "block length 8 is invalid (must be a multiple of 4, at least 12)")]
    public void Bad_block_length_stops_reading(uint length, string expected)
    {
        var builder = new PcapNgBytes().Section().Interface().EnhancedPacket(0, 1, Frame1);
        long offset = builder.Length;
        builder.EnhancedPacket(0, 2, Frame1);
        byte[] file = builder.ToArray();
        BitConverter.TryWriteBytes(file.AsSpan((int)offset + 4), length);

        var frames = ReadAll.From(file, out CaptureFileError? error);

        Assert.That(frames, Has.Count.EqualTo(1));
        Assert.That(error?.Message, Is.EqualTo($"frame 2 at byte offset {offset}: {expected}"));
    }

    [Test]
    public void Packet_before_any_interface_stops_reading()
    {
        var builder = new PcapNgBytes().Section();
        long offset = builder.Length;
        builder.EnhancedPacket(0, 1, Frame1);

        var frames = ReadAll.From(builder.ToArray(), out CaptureFileError? error);

        Assert.That(frames, Is.Empty);
        Assert.That(error?.Message, Is.EqualTo($"frame 1 at byte offset {offset}: packet on interface 0, but the section describes 0 interface(s)"));
    }

    private static bool FramesEqual(ReadAll.Frame a, ReadAll.Frame b) =>
        a.Data.AsSpan().SequenceEqual(b.Data) && (a with { Data = [] }) == (b with { Data = [] });
}
