using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.LabBench.Synthesis;

/// <summary>What kind of Exchange client sent a segment; the demo counts persistence per kind.</summary>
public enum ClientKind : byte
{
    Outlook,
    Owa,
    Smtp,
}

/// <summary>
/// One client-to-VIP TCP segment of the synthetic mix. Only this direction is planned: with Direct Server Return
/// the replies go from the real server straight to the client and the balancer never sees them.
/// </summary>
public readonly record struct PlannedSegment(
    long OffsetNanoseconds,
    uint ClientAddress,
    ushort ClientPort,
    ushort ServicePort,
    uint Sequence,
    uint Acknowledgment,
    TcpFlags Flags,
    ushort PayloadLength,
    ClientKind Kind);

/// <summary>The ports of the array's services that the mix talks to.</summary>
public sealed record ExchangePorts(ushort EndpointMapper, IReadOnlyList<ushort> StaticRpc, ushort Https, ushort Smtp)
{
    /// <summary>Exchange's defaults with the static RPC ports of the shipped configuration.</summary>
    public static ExchangePorts Default { get; } = new(135, [7575, 7576], 443, 25);
}

/// <summary>How many clients of each kind, over how long; the same options and seed always give the same plan.</summary>
public sealed record ExchangeMixOptions
{
    public int Seed { get; init; } = 20261124;

    public int OutlookClients { get; init; } = 1500;

    public int OwaClients { get; init; } = 1000;

    public int SmtpSenders { get; init; } = 120;

    /// <summary>Users of a branch office that all come from one NAT address (half Outlook, half OWA).</summary>
    public int UsersBehindNat { get; init; } = 250;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);

    public ExchangePorts Ports { get; init; } = ExchangePorts.Default;
}

/// <summary>
/// Plans a working morning of an Exchange CAS array, client to VIP:
/// Outlook clients (RPC over TCP) ask the endpoint mapper on 135, then open long-lived connections to each static
/// RPC port and keep talking on them; OWA users open several HTTPS connections per page load and come back for more;
/// SMTP senders deliver a few messages each; one NAT address carries a whole branch office.
/// Client addresses: Outlook 10.20.0.0/16, OWA 172.20.0.0/16, SMTP 10.30.0.0/16, the branch NAT 198.51.100.50.
/// </summary>
public static class ExchangeMixPlanner
{
    /// <summary>The branch office's NAT address, 198.51.100.50.</summary>
    public const uint NatAddress = 0xC6336432;

    private const long Millisecond = 1_000_000;
    private const long Second = 1_000 * Millisecond;

    public static PlannedSegment[] Plan(ExchangeMixOptions options)
    {
        var planner = new Planner(options);
        for (var i = 0; i < options.OutlookClients; i++)
        {
            planner.Outlook(0x0A140000u + 256u * (uint)(i / 250) + (uint)(i % 250) + 1);
        }

        for (var i = 0; i < options.OwaClients; i++)
        {
            planner.Owa(0xAC140000u + 256u * (uint)(i / 250) + (uint)(i % 250) + 1);
        }

        for (var i = 0; i < options.SmtpSenders; i++)
        {
            planner.Smtp(0x0A1E0000u + (uint)i + 1);
        }

        for (var i = 0; i < options.UsersBehindNat; i++)
        {
            if (i % 2 == 0)
            {
                planner.Outlook(NatAddress);
            }
            else
            {
                planner.Owa(NatAddress);
            }
        }

        return planner.Sorted();
    }

    private sealed class Planner(ExchangeMixOptions options)
    {
        private readonly Random _random = new(options.Seed);
        private readonly List<(PlannedSegment Segment, int Order)> _segments = [];
        private readonly Dictionary<uint, ushort> _nextPort = [];
        private readonly long _duration = options.Duration.Ticks * 100;
        private readonly ExchangePorts _ports = options.Ports;

        public void Outlook(uint client)
        {
            // Outlook starts during the first 40 % of the window; a fifth restart Outlook later, which asks the
            // endpoint mapper again and must land on the same CAS as before.
            var sessions = _random.Next(5) == 0 ? 2 : 1;
            var start = Offset(0, _duration * 4 / 10);
            for (var session = 0; session < sessions; session++)
            {
                var end = session == sessions - 1 ? _duration - Offset(0, 5 * Second) : start + Offset(60 * Second, _duration / 3);
                var mapper = Connect(start, client, _ports.EndpointMapper, ClientKind.Outlook);
                mapper.Data(Millisecond, 72);
                mapper.Data(3 * Millisecond, 156);
                mapper.Close(15 * Millisecond);

                var rpcStart = mapper.Time + 5 * Millisecond;
                foreach (var port in _ports.StaticRpc)
                {
                    var rpc = Connect(rpcStart, client, port, ClientKind.Outlook);
                    rpc.Data(Millisecond, 1024);
                    rpc.Data(4 * Millisecond, 340);
                    while (rpc.Time < end)
                    {
                        // Notifications and sync: a burst now and then, more often on the first port.
                        rpc.Data(Offset(10 * Second, port == _ports.StaticRpc[0] ? 45 * Second : 90 * Second), (ushort)_random.Next(60, 1460));
                    }

                    rpc.Close(Millisecond);
                    rpcStart += 2 * Millisecond;
                }

                start = end + Offset(5 * Second, 30 * Second);
                if (start >= _duration - 60 * Second)
                {
                    break;
                }
            }
        }

        public void Owa(uint client)
        {
            var time = Offset(0, _duration * 8 / 10);
            var pageLoads = _random.Next(1, 4);
            for (var load = 0; load < pageLoads && time < _duration - 10 * Second; load++)
            {
                var connections = _random.Next(3, 7);
                for (var c = 0; c < connections; c++)
                {
                    var https = Connect(time + c * Offset(Millisecond, 20 * Millisecond), client, _ports.Https, ClientKind.Owa);
                    https.Data(Millisecond, 517);
                    var requests = _random.Next(2, 8);
                    for (var r = 0; r < requests; r++)
                    {
                        https.Data(Offset(20 * Millisecond, 3 * Second), (ushort)_random.Next(300, 1400));
                    }

                    https.Close(Offset(Second, 15 * Second));
                }

                time += Offset(30 * Second, 180 * Second);
            }
        }

        public void Smtp(uint client)
        {
            var messages = _random.Next(1, 4);
            for (var m = 0; m < messages; m++)
            {
                var smtp = Connect(Offset(0, _duration - 20 * Second), client, _ports.Smtp, ClientKind.Smtp);
                foreach (var command in (ReadOnlySpan<ushort>)[24, 38, 36, 6])
                {
                    smtp.Data(Offset(Millisecond, 10 * Millisecond), command);
                }

                for (var body = _random.Next(1, 12); body > 0; body--)
                {
                    smtp.Data(Millisecond, 1460);
                }

                smtp.Data(Millisecond, 6);
                smtp.Close(Millisecond);
            }
        }

        public PlannedSegment[] Sorted()
        {
            // Time first, then the order of planning, so ties never depend on the sort algorithm.
            _segments.Sort((a, b) => a.Segment.OffsetNanoseconds != b.Segment.OffsetNanoseconds
                ? a.Segment.OffsetNanoseconds.CompareTo(b.Segment.OffsetNanoseconds)
                : a.Order.CompareTo(b.Order));
            return [.. _segments.Select(s => s.Segment)];
        }

        private Connection Connect(long time, uint client, ushort port, ClientKind kind)
        {
            // One ephemeral port counter per address, so the many users behind the NAT never reuse a 4-tuple.
            var clientPort = _nextPort.TryGetValue(client, out var next) ? next : (ushort)_random.Next(49152, 60000);
            _nextPort[client] = clientPort >= 65535 ? (ushort)49152 : (ushort)(clientPort + 1);
            var connection = new Connection(this, time, client, clientPort, port, kind, (uint)_random.NextInt64(1L << 32), (uint)_random.NextInt64(1L << 32));
            connection.Send(TcpFlags.Syn, 0);
            // The handshake's third segment leaves one round trip after the SYN.
            connection.Time += Offset(200_000, 30 * Millisecond);
            connection.Send(TcpFlags.Ack, 0);
            return connection;
        }

        private long Offset(long from, long to) => _random.NextInt64(from, Math.Max(from + 1, to));

        private void Add(PlannedSegment segment) => _segments.Add((segment, _segments.Count));

        private sealed class Connection(Planner planner, long time, uint client, ushort clientPort, ushort port, ClientKind kind, uint sequence, uint serverSequence)
        {
            private uint _sequence = sequence;
            private uint _acknowledgment = serverSequence;

            public long Time { get; set; } = time;

            public void Data(long after, ushort length)
            {
                Time += after;
                Send(TcpFlags.Psh | TcpFlags.Ack, length);
            }

            public void Close(long after)
            {
                Time += after;
                Send(TcpFlags.Fin | TcpFlags.Ack, 0);
                Time += Millisecond;
                Send(TcpFlags.Ack, 0);
            }

            public void Send(TcpFlags flags, ushort length)
            {
                var acknowledgment = (flags & TcpFlags.Ack) != 0 ? _acknowledgment : 0;
                planner.Add(new PlannedSegment(Time, client, clientPort, port, _sequence, acknowledgment, flags, length, kind));
                if ((flags & TcpFlags.Syn) != 0)
                {
                    // The SYN and the server's SYN-ACK each consume one sequence number.
                    _sequence++;
                    _acknowledgment++;
                    return;
                }

                _sequence += length + ((flags & TcpFlags.Fin) != 0 ? 1u : 0u);
                // The server answered a request with a few segments of its own.
                _acknowledgment += (uint)(length * 3);
            }
        }
    }
}
