using System.Net.Sockets;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.DataPlane;

/// <summary>
/// What a reload would change, by name: services and servers added, removed or changed, whether the health checks
/// need a new monitor, and what cannot change without a restart.
/// </summary>
/// <param name="RestartNeeded">Why the new file cannot be applied to the running process; empty when it can.</param>
/// <param name="Notes">Changes that apply only partly until the next restart (e.g. [control]).</param>
public sealed record ConfigurationDiff(
    IReadOnlyList<string> RestartNeeded,
    IReadOnlyList<string> AddedServices,
    IReadOnlyList<string> RemovedServices,
    IReadOnlyList<string> ChangedServices,
    IReadOnlyList<string> UnchangedServices,
    IReadOnlyList<string> AddedServers,
    IReadOnlyList<string> RemovedServers,
    IReadOnlyList<string> ChangedServers,
    bool HealthChecksChanged,
    IReadOnlyList<string> Notes)
{
    public bool HasChanges =>
        AddedServices.Count + RemovedServices.Count + ChangedServices.Count + AddedServers.Count + RemovedServers.Count + ChangedServers.Count > 0
        || HealthChecksChanged || Notes.Count > 0;

    /// <summary>Compares the running configuration with a newly loaded one.</summary>
    public static ConfigurationDiff Compare(ExchDsrConfig running, ExchDsrConfig next)
    {
        var restart = new List<string>();
        var (a, b) = (running.Appliance, next.Appliance);
        if (a.Interface != b.Interface)
        {
            restart.Add($"interface changed from {a.Interface} to {b.Interface}");
        }

        if (a.Backend != b.Backend)
        {
            restart.Add($"backend changed from {Lower(a.Backend)} to {Lower(b.Backend)}");
        }

        if (a.Threads != b.Threads)
        {
            restart.Add($"threads changed from {a.Threads} to {b.Threads}");
        }

        if (a.Connections != b.Connections)
        {
            restart.Add($"connections changed from {a.Connections} to {b.Connections}");
        }

        if (a.OwnVips != b.OwnVips)
        {
            restart.Add($"own-vips changed from {Lower(a.OwnVips)} to {Lower(b.OwnVips)}");
        }

        if (!Equals(a.Mac, b.Mac))
        {
            restart.Add($"the appliance mac changed from {a.Mac?.ToString() ?? "auto"} to {b.Mac?.ToString() ?? "auto"}");
        }

        if (restart.Count == 0 && a != b)
        {
            restart.Add("[appliance] changed");
        }

        // The pcap backend's kernel filter is compiled once, at open: a new VIP or port would never be captured.
        if (b.Backend == CaptureBackend.Pcap && a.Backend == CaptureBackend.Pcap && LiveDataPlane.PcapFilter(running) != LiveDataPlane.PcapFilter(next))
        {
            restart.Add("the pcap backend's capture filter would change (a VIP, port or protocol was added or removed), and it is compiled once at start");
        }

        var oldServers = running.Servers.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var newServers = next.Servers.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var oldServices = running.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var newServices = next.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);

        var changedServices = next.Services.Where(s => oldServices.TryGetValue(s.Name, out var old) && !SameService(old, s)).Select(s => s.Name).ToList();
        var healthChanged = running.Services.Where(s => s.Check.Kind != HealthCheckKind.None).Select(s => s.Name)
            .Concat(next.Services.Where(s => s.Check.Kind != HealthCheckKind.None).Select(s => s.Name))
            .Distinct(StringComparer.Ordinal)
            .Any(name => !oldServices.TryGetValue(name, out var old) || !newServices.TryGetValue(name, out var now) || !SameProbing(old, now));

        var notes = new List<string>();
        if (running.Control != next.Control)
        {
            notes.Add("[control] changes take effect at the next restart");
        }

        var newVips = next.Services.Select(s => s.Vip).Except(running.Services.Select(s => s.Vip)).Where(v => v.AddressFamily == AddressFamily.InterNetwork).ToList();
        if (b.OwnVips && newVips.Count > 0)
        {
            notes.Add($"new VIP {string.Join(", ", newVips)} is answered for but was not announced with gratuitous ARP");
        }

        return new ConfigurationDiff(
            restart,
            [.. next.Services.Where(s => !oldServices.ContainsKey(s.Name)).Select(s => s.Name)],
            [.. running.Services.Where(s => !newServices.ContainsKey(s.Name)).Select(s => s.Name)],
            changedServices,
            [.. next.Services.Where(s => oldServices.ContainsKey(s.Name) && !changedServices.Contains(s.Name)).Select(s => s.Name)],
            [.. next.Servers.Where(s => !oldServers.ContainsKey(s.Name)).Select(s => s.Name)],
            [.. running.Servers.Where(s => !newServers.ContainsKey(s.Name)).Select(s => s.Name)],
            [.. next.Servers.Where(s => oldServers.TryGetValue(s.Name, out var old) && old != s).Select(s => s.Name)],
            healthChanged,
            notes);
    }

    /// <summary>"services +smtp -pop3 ~http; servers +CAS3; unchanged outlook-rpc, owa-https", or "no changes".</summary>
    public string Summary()
    {
        var parts = new List<string>();
        string Changes(IReadOnlyList<string> added, IReadOnlyList<string> removed, IReadOnlyList<string> changed) =>
            string.Join(' ', added.Select(n => $"+{n}").Concat(removed.Select(n => $"-{n}")).Concat(changed.Select(n => $"~{n}")));
        if (AddedServices.Count + RemovedServices.Count + ChangedServices.Count > 0)
        {
            parts.Add($"services {Changes(AddedServices, RemovedServices, ChangedServices)}");
        }

        if (AddedServers.Count + RemovedServers.Count + ChangedServers.Count > 0)
        {
            parts.Add($"servers {Changes(AddedServers, RemovedServers, ChangedServers)}");
        }

        if (HealthChecksChanged)
        {
            parts.Add("health checks restarted");
        }

        parts.AddRange(Notes);
        if (parts.Count == 0)
        {
            return "no changes";
        }

        if (UnchangedServices.Count > 0)
        {
            parts.Add($"unchanged (connections and persistence kept): {string.Join(", ", UnchangedServices)}");
        }

        return string.Join("; ", parts);
    }

    /// <summary>Every field that routes a frame; list fields compared by content (records compare lists by reference).</summary>
    public static bool SameService(VirtualServiceConfig a, VirtualServiceConfig b) =>
        a.Ports.SequenceEqual(b.Ports) && a.Members.SequenceEqual(b.Members) && (a with { Ports = b.Ports, Members = b.Members }) == b;

    /// <summary>Whether the health monitor would probe the same targets the same way for this service.</summary>
    internal static bool SameProbing(VirtualServiceConfig a, VirtualServiceConfig b) =>
        a.Check == b.Check && a.Vip.Equals(b.Vip) && a.SorryServer == b.SorryServer
        && a.Members.Select(m => m.Server).SequenceEqual(b.Members.Select(m => m.Server));

    private static string Lower<T>(T value) => value!.ToString()!.ToLowerInvariant();
}
