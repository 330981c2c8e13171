using System.Diagnostics;
using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.Capture.Tests.Files;

/// <summary>
/// Our files against the reference implementation: tshark must read what we write, and we must read what editcap
/// writes. Ignored when the Debian package tshark is not installed (tests/run.sh installs it).
/// </summary>
public sealed class WiresharkInteropTests
{
    private const int FrameCount = 500;

    private string _directory = "";

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), $"exch-dsr-interop-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void Tshark_reads_our_pcap_with_nanoseconds_intact()
    {
        string tshark = RequireTool("tshark");
        string path = Path.Combine(_directory, "ours.pcap");
        var written = WriteFrames(path);

        string output = Run(tshark, "-r", path, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.time_epoch");

        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(FrameCount));
        for (int i = 0; i < FrameCount; i++)
        {
            var frame = written[i];
            string expected = $"{frame.OriginalLength}\t{frame.Data.Length}\t{frame.TimestampNs / 1_000_000_000}.{frame.TimestampNs % 1_000_000_000:D9}";
            Assert.That(lines[i], Is.EqualTo(expected), $"frame {i + 1}");
        }
    }

    [Test]
    public void We_read_editcap_pcapng_conversion_of_our_pcap()
    {
        string editcap = RequireTool("editcap");
        string pcap = Path.Combine(_directory, "ours.pcap");
        string pcapNg = Path.Combine(_directory, "converted.pcapng");
        var written = WriteFrames(pcap);

        Run(editcap, "-F", "pcapng", pcap, pcapNg);

        using var reader = CaptureFileReader.Open(pcapNg);
        Assert.That(reader.Format, Is.EqualTo(CaptureFileFormat.PcapNg));
        AssertSameContent(ReadAll.From(reader, out CaptureFileError? error), written);
        Assert.That(error, Is.Null);
    }

    [Test]
    public void We_read_editcap_microsecond_pcap_conversion_of_our_pcap()
    {
        string editcap = RequireTool("editcap");
        string ours = Path.Combine(_directory, "ours.pcap");
        string micro = Path.Combine(_directory, "converted.pcap");
        var written = WriteFrames(ours);

        Run(editcap, "-F", "pcap", ours, micro);

        Assert.That(File.ReadAllBytes(micro)[..4], Is.EqualTo(new byte[] { 0xD4, 0xC3, 0xB2, 0xA1 }), "microsecond magic");
        var truncated = written.Select(f => f with { TimestampNs = f.TimestampNs / 1_000 * 1_000 }).ToList();
        AssertSameContent(ReadAll.From(File.ReadAllBytes(micro), out CaptureFileError? error), truncated);
        Assert.That(error, Is.Null);
    }

    private static List<ReadAll.Frame> WriteFrames(string path)
    {
        var random = new Random(5);
        var frames = new List<ReadAll.Frame>();
        long timestamp = 1_700_000_000_000_000_000;
        using var writer = PcapFileWriter.Create(path);
        for (int i = 0; i < FrameCount; i++)
        {
            byte[] data = TestFrames.Make(i == 0 ? 9_000 : random.Next(14, 1_515), i);
            int original = i % 7 == 0 ? data.Length + 100 : data.Length;
            timestamp += random.Next(1, 999_999_999);
            writer.Write(data, timestamp, original);
            frames.Add(new ReadAll.Frame(data, timestamp, original, i + 1, 0));
        }

        return frames;
    }

    private static void AssertSameContent(List<ReadAll.Frame> actual, List<ReadAll.Frame> expected)
    {
        Assert.That(actual, Has.Count.EqualTo(expected.Count));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.That(actual[i].Data, Is.EqualTo(expected[i].Data), $"frame {i + 1}");
            Assert.That(actual[i].TimestampNs, Is.EqualTo(expected[i].TimestampNs), $"frame {i + 1}");
            Assert.That(actual[i].OriginalLength, Is.EqualTo(expected[i].OriginalLength), $"frame {i + 1}");
            Assert.That(actual[i].FrameNumber, Is.EqualTo(i + 1));
        }
    }

    private static string RequireTool(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
                return candidate;
        }

        Assert.Ignore($"{name} is not installed (Debian package tshark; tests/run.sh installs it)");
        return "";
    }

    private static string Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(TimeSpan.FromMinutes(2)), Is.True, $"{tool} did not finish");
        Assert.That(process.ExitCode, Is.Zero, $"{tool} {string.Join(' ', arguments)} failed: {stderr.Result}");
        return stdout;
    }
}
