using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Exch.Dsr.Configuration;

/// <summary>
/// The persistence netmask: which leading bits of a client address make "one client". Written as a prefix length
/// (32, "/32") or, for IPv4, dotted ("255.255.255.0"); stored as the prefix length. A mask with holes
/// (255.0.255.0) is refused: the persistence table keys on a prefix.
/// </summary>
public static class PersistenceNetmask
{
    /// <summary>Parses <paramref name="text"/> for a VIP of <paramref name="family"/> (Unspecified when the VIP itself is bad).</summary>
    public static bool TryParse(string text, AddressFamily family, out int prefixLength, [NotNullWhen(false)] out string? error)
    {
        prefixLength = 0;
        var trimmed = text.Trim();
        var maximum = family == AddressFamily.InterNetwork ? 32 : 128;
        var digits = trimmed.StartsWith('/') ? trimmed[1..] : trimmed;
        if (digits.Length > 0 && digits.Length <= 3 && digits.All(char.IsAsciiDigit))
        {
            prefixLength = int.Parse(digits, CultureInfo.InvariantCulture);
            if (prefixLength > maximum)
            {
                error = family == AddressFamily.Unspecified
                    ? $"persistence-netmask /{prefixLength} is too long: a prefix length is 0 to 128"
                    : $"persistence-netmask /{prefixLength} is too long for an {FamilyName(family)} vip: a prefix length is 0 to {maximum}";
                return false;
            }

            error = null;
            return true;
        }

        if (!IPAddress.TryParse(trimmed, out var mask) || (mask.AddressFamily == AddressFamily.InterNetwork && trimmed.Count(c => c == '.') != 3))
        {
            error = $"persistence-netmask '{text}' is not a netmask: write a prefix length (32 or \"/32\") or a dotted mask (\"255.255.255.255\")";
            return false;
        }

        if (family != AddressFamily.Unspecified && mask.AddressFamily != family)
        {
            error = $"persistence-netmask '{text}' is an {FamilyName(mask.AddressFamily)} mask but the vip is {FamilyName(family)}: use a prefix length 0 to {maximum}";
            return false;
        }

        var bytes = mask.GetAddressBytes();
        var ones = CountLeadingOnes(bytes);
        if (!IsPrefix(bytes, ones))
        {
            error = $"persistence-netmask '{text}' is not contiguous: its one bits must all come before its zero bits (e.g. 255.255.255.0 = /24)";
            return false;
        }

        prefixLength = ones;
        error = null;
        return true;
    }

    /// <summary>"/24 (255.255.255.0)" for IPv4, "/64" for IPv6.</summary>
    public static string Format(int prefixLength, AddressFamily family)
    {
        if (family != AddressFamily.InterNetwork)
        {
            return string.Create(CultureInfo.InvariantCulture, $"/{prefixLength}");
        }

        var bits = prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, bits);
        return string.Create(CultureInfo.InvariantCulture, $"/{prefixLength} ({new IPAddress(bytes)})");
    }

    private static string FamilyName(AddressFamily family) => family == AddressFamily.InterNetwork ? "IPv4" : "IPv6";

    private static int CountLeadingOnes(byte[] bytes)
    {
        var ones = 0;
        foreach (var b in bytes)
        {
            var run = BitOperations.LeadingZeroCount((uint)(byte)~b) - 24;
            ones += run;
            if (run < 8)
            {
                break;
            }
        }

        return ones;
    }

    private static bool IsPrefix(byte[] bytes, int ones)
    {
        for (var bit = 0; bit < bytes.Length * 8; bit++)
        {
            var set = (bytes[bit / 8] & (0x80 >> (bit % 8))) != 0;
            if (set != bit < ones)
            {
                return false;
            }
        }

        return true;
    }
}
