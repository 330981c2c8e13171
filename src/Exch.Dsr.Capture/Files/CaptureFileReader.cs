using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Exch.Dsr.Capture.Files;

/// <summary>
/// Streams the frames of a classic pcap or pcapng file, auto-detecting the format, without allocating per frame.
/// </summary>
/// <remarks>
/// <para>
/// Records are parsed in place in one large reusable buffer, filled by big sequential reads; a frame's
/// <see cref="CapturedFrame.Data"/> points into it and is overwritten by the next <see cref="TryReadNext"/>.
/// The buffer grows only for a record larger than itself.
/// </para>
/// <para>
/// Errors come in two kinds. A file that cannot be replayed at all (empty, not a capture file, unreadable
/// header, a link type other than Ethernet) throws <see cref="CaptureFileFormatException"/> from
/// <see cref="Open(string, int)"/>. A file that goes bad later (truncated, corrupt) ends the frame sequence:
/// <see cref="TryReadNext"/> returns false and <see cref="Error"/> says where and why, after every frame
/// before that point was returned normally.
/// </para>
/// </remarks>
public sealed partial class CaptureFileReader : IDisposable
{
    public const int DefaultBufferSize = 1 << 20;

    /// <summary>
    /// The largest captured length accepted: the snapshot length tcpdump and dumpcap use, far above any
    /// Ethernet frame, jumbo included. Anything bigger means the record header is garbage.
    /// </summary>
    public const int MaxCapturedLength = 262_144;

    // Big enough for a record header and a little more; the buffer grows to fit whatever record comes.
    private const int MinBufferSize = 64;

    private const long NsPerSecond = 1_000_000_000;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private byte[] _buffer;
    private int _position;
    private int _length;
    private long _bufferFileOffset;
    private bool _endOfStream;
    private bool _bigEndian;
    private bool _priming;
    private long _framesRead;

    private CaptureFileReader(Stream stream, bool leaveOpen, int bufferSize)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _buffer = new byte[bufferSize];
        _interfaces = new PcapNgInterface[4];
    }

    public CaptureFileFormat Format { get; private set; }

    /// <summary>
    /// The LINKTYPE_ of the frames; always <see cref="LinkTypes.Ethernet"/>, as any other fails the open
    /// (for pcapng, every interface is checked).
    /// </summary>
    public int LinkType { get; private set; }

    /// <summary>Frames returned so far.</summary>
    public long FramesRead => _framesRead;

    /// <summary>Set when reading stopped at a truncated or corrupt record; null after a clean end of file.</summary>
    public CaptureFileError? Error { get; private set; }

    private long CurrentOffset => _bufferFileOffset + _position;

    /// <summary>Opens a capture file for sequential reading.</summary>
    /// <exception cref="CaptureFileFormatException">The file is not a readable Ethernet capture.</exception>
    public static CaptureFileReader Open(string path, int bufferSize = DefaultBufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, MinBufferSize);
        // Unbuffered: the reader's own buffer already turns records into large reads, a second copy would only cost.
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        return Open(stream, leaveOpen: false, bufferSize);
    }

    /// <summary>Reads a capture from a stream, starting at its current position; offsets count from there.</summary>
    /// <exception cref="CaptureFileFormatException">The stream does not hold a readable Ethernet capture.</exception>
    public static CaptureFileReader Open(Stream stream, bool leaveOpen = false, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, MinBufferSize);
        var reader = new CaptureFileReader(stream, leaveOpen, bufferSize);
        try
        {
            reader.ReadFileHeader();
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the next frame. Returns false at the end of the file, or when the rest of the file cannot be read,
    /// in which case <see cref="Error"/> is set.
    /// </summary>
    public bool TryReadNext(out CapturedFrame frame)
    {
        if (Error is null)
            return Format == CaptureFileFormat.Pcap ? TryReadPcapRecord(out frame) : TryReadPcapNgPacket(out frame);
        frame = default;
        return false;
    }

    public void Dispose()
    {
        if (!_leaveOpen)
            _stream.Dispose();
    }

    private void ReadFileHeader()
    {
        int available = Fill(4);
        if (available == 0)
            throw new CaptureFileFormatException("empty file: not a pcap or pcapng file");
        if (available < 4)
            throw new CaptureFileFormatException($"not a pcap or pcapng file (only {available} bytes)");

        uint magic = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_position));
        switch (magic)
        {
            case PcapMicrosecondMagic:
            case PcapNanosecondMagic:
            case PcapMicrosecondMagicSwapped:
            case PcapNanosecondMagicSwapped:
                ReadPcapFileHeader(magic);
                break;
            case SectionHeaderBlock:
                Format = CaptureFileFormat.PcapNg;
                LinkType = LinkTypes.Ethernet;
                PrimePcapNg();
                break;
            case 0xA1B2CD34:
            case 0x34CDB2A1:
                throw new CaptureFileFormatException(
                    $"modified (Kuznetsov) pcap is not supported (magic 0x{magic:x8}); convert it with editcap -F pcap");
            default:
                // gzip: tcpdump and dumpcap write compressed captures on request, and editcap reads them.
                string hint = magic >> 16 == 0x1F8B ? "; it is gzip-compressed, decompress it first" : "";
                throw new CaptureFileFormatException($"not a pcap or pcapng file (magic 0x{magic:x8}){hint}");
        }
    }

    /// <summary>
    /// Fails the read at <paramref name="offset"/>. While the header blocks of a pcapng file are read at open,
    /// there is nothing before the damage to return, so it throws instead.
    /// </summary>
    private bool Fail(long offset, string reason)
    {
        Error = new CaptureFileError(_framesRead + 1, offset, reason);
        if (_priming)
            throw new CaptureFileFormatException(Error.Message);
        return false;
    }

    /// <summary>Makes <paramref name="count"/> bytes available at the cursor, or as many as the stream has left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Fill(int count) => _length - _position >= count ? count : FillSlow(count);

    private int FillSlow(int count)
    {
        int available = _length - _position;
        if (_buffer.Length - _position < count)
        {
            // The record runs past the end of the buffer: slide the unread tail to the front, into a bigger
            // buffer if the record is bigger than this one, so every record is parsed from one contiguous span.
            byte[] target = count <= _buffer.Length ? _buffer : new byte[Math.Max(count, _buffer.Length * 2)];
            _buffer.AsSpan(_position, available).CopyTo(target);
            _buffer = target;
            _bufferFileOffset += _position;
            _position = 0;
            _length = available;
        }

        while (!_endOfStream && _length - _position < count)
        {
            int read = _stream.Read(_buffer, _length, _buffer.Length - _length);
            if (read == 0)
                _endOfStream = true;
            _length += read;
        }

        return Math.Min(count, _length - _position);
    }

    private static int Align4(int length) => (length + 3) & ~3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort ReadUInt16(ReadOnlySpan<byte> source) =>
        _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(source) : BinaryPrimitives.ReadUInt16LittleEndian(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint ReadUInt32(ReadOnlySpan<byte> source) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(source) : BinaryPrimitives.ReadUInt32LittleEndian(source);

    private ulong ReadUInt64(ReadOnlySpan<byte> source) =>
        _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(source) : BinaryPrimitives.ReadUInt64LittleEndian(source);
}
