using System.Buffers.Binary;

namespace Exch.Dsr.Capture.Files;

/// <summary>
/// Writes a classic pcap file with nanosecond timestamps (magic a1b23c4d, little-endian, LINKTYPE_ETHERNET,
/// snapshot length 262144), streaming through one large buffer without allocating per frame.
/// </summary>
/// <remarks>
/// Nanosecond pcap keeps replayed timestamps exact; tcpdump, tshark and editcap all read it. Frames reach the
/// stream when the buffer fills, on <see cref="Flush"/> and on <see cref="Dispose"/>.
/// </remarks>
public sealed class PcapFileWriter : IDisposable
{
    public const int SnapLength = 262_144;
    public const int DefaultBufferSize = 1 << 20;

    private const uint NanosecondMagic = 0xA1B23C4D;
    private const int FileHeaderLength = 24;
    private const int RecordHeaderLength = 16;

    // The buffer always holds at least one whole record, so no frame is ever written in pieces.
    private const int MinBufferSize = RecordHeaderLength + SnapLength;

    private const ulong NsPerSecond = 1_000_000_000;

    // The seconds field is unsigned 32-bit: timestamps run out in February 2106.
    private const ulong TimestampLimitNs = (ulong)uint.MaxValue * NsPerSecond + NsPerSecond;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _buffer;
    private int _count;
    private bool _disposed;

    public PcapFileWriter(Stream stream, bool leaveOpen = false, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, MinBufferSize);
        _stream = stream;
        _leaveOpen = leaveOpen;
        _buffer = new byte[bufferSize];
        WriteFileHeader();
    }

    public long FramesWritten { get; private set; }

    /// <summary>Creates (or overwrites) a pcap file.</summary>
    public static PcapFileWriter Create(string path, int bufferSize = DefaultBufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, MinBufferSize);
        // Unbuffered: this writer's buffer already turns frames into large writes.
        var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        return new PcapFileWriter(stream, leaveOpen: false, bufferSize);
    }

    /// <summary>Appends one frame.</summary>
    /// <param name="data">The captured bytes, at most <see cref="SnapLength"/>.</param>
    /// <param name="timestampNs">Nanoseconds since the Unix epoch, up to the year 2106.</param>
    /// <param name="originalLength">The frame's length on the wire, at least <paramref name="data"/>'s length.</param>
    public void Write(ReadOnlySpan<byte> data, long timestampNs, int originalLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (data.Length > SnapLength)
            throw new ArgumentException($"a frame of {data.Length} bytes exceeds the snapshot length {SnapLength}", nameof(data));
        ArgumentOutOfRangeException.ThrowIfLessThan(originalLength, data.Length);
        if ((ulong)timestampNs >= TimestampLimitNs)
            throw new ArgumentOutOfRangeException(nameof(timestampNs), timestampNs, "pcap timestamps run from 1970 to 2106");

        int recordLength = RecordHeaderLength + data.Length;
        if (_buffer.Length - _count < recordLength)
            WriteBuffer();

        Span<byte> record = _buffer.AsSpan(_count, recordLength);
        ulong timestamp = (ulong)timestampNs;
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(timestamp / NsPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(timestamp % NsPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)originalLength);
        data.CopyTo(record[RecordHeaderLength..]);
        _count += recordLength;
        FramesWritten++;
    }

    /// <summary>Writes everything buffered to the stream and flushes it.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WriteBuffer();
        _stream.Flush();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        try
        {
            WriteBuffer();
            _stream.Flush();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
                _stream.Dispose();
        }
    }

    private void WriteFileHeader()
    {
        Span<byte> header = _buffer.AsSpan(0, FileHeaderLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header, NanosecondMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], SnapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], LinkTypes.Ethernet);
        _count = FileHeaderLength;
    }

    private void WriteBuffer()
    {
        if (_count == 0)
            return;
        _stream.Write(_buffer, 0, _count);
        _count = 0;
    }
}
