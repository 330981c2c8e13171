using Exch.Dsr.Capture.Files;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.LabBench.Synthesis;

/// <summary>
/// Turns a plan into Ethernet frames one at a time, as they would arrive at the appliance: from the router's MAC to
/// the appliance's (which answers ARP for the VIP), IPv4 with correct checksums, Windows' TTL of 128 less one hop.
/// Only the plan is held in memory; each frame is composed into one reused buffer.
/// </summary>
public sealed class SyntheticFrameSource(
    PlannedSegment[] plan,
    long startUnixNanoseconds,
    IpAddress128 vip,
    MacAddress applianceMac,
    MacAddress routerMac) : IFrameSource
{
    // The payload's bytes mean nothing to a layer-4 balancer; only their number does.
    private static readonly byte[] Payload = new byte[1460];

    private readonly byte[] _buffer = new byte[1514];
    private int _next;

    /// <summary>The router in front of the array in the demo: 02:00:00:00:00:fe.</summary>
    public static MacAddress DefaultRouterMac { get; } = MacAddress.Parse("02:00:00:00:00:fe");

    public long Position => _next;

    public long Length => plan.Length;

    public CaptureFileError? Error => null;

    public bool TryReadNext(out CapturedFrame frame)
    {
        if (_next == plan.Length)
        {
            frame = default;
            return false;
        }

        var segment = plan[_next];
        var ip = new IpHeader(IpAddress128.FromIPv4(segment.ClientAddress), vip, Ttl: 127, Identification: (ushort)_next);
        var tcp = new TcpHeader(segment.ClientPort, segment.ServicePort, segment.Flags, segment.Sequence, segment.Acknowledgment);
        FrameComposer.TryComposeTcp(_buffer, new L2Header(applianceMac, routerMac), ip, tcp, Payload.AsSpan(0, segment.PayloadLength), out var length);
        _next++;
        frame = new CapturedFrame(_buffer.AsSpan(0, length), startUnixNanoseconds + segment.OffsetNanoseconds, length, _next, _next);
        return true;
    }
}
