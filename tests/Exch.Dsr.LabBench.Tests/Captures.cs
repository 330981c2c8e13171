using Exch.Dsr.Capture.Files;

namespace Exch.Dsr.LabBench.Tests;

/// <summary>A capture built in a test: frames with their timestamps, written with the Capture writer.</summary>
internal sealed class CaptureBuilder
{
    public static readonly long Start = new DateTimeOffset(2026, 11, 24, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    public List<(long Time, byte[] Frame)> Frames { get; } = [];

    /// <summary>Adds a frame <paramref name="seconds"/> after <see cref="Start"/>.</summary>
    public CaptureBuilder At(double seconds, byte[] frame)
    {
        Frames.Add((Start + (long)(seconds * 1e9), frame));
        return this;
    }

    public byte[] ToPcap()
    {
        var stream = new MemoryStream();
        using (var writer = new PcapFileWriter(stream, leaveOpen: true))
        {
            foreach (var (time, frame) in Frames)
            {
                writer.Write(frame, time, frame.Length);
            }
        }

        return stream.ToArray();
    }

    public static List<(long Time, byte[] Frame)> Read(byte[] pcap)
    {
        var frames = new List<(long, byte[])>();
        using var reader = CaptureFileReader.Open(new MemoryStream(pcap));
        while (reader.TryReadNext(out var frame))
        {
            frames.Add((frame.TimestampNs, frame.Data.ToArray()));
        }

        Assert.That(reader.Error, Is.Null);
        return frames;
    }
}
