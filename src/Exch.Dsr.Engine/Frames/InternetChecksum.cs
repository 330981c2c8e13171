using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>The RFC 1071 ones'-complement checksum, with the IPv4 and IPv6 pseudo-headers.</summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> as big-endian 16-bit words to <paramref name="sum"/> (odd tail zero-padded).</summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        var i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            sum += BinaryPrimitives.ReadUInt32BigEndian(data[i..]);
        }

        if (i + 2 <= data.Length)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
            i += 2;
        }

        if (i < data.Length)
        {
            sum += (ulong)data[i] << 8;
        }

        return sum;
    }

    public static ushort Finish(ulong sum)
    {
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }

    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>The pseudo-header sum for a transport checksum: IPv4 (RFC 793) or IPv6 (RFC 8200 §8.1) by address family.</summary>
    public static ulong PseudoHeader(IpAddress128 source, IpAddress128 destination, byte protocol, int upperLayerLength)
    {
        if (source.IsIPv4)
        {
            return (ulong)source.IPv4Value + destination.IPv4Value + protocol + (uint)upperLayerLength;
        }

        ulong sum = 0;
        sum += (source.High >> 32) + (uint)source.High + (source.Low >> 32) + (uint)source.Low;
        sum += (destination.High >> 32) + (uint)destination.High + (destination.Low >> 32) + (uint)destination.Low;
        return sum + (uint)upperLayerLength + protocol;
    }
}
