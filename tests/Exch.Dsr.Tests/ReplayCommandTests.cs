using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Exch.Dsr.Capture.Files;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Tests;

public sealed class ReplayCommandTests
{
    private const string Vip = "10.0.0.100";

    /// <summary>Three CAS (CAS2 with a pinned MAC), Outlook's three ports persisted together, OWA by /24, SMTP without persistence.</summary>
    private const string LabConfig = """
        [appliance]
        interface = "eth1"

        [[server]]
        name = "CAS1"
        address = "10.0.0.11"
        mac = "auto"

        [[server]]
        name = "CAS2"
        address = "10.0.0.12"
        mac = "00-15-5D-00-00-12"

        [[server]]
        name = "CAS3"
        address = "10.0.0.13"
        mac = "auto"

        [[service]]
        name = "outlook-rpc"
        vip = "10.0.0.100"
        ports = [135, 7575, 7576]
        scheduler = "rr"
        persistence = "300s"
        on-down = "shutdown-sessions"

        [[service]]
        name = "owa-https"
        vip = "10.0.0.100"
        ports = [443]
        scheduler = "rr"
        persistence = "4h"
        persistence-netmask = "/24"
        on-down = "shutdown-sessions"

        [[service]]
        name = "smtp"
        vip = "10.0.0.100"
        ports = [25]
        scheduler = "rr"
        persistence = "none"
        on-down = "shutdown-sessions"
        """;

    private static readonly long Start = new DateTimeOffset(2026, 11, 24, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    private static readonly Dictionary<string, string> ServerMacs = new()
    {
        ["02:00:0a:00:00:0b"] = "CAS1",
        ["00:15:5d:00:00:12"] = "CAS2",
        ["02:00:0a:00:00:0d"] = "CAS3",
    };

    private string _directory = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "exch-dsr-replay-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        File.WriteAllText(PathOf("lab.toml"), LabConfig);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    /// <summary>
    /// Twelve clients: each opens 135, then 7575 and 7576, sends data on each and closes; four of them also use OWA,
    /// and two send mail. One frame a millisecond apart, about 20 s in all, plus an ARP request that is not forwarded.
    /// </summary>
    private static List<(long Time, byte[] Frame)> ExchangeCapture()
    {
        var frames = new List<(long, byte[])>();
        var time = Start;
        void Add(byte[] frame)
        {
            frames.Add((time, frame));
            time += 1_000_000;
        }

        for (var round = 0; round < 3; round++)
        {
            for (var client = 1; client <= 12; client++)
            {
                var address = $"192.0.2.{client}";
                foreach (var (port, index) in new ushort[] { 135, 7575, 7576 }.Select((p, i) => (p, i)))
                {
                    var clientPort = (ushort)(50000 + (round * 10) + index);
                    Add(TestFrames.Tcp(address, clientPort, Vip, port, TcpFlags.Syn));
                    Add(TestFrames.Tcp(address, clientPort, Vip, port, TcpFlags.Ack));
                    Add(TestFrames.Tcp(address, clientPort, Vip, port, TcpFlags.Psh | TcpFlags.Ack, new byte[100 + client]));
                    Add(TestFrames.Tcp(address, clientPort, Vip, port, TcpFlags.Fin | TcpFlags.Ack));
                }

                if (client % 3 == 0)
                {
                    Add(TestFrames.Tcp(address, (ushort)(40000 + round), Vip, 443, TcpFlags.Syn));
                    Add(TestFrames.Tcp(address, (ushort)(40000 + round), Vip, 443, TcpFlags.Psh | TcpFlags.Ack, new byte[517]));
                }

                if (client % 6 == 0)
                {
                    Add(TestFrames.Tcp(address, (ushort)(30000 + round), Vip, 25, TcpFlags.Syn));
                }
            }

            Add(TestFrames.ArpRequest("10.0.0.1", Vip));
            time += 6_000_000_000;
        }

        return frames;
    }

    private static void WritePcap(string path, IEnumerable<(long Time, byte[] Frame)> frames)
    {
        using var writer = PcapFileWriter.Create(path);
        foreach (var (time, frame) in frames)
        {
            writer.Write(frame, time, frame.Length);
        }
    }

    private static List<(long Time, byte[] Frame)> ReadPcap(string path)
    {
        var frames = new List<(long, byte[])>();
        using var reader = CaptureFileReader.Open(path);
        while (reader.TryReadNext(out var frame))
        {
            frames.Add((frame.TimestampNs, frame.Data.ToArray()));
        }

        Assert.That(reader.Error, Is.Null);
        return frames;
    }

    private Task<ExchDsrRun> Replay(params string[] extra) =>
        ExchDsrProcess.RunAsync(["replay", "--config", PathOf("lab.toml"), PathOf("in.pcap"), "--out", PathOf("out.pcap"), .. extra]);

    [Test]
    public async Task ForwardsEveryServiceFrameWithOnlyTheMacsChangedAndSummarises()
    {
        var input = ExchangeCapture();
        WritePcap(PathOf("in.pcap"), input);

        var run = await Replay("--decisions", PathOf("decisions.jsonl"));

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.StandardError, Is.Empty);
        var output = ReadPcap(PathOf("out.pcap"));
        Assert.That(output, Has.Count.EqualTo(input.Count - 3), "all but the three ARP requests");
        var byTime = input.ToDictionary(f => f.Time, f => f.Frame);
        foreach (var (time, frame) in output)
        {
            Assert.That(frame.AsSpan(12).SequenceEqual(byTime[time].AsSpan(12)), Is.True);
            Assert.That(MacAddress.Read(frame.AsSpan(6)).ToString(), Is.EqualTo("02:d5:00:00:00:01"));
            Assert.That(ServerMacs.Keys, Does.Contain(MacAddress.Read(frame).ToString()));
        }

        var stdout = run.StandardOutput;
        Assert.That(stdout, Does.Contain("appliance mac 02:d5:00:00:00:01 (fixed for replay: mac = auto)"));
        Assert.That(stdout, Does.Contain("CAS1 10.0.0.11 mac 02:00:0a:00:00:0b (derived from its IP: mac = auto)"));
        Assert.That(stdout, Does.Contain("CAS2 10.0.0.12 mac 00:15:5d:00:00:12 (configured)"));
        Assert.That(stdout, Does.Match(@"\| outlook-rpc +\| CAS1 +\| +144 \|"), "an ASCII table when redirected");
        Assert.That(stdout, Does.Match(@"\| ARP request for a VIP \(answered, not forwarded\) +\| +3 \|"));
        Assert.That(stdout, Does.Contain($"{input.Count} frames read"));
        Assert.That(stdout, Does.Contain("frames/s"));
        Assert.That(stdout, Does.Not.Contain("\u001b["), "no escape codes when redirected");

        var decisions = File.ReadAllLines(PathOf("decisions.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        // 12 clients x 3 rounds x 3 ports, 4 x 3 OWA connections, 2 x 3 SMTP connections: one line per new flow.
        Assert.That(decisions, Has.Count.EqualTo(108 + 12 + 6));
        Assert.That(stdout, Does.Contain($"{decisions.Count} decisions"));
        var outlook = decisions.Where(d => d.GetProperty("service").GetString() == "outlook-rpc").ToList();
        Assert.That(outlook.Count(d => d.GetProperty("reason").GetString() == "new"), Is.EqualTo(12));
        Assert.That(outlook.Count(d => d.GetProperty("reason").GetString() == "persisted"), Is.EqualTo(96));
        foreach (var client in outlook.GroupBy(d => d.GetProperty("client").GetString()))
        {
            Assert.That(client.Select(d => d.GetProperty("server").GetString()).Distinct().Count(), Is.EqualTo(1), client.Key);
        }

        var owa = decisions.Where(d => d.GetProperty("service").GetString() == "owa-https").ToList();
        Assert.That(owa.Select(d => d.GetProperty("server").GetString()).Distinct().Count(), Is.EqualTo(1), "one /24: one OWA client");
    }

    [Test]
    public async Task AServerTakenDownByTheEventsFileLosesItsClientsToTheOthers()
    {
        WritePcap(PathOf("in.pcap"), ExchangeCapture());
        File.WriteAllText(PathOf("events.txt"), "# CAS1 fails during the second round\n+8s CAS1 down\n");

        var run = await Replay("--decisions", PathOf("decisions.jsonl"), "--events", PathOf("events.txt"));

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var failure = Start + 8_000_000_000;
        Assert.That(run.StandardOutput, Does.Contain("event at 2026-11-24T10:00:08.000000000Z (line 2): CAS1 down"));
        var decisions = File.ReadAllLines(PathOf("decisions.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var before = decisions.Where(d => d.GetProperty("time_ns").GetInt64() < failure).ToList();
        var after = decisions.Where(d => d.GetProperty("time_ns").GetInt64() >= failure).ToList();
        var onCas1 = before.Where(d => d.GetProperty("service").GetString() == "outlook-rpc" && d.GetProperty("server").GetString() == "CAS1")
            .Select(d => d.GetProperty("client").GetString()).Distinct().ToList();
        Assert.That(onCas1, Is.Not.Empty);
        Assert.That(after.Any(d => d.GetProperty("server").GetString() == "CAS1"), Is.False);
        var redispatched = after.Where(d => d.GetProperty("reason").GetString() == "redispatched" && d.GetProperty("service").GetString() == "outlook-rpc")
            .Select(d => d.GetProperty("client").GetString()).Distinct();
        Assert.That(redispatched, Is.EquivalentTo(onCas1));
        var output = ReadPcap(PathOf("out.pcap"));
        Assert.That(output.Where(f => f.Time >= failure).Any(f => MacAddress.Read(f.Frame).ToString() == "02:00:0a:00:00:0b"), Is.False);
    }

    [Test]
    public async Task AServerDownInOneServiceByTheEventsFileMovesOnlyThatServicesClients()
    {
        WritePcap(PathOf("in.pcap"), ExchangeCapture());
        File.WriteAllText(PathOf("events.txt"), "# CAS1 fails its OWA check between the second and third rounds\n+8s CAS1 down service owa-https\n");

        var run = await Replay("--decisions", PathOf("decisions.jsonl"), "--events", PathOf("events.txt"));

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var failure = Start + 8_000_000_000;
        Assert.That(run.StandardOutput, Does.Contain("event at 2026-11-24T10:00:08.000000000Z (line 2): CAS1 down service owa-https"));
        var decisions = File.ReadAllLines(PathOf("decisions.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        List<JsonElement> Of(string service, bool afterFailure) => decisions
            .Where(d => d.GetProperty("service").GetString() == service && d.GetProperty("time_ns").GetInt64() >= failure == afterFailure)
            .ToList();
        Assert.That(Of("owa-https", false).Select(d => d.GetProperty("server").GetString()).Distinct(), Is.EqualTo(new[] { "CAS1" }), "one /24, on CAS1 by rr");
        var owaAfter = Of("owa-https", true);
        Assert.That(owaAfter, Is.Not.Empty);
        Assert.That(owaAfter.Any(d => d.GetProperty("server").GetString() == "CAS1"), Is.False);
        Assert.That(owaAfter[0].GetProperty("reason").GetString(), Is.EqualTo("redispatched"));

        var outlookOnCas1 = Of("outlook-rpc", false).Where(d => d.GetProperty("server").GetString() == "CAS1").Select(d => d.GetProperty("client").GetString()).Distinct().ToList();
        var outlookAfter = Of("outlook-rpc", true);
        Assert.That(outlookOnCas1, Is.Not.Empty);
        Assert.That(outlookAfter.Where(d => d.GetProperty("server").GetString() == "CAS1").Select(d => d.GetProperty("client").GetString()).Distinct(), Is.EquivalentTo(outlookOnCas1), "Outlook clients stay on CAS1");
        Assert.That(outlookAfter.All(d => d.GetProperty("reason").GetString() == "persisted"), Is.True);

        static int Port(byte[] frame) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(14 + 20 + 2));
        var late = ReadPcap(PathOf("out.pcap")).Where(f => f.Time >= failure).ToList();
        var cas1 = late.Where(f => MacAddress.Read(f.Frame).ToString() == "02:00:0a:00:00:0b").ToList();
        Assert.That(cas1.Any(f => Port(f.Frame) == 443), Is.False, "no OWA frame reaches CAS1");
        Assert.That(cas1.Any(f => Port(f.Frame) == 135), Is.True, "Outlook still does");
    }

    [Test]
    public async Task ATruncatedCaptureIsWrittenUpToTheDamageAndExitsOne()
    {
        var input = ExchangeCapture().Take(10).ToList();
        WritePcap(PathOf("whole.pcap"), input);
        var whole = File.ReadAllBytes(PathOf("whole.pcap"));
        var seventh = 24 + input.Take(6).Sum(f => 16 + f.Frame.Length);
        File.WriteAllBytes(PathOf("in.pcap"), whole[..(seventh + 20)]);

        var run = await Replay();

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.StandardError, Does.Contain($"frame 7 at byte offset {seventh}:"));
        Assert.That(run.StandardError, Does.Contain("the 6 frames before it were replayed and written"));
        Assert.That(ReadPcap(PathOf("out.pcap")), Has.Count.EqualTo(6));
        Assert.That(run.StandardOutput, Does.Contain("6 frames read"));
    }

    [Test]
    public async Task BadArgumentsExitTwoWithAMessage()
    {
        var noOut = await ExchDsrProcess.RunAsync("replay", "--config", PathOf("lab.toml"), PathOf("in.pcap"));
        Assert.That(noOut.ExitCode, Is.EqualTo(2), noOut.ToString());
        Assert.That(noOut.StandardError, Does.Contain("--out"));

        var missing = await Replay();
        Assert.That(missing.ExitCode, Is.EqualTo(2), missing.ToString());
        Assert.That(missing.StandardError, Does.Contain("in.pcap' does not exist"));
        Assert.That(File.Exists(PathOf("out.pcap")), Is.False, "nothing written");
    }

    [Test]
    public async Task AFileThatIsNotACaptureExitsTwo()
    {
        File.WriteAllText(PathOf("in.pcap"), "this is not a capture file at all");

        var run = await Replay();

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("not a pcap or pcapng file"));
    }

    [Test]
    public async Task ACaptureOfAnotherLinkTypeExitsTwo()
    {
        // A classic pcap header saying LINKTYPE_RAW (101): IP packets without Ethernet headers.
        var header = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), 101);
        File.WriteAllBytes(PathOf("in.pcap"), header);

        var run = await Replay();

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("is not Ethernet"));
    }

    [Test]
    public async Task EveryConfigurationErrorIsPrintedAndExitsTwo()
    {
        WritePcap(PathOf("in.pcap"), ExchangeCapture());
        File.WriteAllText(PathOf("lab.toml"), LabConfig.Replace("scheduler = \"rr\"\npersistence = \"300s\"", "scheduler = \"fastest\"\npersistence = \"300s\"")
            .Replace("address = \"10.0.0.13\"", "address = \"10.0.0.300\""));

        var run = await Replay();

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain("fastest"));
        Assert.That(run.StandardError, Does.Contain("10.0.0.300"));
        Assert.That(run.StandardError, Does.Contain("2 errors in").And.Contain("nothing was replayed"));
    }

    [Test]
    public async Task ABadEventsFileNamesFileAndLineAndExitsTwo()
    {
        WritePcap(PathOf("in.pcap"), ExchangeCapture());
        File.WriteAllText(PathOf("events.txt"), "+1s CAS1 down\n+2s CAS9 down\nsoon CAS1 up\n");

        var run = await Replay("--events", PathOf("events.txt"));

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError, Does.Contain($"{PathOf("events.txt")}:2: no server 'CAS9'"));
        Assert.That(run.StandardError, Does.Contain($"{PathOf("events.txt")}:3: bad time 'soon'"));
        Assert.That(File.Exists(PathOf("out.pcap")), Is.False, "nothing written");
    }

    [Test]
    public async Task TsharkSeesTheSamePacketsSentToOneMemberPerClient()
    {
        var tshark = FindOnPath("tshark");
        if (tshark is null)
        {
            Assert.Ignore("tshark is not installed (tests/run.sh installs it when run as root)");
        }

        var input = ExchangeCapture();
        WritePcap(PathOf("in.pcap"), input);
        var run = await Replay();
        Assert.That(run.ExitCode, Is.Zero, run.ToString());

        // frame.time_epoch pairs each output frame with its input; ip.* and tcp.* prove the packet itself is untouched.
        string[] fields = ["frame.time_epoch", "eth.dst", "eth.src", "ip.src", "tcp.dstport", "ip.checksum", "tcp.checksum", "tcp.seq_raw", "ip.len", "data.len"];
        var inputRows = await Tshark(tshark!, PathOf("in.pcap"), fields, "tcp");
        var outputRows = await Tshark(tshark!, PathOf("out.pcap"), fields, string.Empty);
        Assert.That(outputRows, Has.Count.EqualTo(inputRows.Count), "every TCP frame forwarded, nothing else");
        var inputByTime = inputRows.ToDictionary(r => r[0]);
        foreach (var row in outputRows)
        {
            var original = inputByTime[row[0]];
            Assert.That(row[3..], Is.EqualTo(original[3..]), "IP and TCP fields equal");
            Assert.That(ServerMacs.Keys, Does.Contain(row[1]));
            Assert.That(row[2], Is.EqualTo("02:d5:00:00:00:01"));
        }

        // Hex from the IP header on, frame by frame.
        var inputHex = await TsharkHex(tshark!, PathOf("in.pcap"), "tcp");
        var outputHex = await TsharkHex(tshark!, PathOf("out.pcap"), string.Empty);
        Assert.That(outputHex, Has.Count.EqualTo(inputHex.Count));
        var tcpFrames = input.Where(f => f.Frame.Length > 42).ToList();
        Assert.That(inputHex.Select(h => h.Length), Is.EqualTo(tcpFrames.Select(f => f.Frame.Length * 2)), "the hex dump was read whole");
        for (var i = 0; i < outputHex.Count; i++)
        {
            Assert.That(outputHex[i][28..], Is.EqualTo(inputHex[i][28..]), $"frame {i + 1} from byte 14 on");
        }

        // Persistence domains: Outlook's three ports by client address, OWA by /24, as the configuration says.
        var outlookPorts = new HashSet<string> { "135", "7575", "7576" };
        var outlook = outputRows.Where(r => outlookPorts.Contains(r[4])).GroupBy(r => r[3]).ToList();
        Assert.That(outlook, Has.Count.EqualTo(12));
        Assert.That(outlook.All(client => client.Select(r => r[1]).Distinct().Count() == 1), Is.True, "each Outlook client on one server for 135, 7575 and 7576");
        Assert.That(outlook.Select(client => client.First()[1]).Distinct().Count(), Is.EqualTo(3), "round robin spread the clients over all three");
        var owa = outputRows.Where(r => r[4] == "443").GroupBy(r => string.Join('.', r[3].Split('.')[..3])).ToList();
        Assert.That(owa.All(prefix => prefix.Select(r => r[1]).Distinct().Count() == 1), Is.True, "each OWA /24 on one server");
    }

    [Test]
    public async Task APcapngInputGivesTheSameOutputAsItsPcap()
    {
        var editcap = FindOnPath("editcap");
        if (editcap is null)
        {
            Assert.Ignore("editcap is not installed (it comes with tshark, which tests/run.sh installs when run as root)");
        }

        WritePcap(PathOf("in.pcap"), ExchangeCapture());
        var fromPcap = await Replay();
        Assert.That(fromPcap.ExitCode, Is.Zero, fromPcap.ToString());
        var expected = File.ReadAllBytes(PathOf("out.pcap"));
        await RunTool(editcap!, ["-F", "pcapng", PathOf("in.pcap"), PathOf("in.pcapng")]);

        var run = await ExchDsrProcess.RunAsync("replay", "--config", PathOf("lab.toml"), PathOf("in.pcapng"), "--out", PathOf("out.pcap"));

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(File.ReadAllBytes(PathOf("out.pcap")), Is.EqualTo(expected));
    }

    private static async Task<List<string[]>> Tshark(string tshark, string file, string[] fields, string filter)
    {
        List<string> arguments = ["-r", file, "-T", "fields", "-E", "separator=|"];
        if (filter.Length > 0)
        {
            arguments.AddRange(["-Y", filter]);
        }

        foreach (var field in fields)
        {
            arguments.AddRange(["-e", field]);
        }

        var text = await RunTool(tshark, arguments);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|'))];
    }

    /// <summary>Each frame's bytes as one hex string (tshark's <c>-x</c> dump, offsets and ASCII dropped).</summary>
    private static async Task<List<string>> TsharkHex(string tshark, string file, string filter)
    {
        List<string> arguments = ["-r", file, "-x"];
        if (filter.Length > 0)
        {
            arguments.AddRange(["-Y", filter]);
        }

        var frames = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var line in (await RunTool(tshark, arguments)).Split('\n'))
        {
            if (line.Length < 6 || !int.TryParse(line[..4], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _) || line[4] != ' ')
            {
                if (current.Length > 0)
                {
                    frames.Add(current.ToString());
                    current.Clear();
                }

                continue;
            }

            var hex = line.Substring(6, Math.Min(48, line.Length - 6));
            current.Append(hex.Replace(" ", string.Empty, StringComparison.Ordinal));
        }

        if (current.Length > 0)
        {
            frames.Add(current.ToString());
        }

        return frames;
    }

    private static async Task<string> RunTool(string path, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.Zero, await stderr);
        return await stdout;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
