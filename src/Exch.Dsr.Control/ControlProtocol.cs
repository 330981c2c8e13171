using System.Text.Json;
using System.Text.Json.Serialization;

namespace Exch.Dsr.Control;

/// <summary>
/// The control socket's wire format: one JSON object a line each way, UTF-8, a request answered by one response.
/// A client may send several requests on one connection; each gets its response in order.
/// </summary>
/// <example>
/// <code>
/// {"version":1,"command":"drain","server":"CAS1","service":"outlook-rpc"}
/// {"version":1,"ok":true,"message":"CAS1 drained in outlook-rpc","errors":[]}
/// </code>
/// </example>
public static class ControlProtocol
{
    /// <summary>The protocol version this build speaks; a request without a version is taken as this one.</summary>
    public const int Version = 1;

    /// <summary>The longest request line accepted, newline excluded; longer ones are refused and the connection closed.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>The largest <see cref="ControlRequest.Limit"/> a listing may ask for.</summary>
    public const int MaxLimit = 1_000_000;

    public const string Status = "status";
    public const string Conns = "conns";
    public const string Persist = "persist";
    public const string Drain = "drain";
    public const string Disable = "disable";
    public const string Enable = "enable";
    public const string Weight = "weight";
    public const string Reload = "reload";

    /// <summary>Every command, in the order the help lists them.</summary>
    public static readonly IReadOnlyList<string> Commands = [Status, Conns, Persist, Drain, Disable, Enable, Weight, Reload];

    /// <summary>
    /// The administrative state a command (or a status-page action) names: drain, disable or enable, in any case;
    /// null for any other word.
    /// </summary>
    public static AdminAction? AdminActionNamed(string command) => command.ToLowerInvariant() switch
    {
        Drain => AdminAction.Drain,
        Disable => AdminAction.Disable,
        Enable => AdminAction.Enable,
        _ => null,
    };

    /// <summary>One line of JSON, without the newline.</summary>
    public static byte[] Serialize(ControlRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, ControlJsonContext.Default.ControlRequest);

    /// <summary>One line of JSON, without the newline.</summary>
    public static byte[] Serialize(ControlResponse response) => JsonSerializer.SerializeToUtf8Bytes(response, ControlJsonContext.Default.ControlResponse);

    /// <summary>The response as an administrator's script reads it: indented, camelCase, nulls left out.</summary>
    public static string SerializeIndented(ControlResponse response) => JsonSerializer.Serialize(response, ControlJsonContext.Indented.ControlResponse);

    /// <exception cref="JsonException">The line is not a request.</exception>
    public static ControlRequest DeserializeRequest(ReadOnlySpan<byte> line) =>
        JsonSerializer.Deserialize(line, ControlJsonContext.Default.ControlRequest) ?? throw new JsonException("the request is null; send an object, e.g. {\"version\":1,\"command\":\"status\"}");

    /// <exception cref="JsonException">The line is not a response.</exception>
    public static ControlResponse DeserializeResponse(string line) =>
        JsonSerializer.Deserialize(line, ControlJsonContext.Default.ControlResponse) ?? throw new JsonException("the response is null");
}

/// <summary>One request; which fields each command reads is in this project's README.</summary>
/// <remarks>
/// Positional with defaults because the source generator fills absent fields from constructor defaults but resets
/// init-only properties to zero. Unknown fields are an error rather than ignored: a misspelt "sevice" must not
/// silently drain a server everywhere.
/// </remarks>
/// <param name="Version">The protocol version; absent means <see cref="ControlProtocol.Version"/>.</param>
/// <param name="Command">One of <see cref="ControlProtocol.Commands"/>.</param>
/// <param name="Server">The real server's name, for drain, disable, enable and weight; a filter for conns and persist.</param>
/// <param name="Service">Restricts a change or a listing to one service.</param>
/// <param name="Weight">The new weight, for weight (0 to 65535).</param>
/// <param name="Client">A client address or CIDR prefix, a filter for conns and persist.</param>
/// <param name="Limit">At most this many rows for conns and persist; <see cref="TableFilter"/>'s default when absent.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ControlRequest(
    int Version = ControlProtocol.Version,
    string Command = "",
    string? Server = null,
    string? Service = null,
    int? Weight = null,
    string? Client = null,
    int? Limit = null);

/// <summary>
/// One response: <see cref="Ok"/> with a message and, for the readers, the one payload the command returns; or not
/// ok, with the message and every error (for reload, each as <c>file:line:column: what is wrong</c>).
/// </summary>
/// <param name="Status">For status.</param>
/// <param name="Connections">For conns.</param>
/// <param name="Persistence">For persist.</param>
public sealed record ControlResponse(
    int Version = ControlProtocol.Version,
    bool Ok = false,
    string Message = "",
    IReadOnlyList<string>? Errors = null,
    ClusterStatus? Status = null,
    IReadOnlyList<ConnectionRow>? Connections = null,
    IReadOnlyList<PersistenceRow>? Persistence = null)
{
    public IReadOnlyList<string> Errors { get; init; } = Errors ?? [];

    public static ControlResponse Refused(string message, IReadOnlyList<string>? errors = null) => new() { Ok = false, Message = message, Errors = errors ?? [] };

    public static ControlResponse From(ControlResult result) => new() { Ok = result.Ok, Message = result.Message, Errors = result.Errors };
}

// Source-generated so the service and the trimmed single-file CLI never serialize through reflection.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
internal sealed partial class ControlJsonContext : JsonSerializerContext
{
    public static ControlJsonContext Indented { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    });
}
