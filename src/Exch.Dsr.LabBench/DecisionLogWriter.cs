using System.Buffers;
using System.Buffers.Text;
using System.Net;
using System.Text.Json;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.LabBench;

/// <summary>
/// Writes the <c>--decisions</c> JSON Lines file, one object a decision:
/// <c>{"time":"2026-11-24T10:00:00.123456789Z","time_ns":1795514400123456789,"client":"192.0.2.7","service":"owa-https","port":443,"server":"CAS1","reason":"new"}</c>,
/// reason one of new (scheduled), persisted (followed the client's persistence entry), redispatched (its server was no
/// longer usable), sorry (no member usable).
/// Decisions are rare next to frames, but a replay can still make millions: the writer formats times and
/// addresses into stack buffers and takes names pre-encoded, so a decision allocates nothing.
/// </summary>
public sealed class DecisionLogWriter : IDisposable
{
    private static readonly JsonEncodedText TimeName = JsonEncodedText.Encode("time");
    private static readonly JsonEncodedText TimeNsName = JsonEncodedText.Encode("time_ns");
    private static readonly JsonEncodedText ClientName = JsonEncodedText.Encode("client");
    private static readonly JsonEncodedText ServiceName = JsonEncodedText.Encode("service");
    private static readonly JsonEncodedText PortName = JsonEncodedText.Encode("port");
    private static readonly JsonEncodedText ServerName = JsonEncodedText.Encode("server");
    private static readonly JsonEncodedText ReasonName = JsonEncodedText.Encode("reason");
    private static readonly JsonEncodedText New = JsonEncodedText.Encode("new");
    private static readonly JsonEncodedText Persisted = JsonEncodedText.Encode("persisted");
    private static readonly JsonEncodedText Redispatched = JsonEncodedText.Encode("redispatched");
    private static readonly JsonEncodedText Sorry = JsonEncodedText.Encode("sorry");
    private static readonly JsonEncodedText Existing = JsonEncodedText.Encode("existing");

    private readonly Stream _stream;
    private readonly Utf8JsonWriter _writer;

    /// <param name="stream">Owned by the writer from now on; wrap a file in a <see cref="BufferedStream"/> first.</param>
    public DecisionLogWriter(Stream stream)
    {
        _stream = stream;
        // Validation would refuse a second top-level object; JSON Lines is exactly that, one per line.
        _writer = new Utf8JsonWriter(stream, new JsonWriterOptions { SkipValidation = true });
    }

    public static DecisionLogWriter Create(string path) =>
        new(new BufferedStream(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), 1 << 16));

    public void Write(
        long unixNanoseconds,
        IpAddress128 client,
        JsonEncodedText service,
        int port,
        JsonEncodedText server,
        DecisionReason reason)
    {
        Span<byte> scratch = stackalloc byte[64];
        _writer.WriteStartObject();
        _writer.WriteString(TimeName, scratch[..FormatRfc3339(unixNanoseconds, scratch)]);
        _writer.WriteNumber(TimeNsName, unixNanoseconds);
        _writer.WriteString(ClientName, scratch[..FormatAddress(client, scratch)]);
        _writer.WriteString(ServiceName, service);
        _writer.WriteNumber(PortName, port);
        _writer.WriteString(ServerName, server);
        _writer.WriteString(ReasonName, reason switch
        {
            DecisionReason.New => New,
            DecisionReason.Persisted => Persisted,
            DecisionReason.Redispatched => Redispatched,
            DecisionReason.Sorry => Sorry,
            _ => Existing,
        });
        _writer.WriteEndObject();
        _writer.Flush();
        _stream.WriteByte((byte)'\n');
        // Reset forgets that a value was written, so the next object starts without a separating comma.
        _writer.Reset(_stream);
    }

    /// <summary>Writes everything buffered through to the file.</summary>
    public void Flush() => _stream.Flush();

    public void Dispose()
    {
        _writer.Dispose();
        _stream.Dispose();
    }

    /// <summary>UTC, nine fractional digits: <c>2026-11-24T10:00:00.123456789Z</c>.</summary>
    public static int FormatRfc3339(long unixNanoseconds, Span<byte> utf8)
    {
        var seconds = Math.DivRem(unixNanoseconds, 1_000_000_000L, out var nanoseconds);
        if (nanoseconds < 0)
        {
            seconds--;
            nanoseconds += 1_000_000_000L;
        }

        DateTime.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond).TryFormat(utf8, out var written, "yyyy'-'MM'-'dd'T'HH':'mm':'ss", null);
        utf8[written++] = (byte)'.';
        Utf8Formatter.TryFormat(nanoseconds, utf8[written..], out var digits, new StandardFormat('D', 9));
        written += digits;
        utf8[written++] = (byte)'Z';
        return written;
    }

    /// <summary>Dotted quad for IPv4 by hand (an <see cref="IPAddress"/> would be an allocation); IPv6 through it.</summary>
    public static int FormatAddress(IpAddress128 address, Span<byte> utf8)
    {
        if (!address.IsIPv4)
        {
            address.ToIPAddress().TryFormat(utf8, out var ipv6Written);
            return ipv6Written;
        }

        var value = address.IPv4Value;
        var written = 0;
        for (var shift = 24; shift >= 0; shift -= 8)
        {
            if (shift < 24)
            {
                utf8[written++] = (byte)'.';
            }

            Utf8Formatter.TryFormat((byte)(value >> shift), utf8[written..], out var digits);
            written += digits;
        }

        return written;
    }
}
