using System.Text;
using System.Text.Json;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench;

namespace Exch.Dsr.LabBench.Tests;

public sealed class DecisionLogWriterTests
{
    [Test]
    public void WritesOneJsonObjectPerLine()
    {
        var stream = new MemoryStream();
        using (var writer = new DecisionLogWriter(stream))
        {
            writer.Write(1_795_514_400_123_456_789, IpAddress128.Parse("192.0.2.7"), JsonEncodedText.Encode("owa-https"), 443, JsonEncodedText.Encode("CAS1"), DecisionReason.New);
            writer.Write(1_795_514_401_000_000_000, IpAddress128.Parse("10.20.0.255"), JsonEncodedText.Encode("outlook \"rpc\""), 7575, JsonEncodedText.Encode("CAS2"), DecisionReason.Redispatched);
        }

        var lines = Encoding.UTF8.GetString(stream.ToArray()).Split('\n');

        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines[2], Is.Empty, "the file ends with a newline");
        Assert.That(lines[0], Is.EqualTo(
            """{"time":"2026-11-24T10:00:00.123456789Z","time_ns":1795514400123456789,"client":"192.0.2.7","service":"owa-https","port":443,"server":"CAS1","reason":"new"}"""));
        using var second = JsonDocument.Parse(lines[1]);
        Assert.That(second.RootElement.GetProperty("service").GetString(), Is.EqualTo("outlook \"rpc\""));
        Assert.That(second.RootElement.GetProperty("client").GetString(), Is.EqualTo("10.20.0.255"));
        Assert.That(second.RootElement.GetProperty("time").GetString(), Is.EqualTo("2026-11-24T10:00:01.000000000Z"));
        Assert.That(second.RootElement.GetProperty("reason").GetString(), Is.EqualTo("redispatched"));
    }

    [Test]
    public void FormatsIpv6ClientsAndTimesBeforeTheEpoch()
    {
        Span<byte> utf8 = stackalloc byte[64];
        var address = IpAddress128.Parse("2001:db8::1");
        Assert.That(Encoding.ASCII.GetString(utf8[..DecisionLogWriter.FormatAddress(address, utf8)]), Is.EqualTo("2001:db8::1"));
        Assert.That(Encoding.ASCII.GetString(utf8[..DecisionLogWriter.FormatRfc3339(-1, utf8)]), Is.EqualTo("1969-12-31T23:59:59.999999999Z"));
    }

    [Test]
    public void WritingADecisionDoesNotAllocate()
    {
        using var writer = new DecisionLogWriter(new MemoryStream(1 << 20));
        var service = JsonEncodedText.Encode("outlook");
        var server = JsonEncodedText.Encode("CAS1");
        var client = IpAddress128.Parse("10.0.0.1");
        writer.Write(1, client, service, 135, server, DecisionReason.New);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            writer.Write(1_795_514_400_000_000_000 + i, client, service, 135, server, DecisionReason.Persisted);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1024), "beyond the stream's own growth");
    }
}
