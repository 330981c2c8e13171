using System.Text;
using System.Text.Json;
using Exch.Dsr.Capture.Files;
using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ReplaySessionTests
{
    private const string Vip = "10.0.0.100";
    private static readonly MacAddress Appliance = MacAddress.Parse("02:d5:00:00:00:01");

    private static (ReplayReport Report, byte[] Output, List<JsonElement> Decisions) Replay(
        CaptureBuilder capture,
        ExchDsrConfig? config = null,
        string events = "")
    {
        config ??= TestConfigs.Exchange();
        var parsed = ServerEventsParser.Parse(events, "events");
        var (checkedEvents, errors) = ReplayEventsFile.Check(parsed, config, "events");
        Assert.That(errors, Is.Empty);

        var session = new ReplaySession(config, checkedEvents);
        var decisions = new MemoryStream();
        var output = new MemoryStream();
        ReplayReport report;
        using (var log = new DecisionLogWriter(decisions))
        using (var reader = CaptureFileReader.Open(new MemoryStream(capture.ToPcap())))
        using (var writer = new PcapFileWriter(output, leaveOpen: true))
        {
            session.WriteDecisionsTo(log);
            report = session.Run(new CaptureFileSource(reader, 0), writer);
            var lines = Encoding.UTF8.GetString(decisions.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return (report, output.ToArray(), [.. lines.Select(l => JsonDocument.Parse(l).RootElement.Clone())]);
        }
    }

    private static byte[] Syn(string client, ushort port, ushort clientPort = 50000) => TestFrames.Tcp(client, clientPort, Vip, port, TcpFlags.Syn);

    private static byte[] Ack(string client, ushort port, ushort clientPort = 50000) => TestFrames.Tcp(client, clientPort, Vip, port, TcpFlags.Ack, "data"u8);

    [Test]
    public void ForwardedFramesAreTheInputWithOnlyTheMacsChangedAndKeepTheirTimestamps()
    {
        var capture = new CaptureBuilder()
            .At(0.0, Syn("192.0.2.1", 135))
            .At(0.1, Ack("192.0.2.1", 135))
            .At(0.2, TestFrames.ArpRequest("10.0.0.1", Vip))
            .At(0.3, Syn("192.0.2.2", 443, 40000))
            .At(0.4, TestFrames.Tcp("192.0.2.3", 1234, "10.0.0.200", 443, TcpFlags.Syn))
            .At(0.5, Ack("192.0.2.4", 7575, 41000))
            .At(0.6, Syn("192.0.2.5", 25, 42000))
            .At(0.7, TestFrames.Udp("192.0.2.5", 53, Vip, 53));

        var (report, output, _) = Replay(capture);

        var written = CaptureBuilder.Read(output);
        Assert.That(report.FramesRead, Is.EqualTo(8));
        Assert.That(report.FramesForwarded, Is.EqualTo(4));
        Assert.That(written, Has.Count.EqualTo(4));
        var serverMacs = RoutingSnapshotFactory.ForReplay(TestConfigs.Exchange()).Servers.Select(s => s.Mac).ToList();
        foreach (var (time, frame) in written)
        {
            var input = capture.Frames.Single(f => f.Time == time).Frame;
            Assert.That(frame.AsSpan(12).SequenceEqual(input.AsSpan(12)), Is.True, "everything after the MACs is untouched");
            Assert.That(MacAddress.Read(frame.AsSpan(6)), Is.EqualTo(Appliance));
            Assert.That(serverMacs, Does.Contain(MacAddress.Read(frame)));
        }

        Assert.That(written.Select(w => w.Time), Is.EqualTo(new[] { 0.0, 0.1, 0.3, 0.6 }.Select(s => CaptureBuilder.Start + (long)(s * 1e9))));
        Assert.That(report.Dropped.Select(d => d.Key), Is.EquivalentTo(new[]
        {
            "ARP request for a VIP (answered, not forwarded)",
            "not ours: no service for its address, protocol and port",
            "mid-stream TCP without state (not sloppy)",
        }));
        Assert.That(report.Dropped.Sum(d => d.Value), Is.EqualTo(4));
        Assert.That(report.InputError, Is.Null);
    }

    [Test]
    public void ATableOfTheConfiguredConnectionsDropsTheNewConnectionsBeyondIt()
    {
        // [appliance] connections = 1024: 1,100 clients open a connection each within a second, none closes.
        var config = TestConfigs.Exchange() with { Appliance = new ApplianceConfig { Connections = 1024 } };
        var capture = new CaptureBuilder();
        for (var i = 0; i < 1100; i++)
        {
            capture.At(i * 0.0005, Syn($"192.0.{2 + (i / 250)}.{1 + (i % 250)}", 443));
        }

        var (report, _, _) = Replay(capture, config);

        Assert.That(report.FramesForwarded, Is.EqualTo(1024));
        Assert.That(report.Dropped, Is.EqualTo(new[] { KeyValuePair.Create("connection table full", 76L) }));

        var (roomy, _, _) = Replay(capture);
        Assert.That((roomy.FramesForwarded, roomy.Dropped.Count), Is.EqualTo((1100L, 0)), "the default table takes them all");
    }

    [Test]
    public void FramesOfEverySizeLeaveInTheirOrderWithTheirTimestamps()
    {
        // Frames from 54 to 8,954 bytes, and one of 70,000 bytes (no Ethernet frame: read, counted, not forwarded).
        var capture = new CaptureBuilder().At(0.0, Syn("192.0.2.1", 443));
        int[] payloads = [0, 100, 1400, 8900];
        for (var i = 1; i <= 80; i++)
        {
            capture.At(i * 0.001, TestFrames.Tcp("192.0.2.1", 50000, Vip, 443, TcpFlags.Ack, new byte[payloads[i % payloads.Length]]));
            if (i == 40)
            {
                capture.At(0.0405, new byte[70_000]);
            }
        }

        var (report, output, _) = Replay(capture);

        var written = CaptureBuilder.Read(output);
        var expected = capture.Frames.Where(f => f.Frame.Length < 70_000).ToList();
        Assert.That((report.FramesRead, report.FramesForwarded), Is.EqualTo((82L, 81L)));
        Assert.That(written.Select(w => w.Time), Is.EqualTo(expected.Select(f => f.Time)), "in order, with their timestamps");
        for (var i = 0; i < written.Count; i++)
        {
            Assert.That(written[i].Frame.AsSpan(12).SequenceEqual(expected[i].Frame.AsSpan(12)), Is.True, $"frame {i}");
        }
    }

    [Test]
    public void APersistedClientReachesOneServerOnEveryPortAndTheDecisionsSaySo()
    {
        var capture = new CaptureBuilder()
            .At(0.0, Syn("192.0.2.1", 135, 50000))
            .At(0.1, Ack("192.0.2.1", 135, 50000))
            .At(0.2, Syn("192.0.2.1", 7575, 50001))
            .At(0.3, Syn("192.0.2.1", 7576, 50002))
            .At(0.4, Ack("192.0.2.1", 7576, 50002));

        var (report, output, decisions) = Replay(capture);

        Assert.That(decisions, Has.Count.EqualTo(3), "one line per new flow; the ACKs belong to known flows");
        Assert.That(report.Decisions, Is.EqualTo(3));
        Assert.That(decisions.Select(d => d.GetProperty("reason").GetString()), Is.EqualTo(new[] { "new", "persisted", "persisted" }));
        Assert.That(decisions.Select(d => d.GetProperty("port").GetInt32()), Is.EqualTo(new[] { 135, 7575, 7576 }));
        Assert.That(decisions.Select(d => d.GetProperty("server").GetString()).Distinct().Count(), Is.EqualTo(1));
        Assert.That(decisions.All(d => d.GetProperty("client").GetString() == "192.0.2.1" && d.GetProperty("service").GetString() == "outlook-rpc"), Is.True);
        Assert.That(decisions[0].GetProperty("time").GetString(), Is.EqualTo("2026-11-24T10:00:00.000000000Z"));
        Assert.That(decisions[2].GetProperty("time_ns").GetInt64(), Is.EqualTo(CaptureBuilder.Start + 300_000_000));
        Assert.That(CaptureBuilder.Read(output).Select(f => MacAddress.Read(f.Frame)).Distinct().Count(), Is.EqualTo(1));

        var row = report.Servers.Single(r => r.Service == "outlook-rpc" && r.Frames > 0);
        Assert.That(row.Server, Is.EqualTo(decisions[0].GetProperty("server").GetString()));
        Assert.That((row.Frames, row.Clients, row.NewConnections, row.NewPersistenceEntries), Is.EqualTo((5L, 1L, 3L, 1L)));
        Assert.That(row.Bytes, Is.EqualTo(capture.Frames.Sum(f => (long)f.Frame.Length)));
    }

    [Test]
    public void AServerDownInOneServiceMovesOnlyThatServicesClients()
    {
        // Ten clients, each in its own /24 (OWA persists by /24), each using OWA and Outlook.
        var capture = new CaptureBuilder();
        for (var i = 1; i <= 10; i++)
        {
            capture.At(i * 0.01, Syn($"192.0.{i}.1", 443, 40000));
            capture.At((i * 0.01) + 0.001, Syn($"192.0.{i}.1", 135, 50000));
        }

        for (var i = 1; i <= 10; i++)
        {
            capture.At(20 + (i * 0.01), Ack($"192.0.{i}.1", 443, 40000));
            capture.At(20 + (i * 0.01) + 0.001, Ack($"192.0.{i}.1", 135, 50000));
        }

        var (report, output, decisions) = Replay(capture, events: "+10s CAS1 down service owa-https\n");

        Assert.That(report.Events.Single().Event.ToString(), Is.EqualTo("CAS1 down service owa-https"));
        var start = decisions.Where(d => d.GetProperty("time_ns").GetInt64() < CaptureBuilder.Start + 10_000_000_000L).ToList();
        var after = decisions.Where(d => d.GetProperty("time_ns").GetInt64() > CaptureBuilder.Start + 10_000_000_000L).ToList();
        List<string?> OnCas1(string service) => start.Where(d => d.GetProperty("service").GetString() == service && d.GetProperty("server").GetString() == "CAS1")
            .Select(d => d.GetProperty("client").GetString()).ToList();
        var owaOnCas1 = OnCas1("owa-https");
        var outlookOnCas1 = OnCas1("outlook-rpc");
        Assert.That(owaOnCas1, Is.Not.Empty);
        Assert.That(outlookOnCas1, Is.Not.Empty);

        Assert.That(after.All(d => d.GetProperty("service").GetString() == "owa-https" && d.GetProperty("reason").GetString() == "redispatched"), Is.True, "only OWA flows are decided again");
        Assert.That(after.Select(d => d.GetProperty("client").GetString()), Is.EquivalentTo(owaOnCas1));
        Assert.That(after.Any(d => d.GetProperty("server").GetString() == "CAS1"), Is.False);

        var cas1 = RoutingSnapshotFactory.ForReplay(TestConfigs.Exchange()).Servers.Single(s => s.Name == "CAS1").Mac;
        var late = CaptureBuilder.Read(output).Where(f => f.Time > CaptureBuilder.Start + 10_000_000_000L).ToList();
        static int Port(byte[] frame) => (frame[14 + 20 + 2] << 8) | frame[14 + 20 + 3];
        Assert.That(late, Has.Count.EqualTo(20));
        Assert.That(late.Count(f => Port(f.Frame) == 443 && MacAddress.Read(f.Frame) == cas1), Is.Zero, "no OWA frame reaches CAS1");
        Assert.That(late.Count(f => Port(f.Frame) == 135 && MacAddress.Read(f.Frame) == cas1), Is.EqualTo(outlookOnCas1.Count), "Outlook stays on CAS1");
    }

    [Test]
    public void AServerTakenDownMidCaptureLosesItsClientsToTheOthers()
    {
        // Ten clients spread over CAS1..CAS3 by weighted round robin, then the server of the first one fails.
        var capture = new CaptureBuilder();
        for (var i = 1; i <= 10; i++)
        {
            capture.At(i * 0.01, Syn($"192.0.2.{i}", 135));
        }

        var (before, _, firstDecisions) = Replay(capture);
        var failing = firstDecisions[0].GetProperty("server").GetString()!;
        var onFailing = firstDecisions.Where(d => d.GetProperty("server").GetString() == failing).Select(d => d.GetProperty("client").GetString()).ToList();
        Assert.That(before.FramesForwarded, Is.EqualTo(10));

        for (var i = 1; i <= 10; i++)
        {
            capture.At(20 + (i * 0.01), Ack($"192.0.2.{i}", 135));
            capture.At(21 + (i * 0.01), Syn($"192.0.2.{i}", 7575, 50001));
        }

        var (report, output, decisions) = Replay(capture, events: $"+10s {failing} down\n");

        Assert.That(report.Events, Has.Count.EqualTo(1));
        Assert.That(report.Events[0].UnixNanoseconds, Is.EqualTo(CaptureBuilder.Start + 10_010_000_000L), "10 s after the first frame, which is at 0.01 s");
        var after = decisions.Where(d => d.GetProperty("time_ns").GetInt64() > CaptureBuilder.Start + 10_000_000_000L).ToList();
        var redispatched = after.Where(d => d.GetProperty("reason").GetString() == "redispatched").Select(d => d.GetProperty("client").GetString()).Distinct().ToList();
        Assert.That(redispatched, Is.EquivalentTo(onFailing));
        Assert.That(after.Any(d => d.GetProperty("server").GetString() == failing), Is.False);

        var failingMac = RoutingSnapshotFactory.ForReplay(TestConfigs.Exchange()).Servers.Single(s => s.Name == failing).Mac;
        var afterFailure = CaptureBuilder.Read(output).Where(f => f.Time > CaptureBuilder.Start + 10_000_000_000L).ToList();
        Assert.That(afterFailure, Has.Count.EqualTo(20));
        Assert.That(afterFailure.Any(f => MacAddress.Read(f.Frame) == failingMac), Is.False);

        // Each moved client keeps 135 and 7575 together on its new server.
        foreach (var client in onFailing)
        {
            Assert.That(after.Where(d => d.GetProperty("client").GetString() == client).Select(d => d.GetProperty("server").GetString()).Distinct().Count(), Is.EqualTo(1), client);
        }

        Assert.That(report.Servers.Where(r => r.Service == "outlook-rpc").Sum(r => r.Redispatches), Is.GreaterThanOrEqualTo(onFailing.Count));
    }

    [Test]
    public void EventsApplyInTimeOrderWhateverTheirFileOrderAndLateOnesAreReported()
    {
        var capture = new CaptureBuilder().At(0, Syn("192.0.2.1", 25)).At(5, Syn("192.0.2.2", 25, 50001)).At(6, Syn("192.0.2.3", 25, 50002));

        var (report, output, _) = Replay(capture, events: "+4s CAS3 down\n2026-11-24T10:00:01Z CAS1 down\n+1h CAS1 up\n");

        Assert.That(report.Events.Select(e => e.Event.Line), Is.EqualTo(new[] { 2, 1 }));
        Assert.That(report.EventsNotReached, Is.EqualTo(1));
        Assert.That(report.FramesForwarded, Is.EqualTo(1), "smtp's members are CAS1 and CAS3, both down, no sorry server");
        Assert.That(report.Dropped.Single().Key, Does.StartWith("no server"));
        Assert.That(CaptureBuilder.Read(output), Has.Count.EqualTo(1));
    }

    [Test]
    public void ATruncatedCaptureIsReplayedUpToTheDamageAndTheReaderSaysWhere()
    {
        var capture = new CaptureBuilder();
        for (var i = 0; i < 10; i++)
        {
            capture.At(i, Syn($"192.0.2.{i + 1}", 443));
        }

        var pcap = capture.ToPcap();
        var frameLength = capture.Frames[0].Frame.Length;
        var eighthRecord = 24 + (7 * (16 + frameLength));
        var truncated = pcap[..(eighthRecord + 10)];

        var session = new ReplaySession(TestConfigs.Exchange(), []);
        var output = new MemoryStream();
        ReplayReport report;
        using (var reader = CaptureFileReader.Open(new MemoryStream(truncated)))
        using (var writer = new PcapFileWriter(output, leaveOpen: true))
        {
            report = session.Run(new CaptureFileSource(reader, truncated.Length), writer);
        }

        Assert.That(report.FramesRead, Is.EqualTo(7));
        Assert.That(CaptureBuilder.Read(output.ToArray()), Has.Count.EqualTo(7));
        Assert.That(report.InputError, Is.Not.Null);
        Assert.That(report.InputError!.FrameNumber, Is.EqualTo(8));
        Assert.That(report.InputError.ByteOffset, Is.EqualTo(eighthRecord));
        Assert.That(report.InputError.Message, Does.StartWith($"frame 8 at byte offset {eighthRecord}:"));
    }

    [Test]
    public void TheAddressNotesSayWhereEachMacCameFrom()
    {
        var session = new ReplaySession(TestConfigs.Exchange(), []);

        Assert.That(session.AddressNotes[0], Is.EqualTo("appliance mac 02:d5:00:00:00:01 (fixed for replay: mac = auto)"));
        Assert.That(session.AddressNotes, Does.Contain("CAS1 10.0.0.11 mac 02:00:0a:00:00:0b (derived from its IP: mac = auto)"));
        Assert.That(session.ApplianceMac, Is.EqualTo(Appliance));
    }
}
