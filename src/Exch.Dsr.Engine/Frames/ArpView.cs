using System.Buffers.Binary;

namespace Exch.Dsr.Engine.Frames;

/// <summary>An ARP packet for IPv4 over Ethernet (RFC 826), the only kind the engine answers for.</summary>
public readonly ref struct ArpView
{
    public const int Length = 28;
    public const ushort OperationRequest = 1;
    public const ushort OperationReply = 2;

    private readonly ReadOnlySpan<byte> _packet;

    private ArpView(ReadOnlySpan<byte> packet) => _packet = packet;

    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_packet[6..]);

    public MacAddress SenderMac => MacAddress.Read(_packet[8..]);

    public IpAddress128 SenderIp => IpAddress128.ReadIPv4(_packet[14..]);

    public MacAddress TargetMac => MacAddress.Read(_packet[18..]);

    public IpAddress128 TargetIp => IpAddress128.ReadIPv4(_packet[24..]);

    /// <summary>
    /// False with <see cref="MalformedReason.TruncatedArp"/> when short, or with <see cref="MalformedReason.None"/>
    /// when it is well formed but not Ethernet/IPv4 ARP (nothing the engine should act on).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> packet, out ArpView view, out MalformedReason reason)
    {
        view = default;
        reason = MalformedReason.None;
        if (packet.Length < Length)
        {
            reason = MalformedReason.TruncatedArp;
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(packet) != 1
            || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != EtherTypes.IPv4
            || packet[4] != 6
            || packet[5] != 4)
        {
            return false;
        }

        view = new ArpView(packet);
        return true;
    }
}
