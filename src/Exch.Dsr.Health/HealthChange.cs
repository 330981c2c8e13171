using System.Collections.Immutable;

namespace Exch.Dsr.Health;

/// <summary>A server's health flipped. <see cref="Reason"/> names the check, the probe's detail and the count that decided.</summary>
public sealed record HealthChange(string Service, string Server, HealthState Previous, HealthState Current, string Reason)
{
    /// <summary>E.g. "owa-https/CAS1 DOWN: https /owa: body lacks 'utlook' (3 of 3)".</summary>
    public override string ToString() => $"{Service}/{Server} {Current.ToString().ToUpperInvariant()}: {Reason}";
}

/// <summary>
/// Every monitored server's health, immutable; the monitor swaps a whole new snapshot in after each probe, so a
/// reader sees one consistent picture without locking. Services whose check is <c>none</c> are absent: their members
/// are always up.
/// </summary>
public sealed class HealthSnapshot
{
    internal HealthSnapshot(ImmutableDictionary<string, ImmutableDictionary<string, ServerHealth>> services)
    {
        Table = services;
        Services = services.ToImmutableDictionary(s => s.Key, s => (IReadOnlyDictionary<string, ServerHealth>)s.Value);
    }

    /// <summary>Service name → server name → health.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ServerHealth>> Services { get; }

    /// <summary>The same data, typed for the monitor to derive the next snapshot from.</summary>
    internal ImmutableDictionary<string, ImmutableDictionary<string, ServerHealth>> Table { get; }

    public ServerHealth? Get(string service, string server) =>
        Table.TryGetValue(service, out var servers) && servers.TryGetValue(server, out var health) ? health : null;
}
