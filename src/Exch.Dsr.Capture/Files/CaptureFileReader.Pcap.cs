namespace Exch.Dsr.Capture.Files;

// Classic pcap: a 24-byte file header, then records of a 16-byte header and the captured bytes.
// https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/
public sealed partial class CaptureFileReader
{
    // Magic numbers as the first four bytes read big-endian; the swapped forms mean a little-endian file.
    private const uint PcapMicrosecondMagic = 0xA1B2C3D4;
    private const uint PcapNanosecondMagic = 0xA1B23C4D;
    private const uint PcapMicrosecondMagicSwapped = 0xD4C3B2A1;
    private const uint PcapNanosecondMagicSwapped = 0x4D3CB2A1;

    private const int PcapFileHeaderLength = 24;
    private const int PcapRecordHeaderLength = 16;

    // The link type field's upper bits carry FCS information; libpcap masks the same way (LT_LINKTYPE).
    private const uint PcapLinkTypeMask = 0x03FF_FFFF;

    private uint _snapLength;
    private long _fractionToNs;

    private void ReadPcapFileHeader(uint magic)
    {
        Format = CaptureFileFormat.Pcap;
        _bigEndian = magic is PcapMicrosecondMagic or PcapNanosecondMagic;
        _fractionToNs = magic is PcapNanosecondMagic or PcapNanosecondMagicSwapped ? 1 : 1000;

        int available = Fill(PcapFileHeaderLength);
        if (available < PcapFileHeaderLength)
            throw new CaptureFileFormatException($"pcap file header truncated ({available} of {PcapFileHeaderLength} bytes)");

        ReadOnlySpan<byte> header = _buffer.AsSpan(_position, PcapFileHeaderLength);
        ushort major = ReadUInt16(header[4..]);
        ushort minor = ReadUInt16(header[6..]);
        if (major != 2)
            throw new CaptureFileFormatException($"pcap version {major}.{minor} is not supported (expected 2.4)");

        _snapLength = ReadUInt32(header[16..]);
        LinkType = (int)(ReadUInt32(header[20..]) & PcapLinkTypeMask);
        if (LinkType != LinkTypes.Ethernet)
            throw new CaptureFileFormatException(LinkTypes.NotEthernet(LinkType));

        _position += PcapFileHeaderLength;
    }

    private bool TryReadPcapRecord(out CapturedFrame frame)
    {
        frame = default;
        long offset = CurrentOffset;
        int available = Fill(PcapRecordHeaderLength);
        if (available == 0)
            return false;
        if (available < PcapRecordHeaderLength)
            return Fail(offset, $"record header truncated ({available} of {PcapRecordHeaderLength} bytes)");

        ReadOnlySpan<byte> header = _buffer.AsSpan(_position, PcapRecordHeaderLength);
        uint seconds = ReadUInt32(header);
        uint fraction = ReadUInt32(header[4..]);
        uint captured = ReadUInt32(header[8..]);
        uint original = ReadUInt32(header[12..]);
        if (captured > MaxCapturedLength)
            return Fail(offset, $"captured length {captured} is absurd (more than {MaxCapturedLength} bytes)");
        // A snapshot length of 0 is written by some tools to mean "no limit".
        if (captured > _snapLength && _snapLength != 0)
            return Fail(offset, $"captured length {captured} exceeds the snapshot length {_snapLength}");
        if (original > int.MaxValue)
            return Fail(offset, $"original length {original} is absurd");

        int recordLength = PcapRecordHeaderLength + (int)captured;
        available = Fill(recordLength);
        if (available < recordLength)
            return Fail(offset, $"record data truncated ({available - PcapRecordHeaderLength} of {captured} bytes)");

        long timestampNs = seconds * NsPerSecond + fraction * _fractionToNs;
        frame = new CapturedFrame(
            _buffer.AsSpan(_position + PcapRecordHeaderLength, (int)captured), timestampNs, (int)original, ++_framesRead, offset);
        _position += recordLength;
        return true;
    }
}
