using System.Diagnostics;
using Exch.Dsr.Capture.Files;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// <c>--make-capture PATH N [CLIENTS]</c>: writes N client→VIP frames to a pcap file for the replay throughput run,
/// addressed as the router would deliver them to the replay appliance MAC. Traffic for every service of
/// <c>config/exch-dsr.toml</c> (VIP 192.0.2.10: outlook-rpc 135/7575/7576, owa-https 443, http-redirect 80, smtp 25):
/// CLIENTS clients (default 50,000, in 10.0.0.0/8) open TCP connections, about four each, 2,000 of them in flight at
/// once and interleaved at random; each connection is a SYN, the handshake's ACK, 1-12 requests (PSH|ACK with 20-600
/// bytes) each followed by 0-3 ACKs of the server's reply, then FIN|ACK and ACK. Frames average about 100 bytes,
/// 20 µs apart. Deterministic: the same arguments give the same file.
/// </summary>
internal static class CaptureMaker
{
    private const int InFlight = 2_000;
    private const long FrameIntervalNs = 20_000;

    // Ports weighted by how often a connection goes to them: HTTPS most, then the Outlook RPC ports, SMTP, HTTP.
    private static readonly ushort[] PortMix = [443, 443, 443, 443, 443, 443, 135, 7575, 7575, 7576, 25, 25, 80];

    public static int Run(string path, long frames, int clients)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(clients, 1);
        var stopwatch = Stopwatch.StartNew();
        var random = new Random(20261124);
        var appliance = MacAddress.Read(LabMacAddresses.ReplayAppliance);
        var router = MacAddress.Parse("02:00:00:00:00:fe");
        var l2 = new L2Header(appliance, router);
        var vip = IpAddress128.Parse("192.0.2.10");
        var nextPort = new ushort[clients];
        for (var i = 0; i < clients; i++)
        {
            nextPort[i] = (ushort)random.Next(49152, 65535);
        }

        var flows = new Flow[InFlight];
        for (var i = 0; i < flows.Length; i++)
        {
            flows[i] = NewFlow(random, clients, nextPort);
        }

        var payload = new byte[600];
        random.NextBytes(payload);
        var buffer = new byte[1514];
        var now = KnownClientBenchmarks.StartNs;
        long bytes = 0, connections = InFlight;
        using (var writer = PcapFileWriter.Create(path, bufferSize: 4 << 20))
        {
            for (long n = 0; n < frames; n++)
            {
                ref var flow = ref flows[random.Next(flows.Length)];
                var (flags, length) = flow.Next(random);
                var ip = new IpHeader(EngineLab.Client(flow.Client), vip, Ttl: 127, Identification: (ushort)n);
                var tcp = new TcpHeader(flow.ClientPort, flow.Port, flags, flow.Sequence, (flags & TcpFlags.Ack) != 0 ? flow.Acknowledgment : 0);
                FrameComposer.TryComposeTcp(buffer, l2, ip, tcp, payload.AsSpan(0, length), out var written);
                now += FrameIntervalNs;
                writer.Write(buffer.AsSpan(0, written), now, written);
                bytes += written;
                flow.Advance(flags, length);
                if (flow.Done)
                {
                    flow = NewFlow(random, clients, nextPort);
                    connections++;
                }
            }
        }

        Console.WriteLine($"wrote {frames:#,0} frames ({bytes:#,0} bytes, {(double)bytes / frames:0.0} bytes a frame on average), "
            + $"{connections:#,0} connections from {clients:#,0} clients, to {path} in {stopwatch.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    private static Flow NewFlow(Random random, int clients, ushort[] nextPort)
    {
        var client = random.Next(clients);
        var port = nextPort[client];
        nextPort[client] = port == ushort.MaxValue ? (ushort)49152 : (ushort)(port + 1);
        return new Flow
        {
            Client = client,
            ClientPort = port,
            Port = PortMix[random.Next(PortMix.Length)],
            Sequence = (uint)random.NextInt64(1L << 32),
            Acknowledgment = (uint)random.NextInt64(1L << 32),
            Requests = random.Next(1, 13),
        };
    }

    private struct Flow
    {
        public int Client;
        public ushort ClientPort;
        public ushort Port;
        public uint Sequence;
        public uint Acknowledgment;
        public int Requests;
        public int PendingAcks;
        public Stage Stage;

        public readonly bool Done => Stage == Stage.Done;

        /// <summary>The next segment's flags and payload length.</summary>
        public (TcpFlags Flags, int Length) Next(Random random)
        {
            switch (Stage)
            {
                case Stage.Syn:
                    return (TcpFlags.Syn, 0);
                case Stage.HandshakeAck:
                    return (TcpFlags.Ack, 0);
                case Stage.Talking when PendingAcks > 0:
                    return (TcpFlags.Ack, 0);
                case Stage.Talking when Requests > 0:
                    // Mostly short requests, now and then a larger one.
                    return (TcpFlags.Psh | TcpFlags.Ack, random.Next(8) == 0 ? random.Next(200, 600) : random.Next(20, 200));
                case Stage.Talking:
                    return (TcpFlags.Fin | TcpFlags.Ack, 0);
                default:
                    return (TcpFlags.Ack, 0);
            }
        }

        public void Advance(TcpFlags flags, int length)
        {
            switch (Stage)
            {
                case Stage.Syn:
                    Sequence++;
                    Acknowledgment++;
                    Stage = Stage.HandshakeAck;
                    return;
                case Stage.HandshakeAck:
                    Stage = Stage.Talking;
                    return;
                case Stage.Talking when (flags & TcpFlags.Fin) != 0:
                    Sequence++;
                    Acknowledgment++;
                    Stage = Stage.LastAck;
                    return;
                case Stage.Talking when length > 0:
                    Sequence += (uint)length;
                    Requests--;
                    PendingAcks = (int)(Sequence % 4);
                    return;
                case Stage.Talking:
                    // The client acknowledges a segment of the server's reply.
                    Acknowledgment += 1460;
                    PendingAcks--;
                    return;
                default:
                    Stage = Stage.Done;
                    return;
            }
        }
    }

    private enum Stage : byte
    {
        Syn,
        HandshakeAck,
        Talking,
        LastAck,
        Done,
    }
}
