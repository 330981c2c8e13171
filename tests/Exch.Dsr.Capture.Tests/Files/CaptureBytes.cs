using System.Buffers.Binary;
using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

/// <summary>Deterministic frame contents, so a mismatch points at the exact frame and byte.</summary>
internal static class TestFrames
{
    public static byte[] Make(int length, int seed)
    {
        var frame = new byte[length];
        uint state = (uint)seed * 2_654_435_761u + 1;
        for (int i = 0; i < length; i++)
        {
            state = state * 1_664_525u + 1_013_904_223u;
            frame[i] = (byte)(state >> 24);
        }

        return frame;
    }
}

/// <summary>Builds classic pcap files byte by byte, in either byte order, including broken ones.</summary>
internal sealed class PcapBytes
{
    private readonly MemoryStream _bytes = new();
    private readonly bool _bigEndian;

    public PcapBytes(uint magic = 0xA1B2C3D4, bool bigEndian = false, uint snapLength = 65535, uint linkType = 1, ushort major = 2, ushort minor = 4)
    {
        _bigEndian = bigEndian;
        U32(magic);
        U16(major);
        U16(minor);
        U32(0);
        U32(0);
        U32(snapLength);
        U32(linkType);
    }

    public long Length => _bytes.Length;

    public PcapBytes Record(uint seconds, uint fraction, byte[] data, uint? captured = null, uint? original = null)
    {
        U32(seconds);
        U32(fraction);
        U32(captured ?? (uint)data.Length);
        U32(original ?? (uint)data.Length);
        _bytes.Write(data);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private void U16(ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        if (_bigEndian)
            BinaryPrimitives.WriteUInt16BigEndian(b, value);
        else
            BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        _bytes.Write(b);
    }

    private void U32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        if (_bigEndian)
            BinaryPrimitives.WriteUInt32BigEndian(b, value);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _bytes.Write(b);
    }
}

/// <summary>Builds pcapng files block by block; each section has its own byte order.</summary>
internal sealed class PcapNgBytes
{
    private readonly MemoryStream _bytes = new();
    private bool _bigEndian;

    public long Length => _bytes.Length;

    public PcapNgBytes Section(bool bigEndian = false, ushort major = 1)
    {
        _bigEndian = bigEndian;
        var body = new Body(bigEndian);
        body.U32(0x1A2B3C4D);
        body.U16(major);
        body.U16(0);
        body.U64(ulong.MaxValue);
        return Block(0x0A0D0D0A, body);
    }

    /// <param name="tsresol">if_tsresol option value, or null to leave the option out (microseconds).</param>
    public PcapNgBytes Interface(ushort linkType = 1, uint snapLength = 262144, byte? tsresol = null, long? tsoffset = null)
    {
        var body = new Body(_bigEndian);
        body.U16(linkType);
        body.U16(0);
        body.U32(snapLength);
        body.Option(2, "eth0"u8);
        if (tsresol is { } resol)
            body.Option(9, [resol]);
        if (tsoffset is { } offset)
        {
            var value = new byte[8];
            if (_bigEndian)
                BinaryPrimitives.WriteInt64BigEndian(value, offset);
            else
                BinaryPrimitives.WriteInt64LittleEndian(value, offset);
            body.Option(14, value);
        }

        body.U32(0);
        return Block(1, body);
    }

    public PcapNgBytes EnhancedPacket(uint interfaceId, ulong ticks, byte[] data, uint? original = null, uint? captured = null, bool withComment = false)
    {
        var body = new Body(_bigEndian);
        body.U32(interfaceId);
        body.U32((uint)(ticks >> 32));
        body.U32((uint)ticks);
        body.U32(captured ?? (uint)data.Length);
        body.U32(original ?? (uint)data.Length);
        body.Padded(data);
        if (withComment)
        {
            body.Option(1, "a comment"u8);
            body.U32(0);
        }

        return Block(6, body);
    }

    public PcapNgBytes ObsoletePacket(ushort interfaceId, ulong ticks, byte[] data)
    {
        var body = new Body(_bigEndian);
        body.U16(interfaceId);
        body.U16(0);
        body.U32((uint)(ticks >> 32));
        body.U32((uint)ticks);
        body.U32((uint)data.Length);
        body.U32((uint)data.Length);
        body.Padded(data);
        return Block(2, body);
    }

    public PcapNgBytes SimplePacket(uint original, byte[] data)
    {
        var body = new Body(_bigEndian);
        body.U32(original);
        body.Padded(data);
        return Block(3, body);
    }

    public PcapNgBytes RawBlock(uint type, byte[] body)
    {
        var b = new Body(_bigEndian);
        b.Padded(body);
        return Block(type, b);
    }

    /// <summary>Appends bytes as they are, for blocks broken on purpose.</summary>
    public PcapNgBytes Raw(byte[] bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private PcapNgBytes Block(uint type, Body body)
    {
        var header = new Body(_bigEndian);
        uint total = (uint)(12 + body.Length);
        header.U32(type);
        header.U32(total);
        _bytes.Write(header.ToArray());
        _bytes.Write(body.ToArray());
        var trailer = new Body(_bigEndian);
        trailer.U32(total);
        _bytes.Write(trailer.ToArray());
        return this;
    }

    private sealed class Body(bool bigEndian)
    {
        private readonly MemoryStream _bytes = new();

        public int Length => (int)_bytes.Length;

        public void U16(ushort value)
        {
            var b = new byte[2];
            if (bigEndian)
                BinaryPrimitives.WriteUInt16BigEndian(b, value);
            else
                BinaryPrimitives.WriteUInt16LittleEndian(b, value);
            _bytes.Write(b);
        }

        public void U32(uint value)
        {
            var b = new byte[4];
            if (bigEndian)
                BinaryPrimitives.WriteUInt32BigEndian(b, value);
            else
                BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            _bytes.Write(b);
        }

        public void U64(ulong value)
        {
            var b = new byte[8];
            if (bigEndian)
                BinaryPrimitives.WriteUInt64BigEndian(b, value);
            else
                BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            _bytes.Write(b);
        }

        public void Option(ushort code, ReadOnlySpan<byte> value)
        {
            U16(code);
            U16((ushort)value.Length);
            Padded(value);
        }

        public void Padded(ReadOnlySpan<byte> data)
        {
            _bytes.Write(data);
            _bytes.Write(new byte[(4 - data.Length % 4) % 4]);
        }

        public byte[] ToArray() => _bytes.ToArray();
    }
}

/// <summary>Reads every frame of a capture into memory, copying the data, for comparisons.</summary>
internal static class ReadAll
{
    public sealed record Frame(byte[] Data, long TimestampNs, int OriginalLength, long FrameNumber, long FileOffset);

    public static List<Frame> From(byte[] file, out CaptureFileError? error, int bufferSize = CaptureFileReader.DefaultBufferSize)
    {
        using var reader = CaptureFileReader.Open(new MemoryStream(file), bufferSize: bufferSize);
        return From(reader, out error);
    }

    public static List<Frame> From(CaptureFileReader reader, out CaptureFileError? error)
    {
        var frames = new List<Frame>();
        while (reader.TryReadNext(out CapturedFrame frame))
            frames.Add(new Frame(frame.Data.ToArray(), frame.TimestampNs, frame.OriginalLength, frame.FrameNumber, frame.FileOffset));
        error = reader.Error;
        Assert.That(reader.FramesRead, Is.EqualTo(frames.Count));
        return frames;
    }
}
