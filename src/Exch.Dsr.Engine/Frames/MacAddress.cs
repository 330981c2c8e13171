using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>
/// A 48-bit Ethernet address held in the low bits of one <see cref="ulong"/>, so it compares and hashes
/// as a single register on the packet path.
/// </summary>
public readonly struct MacAddress : IEquatable<MacAddress>
{
    public const int Length = 6;

    private readonly ulong _value;

    private MacAddress(ulong value) => _value = value & 0xFFFF_FFFF_FFFFUL;

    public static MacAddress Zero => default;

    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    public bool IsZero => _value == 0;

    /// <summary>Set when the group bit (least significant bit of the first octet) is set.</summary>
    public bool IsMulticast => (_value & 0x0100_0000_0000UL) != 0;

    public static MacAddress FromUInt64(ulong value) => new(value);

    public ulong ToUInt64() => _value;

    /// <summary>Reads the first six bytes of <paramref name="source"/>; the caller guarantees the length.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> source)
        => new(((ulong)BinaryPrimitives.ReadUInt32BigEndian(source) << 16) | BinaryPrimitives.ReadUInt16BigEndian(source[4..]));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)(_value >> 16));
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)_value);
    }

    /// <summary>Accepts <c>aa:bb:cc:dd:ee:ff</c> or <c>aa-bb-cc-dd-ee-ff</c>, case-insensitive.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress address)
    {
        address = default;
        if (text.Length != 17)
        {
            return false;
        }

        ulong value = 0;
        for (var i = 0; i < 6; i++)
        {
            var hi = HexValue(text[i * 3]);
            var lo = HexValue(text[(i * 3) + 1]);
            if (hi < 0 || lo < 0)
            {
                return false;
            }

            if (i < 5 && text[(i * 3) + 2] is not (':' or '-'))
            {
                return false;
            }

            value = (value << 8) | (uint)((hi << 4) | lo);
        }

        address = new MacAddress(value);
        return true;
    }

    public static MacAddress Parse(string text)
        => TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not a MAC address (expected aa:bb:cc:dd:ee:ff).");

    public bool Equals(MacAddress other) => _value == other._value;

    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);

    public override int GetHashCode() => _value.GetHashCode();

    public static bool operator ==(MacAddress left, MacAddress right) => left._value == right._value;

    public static bool operator !=(MacAddress left, MacAddress right) => left._value != right._value;

    public override string ToString()
        => string.Create(17, _value, static (chars, value) =>
        {
            for (var i = 0; i < 6; i++)
            {
                var b = (byte)(value >> (40 - (i * 8)));
                chars[i * 3] = "0123456789abcdef"[b >> 4];
                chars[(i * 3) + 1] = "0123456789abcdef"[b & 0xF];
                if (i < 5)
                {
                    chars[(i * 3) + 2] = ':';
                }
            }
        });

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
