using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// An IPv4 or IPv6 address as two big-endian halves. IPv4 is stored IPv4-mapped (<c>::ffff:a.b.c.d</c>) so both
/// families share one key type in every table. Consequence: an IPv4-mapped address seen inside a real IPv6 header is
/// indistinguishable from IPv4; such addresses are not valid on the wire (RFC 4291 §2.5.5.2), so nothing is lost.
/// </summary>
public readonly struct IpAddress128 : IEquatable<IpAddress128>
{
    private const ulong MappedPrefix = 0x0000_FFFF_0000_0000UL;

    public IpAddress128(ulong high, ulong low)
    {
        High = high;
        Low = low;
    }

    public ulong High { get; }

    public ulong Low { get; }

    public bool IsIPv4 => High == 0 && (Low & 0xFFFF_FFFF_0000_0000UL) == MappedPrefix;

    /// <summary>The IPv4 address as a host-order integer; meaningful only when <see cref="IsIPv4"/>.</summary>
    public uint IPv4Value => (uint)Low;

    public static IpAddress128 FromIPv4(uint hostOrder) => new(0, MappedPrefix | hostOrder);

    public static IpAddress128 ReadIPv4(ReadOnlySpan<byte> source) => FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(source));

    public static IpAddress128 ReadIPv6(ReadOnlySpan<byte> source)
        => new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public void WriteIPv4(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)Low);

    public void WriteIPv6(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public static IpAddress128 FromIPAddress(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return ReadIPv4(bytes);
        }

        address.TryWriteBytes(bytes, out _);
        return ReadIPv6(bytes);
    }

    public static IpAddress128 Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        if (IsIPv4)
        {
            WriteIPv4(bytes);
            return new IPAddress(bytes[..4]);
        }

        WriteIPv6(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>
    /// Keeps the first <paramref name="prefixLength"/> bits of the address in its own family
    /// (0-32 for IPv4, 0-128 for IPv6); out-of-range values are clamped.
    /// </summary>
    public IpAddress128 Mask(int prefixLength)
    {
        if (IsIPv4)
        {
            var bits = Math.Clamp(prefixLength, 0, 32);
            var mask = bits == 0 ? 0u : uint.MaxValue << (32 - bits);
            return FromIPv4((uint)Low & mask);
        }

        var p = Math.Clamp(prefixLength, 0, 128);
        var highMask = p >= 64 ? ulong.MaxValue : p == 0 ? 0UL : ulong.MaxValue << (64 - p);
        var lowMask = p <= 64 ? 0UL : p == 128 ? ulong.MaxValue : ulong.MaxValue << (128 - p);
        return new IpAddress128(High & highMask, Low & lowMask);
    }

    /// <summary>A fixed (not per-process randomized) 64-bit hash, so table placement and schedulers are deterministic.</summary>
    public ulong StableHash() => StableHashing.Mix(High ^ StableHashing.Mix(Low));

    public bool Equals(IpAddress128 other) => High == other.High && Low == other.Low;

    public override bool Equals(object? obj) => obj is IpAddress128 other && Equals(other);

    public override int GetHashCode() => (int)StableHash();

    public static bool operator ==(IpAddress128 left, IpAddress128 right) => left.Equals(right);

    public static bool operator !=(IpAddress128 left, IpAddress128 right) => !left.Equals(right);

    public override string ToString() => ToIPAddress().ToString();
}
