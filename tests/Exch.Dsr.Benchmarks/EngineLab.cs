using System.Net;
using Exch.Dsr.Capture.Memory;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// The routing setup the engine benchmarks run against: the shipped configuration's <c>owa-https</c> service
/// (VIP 192.0.2.10:443, wlc, persistence with a /32 netmask, two CAS) with tables sized for the client count, and
/// the client addresses and ports the frames come from; and the same service on an IPv6 VIP (2001:db8::10) with
/// clients in 2001:db8:c::/48.
/// </summary>
internal static class EngineLab
{
    public const int TableCapacity = 1 << 20;
    public const ushort HttpsPort = 443;

    public static readonly MacAddress Appliance = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress Router = MacAddress.Parse("02:00:00:00:00:fe");
    public static readonly IpAddress128 Vip = IpAddress128.Parse("192.0.2.10");
    public static readonly IpAddress128 IPv6Vip = IpAddress128.Parse("2001:db8::10");

    public static RealServer[] Servers { get; } =
    [
        new("CAS1", IPAddress.Parse("192.0.2.11"), MacAddress.Parse("02:00:00:00:10:01")),
        new("CAS2", IPAddress.Parse("192.0.2.12"), MacAddress.Parse("02:00:00:00:10:02")),
    ];

    /// <summary>Client <paramref name="i"/>'s address in 10.0.0.0/8: an odd multiplier scatters consecutive clients over the /8 without repeats.</summary>
    public static IpAddress128 Client(int i) => IpAddress128.FromIPv4(0x0A00_0000u | (((uint)i + 1) * 0x9E3779u & 0x00FF_FFFFu));

    /// <summary>Client <paramref name="i"/>'s IPv6 address: 2001:db8:c:X::Y, the same scatter as <see cref="Client"/> over its 24 bits.</summary>
    public static IpAddress128 IPv6Client(int i)
    {
        var scattered = ((uint)i + 1) * 0x9E3779u & 0x00FF_FFFFu;
        return new IpAddress128(0x2001_0DB8_000C_0000UL | (scattered >> 12), 0x1000UL | (scattered & 0xFFF));
    }

    public static ushort ClientPort(int i) => (ushort)(49152 + ((i * 7919) & 0x3FFF));

    public static VirtualService OwaHttps(TimeSpan persistence, ConnectionTimeouts timeouts, bool ipv6 = false) => new()
    {
        Name = "owa-https",
        Vip = (ipv6 ? IPv6Vip : Vip).ToIPAddress(),
        Ports = [HttpsPort],
        Scheduler = SchedulerKind.WeightedLeastConnection,
        PersistenceTimeout = persistence,
        PersistencePrefixLength = ipv6 ? 128 : 32,
        PersistenceTableSize = TableCapacity,
        Members = [new ServiceMember("CAS1"), new ServiceMember("CAS2")],
        Timeouts = timeouts,
    };

    /// <param name="hugePages">Ask for huge pages over the connection table, as the live forwarder does.</param>
    /// <param name="connections">The connection table's capacity (<c>[appliance] connections</c>).</param>
    public static ForwardingEngine CreateEngine(VirtualService service, bool hugePages = false, int connections = TableCapacity)
    {
        var snapshot = new RoutingSnapshotBuilder().Build(Servers, [service]);
        var engine = new ForwardingEngine(Appliance, new ForwardingEngineOptions
        {
            ConnectionCapacity = connections,
            ConnectionTableMemory = hugePages ? static (address, length) => HugePages.Request(address, length) : null,
        });
        engine.Publish(snapshot);
        engine.AdoptPublished();
        return engine;
    }

    /// <summary>Fisher-Yates with a fixed seed: the same order on every run.</summary>
    public static int[] Shuffled(int count, int seed)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
        }

        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>
    /// Throws unless <paramref name="verdict"/> forwarded the frame to a member of the service with the MACs rewritten,
    /// so that a benchmark can never time a drop path by accident.
    /// </summary>
    public static void Expect(ForwardingEngine engine, ReadOnlySpan<byte> frame, ForwardVerdict verdict, in ForwardDecision decision, DecisionReason reason, int index)
    {
        if (verdict != ForwardVerdict.Forwarded)
        {
            throw new InvalidOperationException($"frame {index}: {verdict}, expected Forwarded");
        }

        if (decision.Reason != reason)
        {
            throw new InvalidOperationException($"frame {index}: forwarded as {decision.Reason}, expected {reason}");
        }

        var snapshot = engine.Current!;
        if ((uint)decision.ServerId >= (uint)snapshot.ServerIdCapacity || snapshot.GetService(decision.ServiceId) is not { } service
            || !service.Candidates.Contains(decision.ServerId))
        {
            throw new InvalidOperationException($"frame {index}: forwarded to server id {decision.ServerId}, not a member");
        }

        if (MacAddress.Read(frame) != snapshot.GetServerMac(decision.ServerId) || MacAddress.Read(frame[MacAddress.Length..]) != Appliance)
        {
            throw new InvalidOperationException($"frame {index}: MACs not rewritten to server {decision.ServerId} / the appliance");
        }
    }
}
