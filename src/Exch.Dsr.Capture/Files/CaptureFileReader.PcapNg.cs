namespace Exch.Dsr.Capture.Files;

// pcapng: sections, each a section header block (which fixes the byte order) followed by interface description
// blocks and packet blocks; every block is type, total length, body, total length again.
// https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/
public sealed partial class CaptureFileReader
{
    private const uint SectionHeaderBlock = 0x0A0D0D0A;
    private const uint InterfaceDescriptionBlock = 1;
    private const uint ObsoletePacketBlock = 2;
    private const uint SimplePacketBlock = 3;
    private const uint EnhancedPacketBlock = 6;

    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const uint ByteOrderMagicSwapped = 0x4D3C2B1A;

    private const int BlockHeaderLength = 8;
    private const int SectionHeaderMinLength = 28;
    private const int InterfaceDescriptionMinLength = 20;
    private const int SimplePacketDataOffset = 12;
    private const int SimplePacketMinLength = SimplePacketDataOffset + 4;

    // Enhanced and obsolete packet blocks: 8-byte block header, 20 bytes of fields, data, options, trailer.
    private const int PacketDataOffset = 28;
    private const int PacketMinLength = PacketDataOffset + 4;

    // No real block comes near it (packets stop at 256 KiB); it bounds how far a corrupt length can grow the buffer.
    private const int MaxBlockLength = 16 << 20;

    private const ushort OptionEndOfOptions = 0;
    private const ushort OptionTimestampResolution = 9;
    private const ushort OptionTimestampOffset = 14;

    private PcapNgInterface[] _interfaces;
    private int _interfaceCount;
    private long _lastTimestampNs;

    /// <summary>
    /// Reads the blocks before the first packet, the file's header in effect, so that an interface of the wrong
    /// link type or a damaged header fails the open. Packet blocks, even damaged ones, are left to
    /// <see cref="TryReadNext"/>, as they are in classic pcap.
    /// </summary>
    private void PrimePcapNg()
    {
        _priming = true;
        while (Fill(4) == 4
            && ReadUInt32(_buffer.AsSpan(_position)) is not (EnhancedPacketBlock or SimplePacketBlock or ObsoletePacketBlock)
            && TryLoadBlock(out uint type, out int length)
            && TryConsumeBlock(type, length))
        {
        }

        _priming = false;
    }

    private bool TryReadPcapNgPacket(out CapturedFrame frame)
    {
        while (TryLoadBlock(out uint type, out int length))
        {
            switch (type)
            {
                case EnhancedPacketBlock:
                    return TryReadEnhancedPacket(length, ReadUInt32(_buffer.AsSpan(_position + 8)), out frame);
                case ObsoletePacketBlock:
                    return TryReadEnhancedPacket(length, ReadUInt16(_buffer.AsSpan(_position + 8)), out frame);
                case SimplePacketBlock:
                    return TryReadSimplePacket(length, out frame);
            }

            if (!TryConsumeBlock(type, length))
                break;
        }

        frame = default;
        return false;
    }

    /// <summary>
    /// Checks the block at the cursor and makes all of it available, leaving the cursor at its start.
    /// Returns false at a clean end of file or, with <see cref="Error"/> set, on a damaged block.
    /// </summary>
    private bool TryLoadBlock(out uint type, out int length)
    {
        type = 0;
        length = 0;
        long offset = CurrentOffset;
        int available = Fill(BlockHeaderLength);
        if (available == 0)
            return false;
        if (available < BlockHeaderLength)
            return Fail(offset, $"block header truncated ({available} of {BlockHeaderLength} bytes)");

        type = ReadUInt32(_buffer.AsSpan(_position));
        if (type == SectionHeaderBlock)
        {
            // The new section's byte order applies to its own length field, so it is read first.
            available = Fill(BlockHeaderLength + 4);
            if (available < BlockHeaderLength + 4)
                return Fail(offset, $"section header block truncated ({available} of {BlockHeaderLength + 4} bytes)");
            uint byteOrder = ReadUInt32(_buffer.AsSpan(_position + BlockHeaderLength));
            if (byteOrder == ByteOrderMagicSwapped)
                _bigEndian = !_bigEndian;
            else if (byteOrder != ByteOrderMagic)
                return Fail(offset, $"bad byte-order magic 0x{byteOrder:x8} in section header block");
        }

        uint totalLength = ReadUInt32(_buffer.AsSpan(_position + 4));
        if (totalLength > MaxBlockLength)
            return Fail(offset, $"block length {totalLength} is absurd (more than {MaxBlockLength} bytes)");
        if (totalLength < BlockHeaderLength + 4 || totalLength % 4 != 0)
            return Fail(offset, $"block length {totalLength} is invalid (must be a multiple of 4, at least 12)");

        length = (int)totalLength;
        available = Fill(length);
        if (available < length)
            return Fail(offset, $"block truncated ({available} of {length} bytes)");
        uint trailer = ReadUInt32(_buffer.AsSpan(_position + length - 4));
        if (trailer != totalLength)
            return Fail(offset, $"block length mismatch ({totalLength} at the start, {trailer} at the end)");
        return true;
    }

    /// <summary>Takes in a loaded block that is not a packet, moving the cursor past it; unknown blocks are skipped.</summary>
    private bool TryConsumeBlock(uint type, int length)
    {
        bool valid = type switch
        {
            SectionHeaderBlock => TryReadSectionHeader(length),
            InterfaceDescriptionBlock => TryReadInterfaceDescription(length),
            _ => true,
        };
        if (valid)
            _position += length;
        return valid;
    }

    private bool TryReadSectionHeader(int length)
    {
        if (length < SectionHeaderMinLength)
            return Fail(CurrentOffset, $"section header block length {length} is too short (at least {SectionHeaderMinLength})");
        ReadOnlySpan<byte> block = _buffer.AsSpan(_position, length);
        ushort major = ReadUInt16(block[12..]);
        ushort minor = ReadUInt16(block[14..]);
        if (major != 1)
            return Fail(CurrentOffset, $"pcapng version {major}.{minor} is not supported (expected 1.0)");

        // Interface numbers restart with every section.
        _interfaceCount = 0;
        return true;
    }

    private bool TryReadInterfaceDescription(int length)
    {
        long offset = CurrentOffset;
        if (length < InterfaceDescriptionMinLength)
            return Fail(offset, $"interface description block length {length} is too short (at least {InterfaceDescriptionMinLength})");

        ReadOnlySpan<byte> block = _buffer.AsSpan(_position, length);
        ushort linkType = ReadUInt16(block[8..]);
        uint snapLength = ReadUInt32(block[12..]);
        if (linkType != LinkTypes.Ethernet)
        {
            string reason = $"interface {_interfaceCount}: {LinkTypes.NotEthernet(linkType)}";
            if (_priming)
                throw new CaptureFileFormatException(reason);
            return Fail(offset, reason);
        }

        byte resolution = PcapNgInterface.DefaultResolution;
        long offsetSeconds = 0;
        int cursor = InterfaceDescriptionMinLength - 4;
        int end = length - 4;
        while (end - cursor >= 4)
        {
            ushort code = ReadUInt16(block[cursor..]);
            ushort optionLength = ReadUInt16(block[(cursor + 2)..]);
            cursor += 4;
            if (code == OptionEndOfOptions)
                break;
            if (optionLength > end - cursor)
                return Fail(offset, $"interface description option {code} is {optionLength} bytes long but only {end - cursor} remain in the block");
            if (code == OptionTimestampResolution && optionLength == 1)
                resolution = block[cursor];
            else if (code == OptionTimestampOffset && optionLength == 8)
                offsetSeconds = (long)ReadUInt64(block[cursor..]);
            cursor += Align4(optionLength);
        }

        if (!PcapNgInterface.IsSupportedResolution(resolution))
            return Fail(offset, $"interface {_interfaceCount}: timestamp resolution 10^-{resolution} is finer than this reader converts (10^-{PcapNgInterface.MaxDecimalExponent})");

        if (_interfaceCount == _interfaces.Length)
            Array.Resize(ref _interfaces, _interfaces.Length * 2);
        _interfaces[_interfaceCount++] = new PcapNgInterface(snapLength, resolution, offsetSeconds);
        return true;
    }

    private bool TryReadEnhancedPacket(int length, uint interfaceId, out CapturedFrame frame)
    {
        // Enhanced (type 6) and obsolete (type 2) packet blocks share this layout; the obsolete one has a 16-bit
        // interface id followed by a drop count where the enhanced one has a 32-bit id.
        frame = default;
        long offset = CurrentOffset;
        if (length < PacketMinLength)
            return Fail(offset, $"packet block length {length} is too short (at least {PacketMinLength})");
        if (interfaceId >= _interfaceCount)
            return Fail(offset, $"packet on interface {interfaceId}, but the section describes {_interfaceCount} interface(s)");

        ReadOnlySpan<byte> block = _buffer.AsSpan(_position, length);
        ref readonly PcapNgInterface description = ref _interfaces[interfaceId];
        ulong ticks = (ulong)ReadUInt32(block[12..]) << 32 | ReadUInt32(block[16..]);
        uint captured = ReadUInt32(block[20..]);
        uint original = ReadUInt32(block[24..]);
        if (!TryCheckCapturedLength(offset, length - PacketMinLength, captured, original, description.SnapLength))
            return false;

        long timestampNs = description.ToNanoseconds(ticks);
        _lastTimestampNs = timestampNs;
        frame = new CapturedFrame(_buffer.AsSpan(_position + PacketDataOffset, (int)captured), timestampNs, (int)original, ++_framesRead, offset);
        _position += length;
        return true;
    }

    /// <summary>
    /// A simple packet block has no timestamp and no interface id: it belongs to interface 0 and gets the
    /// timestamp of the frame before it (0 if it is the first), so replay timing stays monotonic.
    /// </summary>
    private bool TryReadSimplePacket(int length, out CapturedFrame frame)
    {
        frame = default;
        long offset = CurrentOffset;
        if (length < SimplePacketMinLength)
            return Fail(offset, $"simple packet block length {length} is too short (at least {SimplePacketMinLength})");
        if (_interfaceCount == 0)
            return Fail(offset, "simple packet block, but the section describes no interface");

        uint original = ReadUInt32(_buffer.AsSpan(_position + 8));
        uint snapLength = _interfaces[0].SnapLength;
        // The captured length is implied: the original length cut to the interface's snapshot length.
        uint captured = snapLength != 0 && original > snapLength ? snapLength : original;
        if (!TryCheckCapturedLength(offset, length - SimplePacketMinLength, captured, original, snapLength))
            return false;

        frame = new CapturedFrame(_buffer.AsSpan(_position + SimplePacketDataOffset, (int)captured), _lastTimestampNs, (int)original, ++_framesRead, offset);
        _position += length;
        return true;
    }

    /// <param name="room">Bytes between the fixed fields and the trailer: the padded data and any options.</param>
    private bool TryCheckCapturedLength(long offset, int room, uint captured, uint original, uint snapLength)
    {
        if (captured > MaxCapturedLength)
            return Fail(offset, $"captured length {captured} is absurd (more than {MaxCapturedLength} bytes)");
        if (captured > snapLength && snapLength != 0)
            return Fail(offset, $"captured length {captured} exceeds the snapshot length {snapLength}");
        if (original > int.MaxValue)
            return Fail(offset, $"original length {original} is absurd");
        if (Align4((int)captured) > room)
            return Fail(offset, $"captured length {captured} does not fit in the block");
        return true;
    }
}
