using System.Text.Json;
using System.Text.Json.Serialization;
using Exch.Dsr.Control;

namespace Exch.Dsr.StatusPage;

/// <summary>A bounded listing: the rows, the limit applied, and whether there were more than it allowed.</summary>
internal sealed record TableResponse<T>(IReadOnlyList<T> Rows, int Limit, bool Truncated);

// Named floating-point literals keep a NaN rate (a zero sampling interval) from failing the whole status.
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(ControlResult))]
[JsonSerializable(typeof(TableResponse<ConnectionRow>))]
[JsonSerializable(typeof(TableResponse<PersistenceRow>))]
internal sealed partial class StatusPageJson : JsonSerializerContext;
