using System.Buffers.Binary;

namespace Exch.Dsr.LabBench;

/// <summary>
/// MAC addresses for a replay when the configuration says <c>auto</c>: there is no interface to ask, so the
/// bench makes up locally administered, unicast addresses (first octet 0x02) that are the same on every run.
/// </summary>
public static class LabMacAddresses
{
    /// <summary>The appliance's own address in a replay when the configuration's is <c>auto</c>: 02:d5:00:00:00:01.</summary>
    public static ReadOnlySpan<byte> ReplayAppliance => [0x02, 0xd5, 0x00, 0x00, 0x00, 0x01];

    /// <summary>
    /// A real server's address when its configured one is <c>auto</c>. An IPv4 address is written into the last
    /// four octets (10.0.0.11 becomes 02:00:0a:00:00:0b), so two servers never collide and a reader can tell which
    /// server a frame went to; an IPv6 address is folded by FNV-1a into 02:06 and four hash octets.
    /// Neither prefix can equal <see cref="ReplayAppliance"/>.
    /// </summary>
    public static void DeriveFromAddress(ReadOnlySpan<byte> address, Span<byte> mac)
    {
        mac[0] = 0x02;
        if (address.Length == 4)
        {
            mac[1] = 0x00;
            address.CopyTo(mac[2..]);
            return;
        }

        var hash = 2166136261u;
        foreach (var b in address)
        {
            hash = (hash ^ b) * 16777619u;
        }

        mac[1] = 0x06;
        BinaryPrimitives.WriteUInt32BigEndian(mac[2..], hash);
    }
}
