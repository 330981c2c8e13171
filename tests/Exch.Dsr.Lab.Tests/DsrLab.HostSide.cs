using System.Globalization;

namespace Exch.Dsr.Lab.Tests;

/// <summary>Helpers for <c>exch-dsr host-side</c> (own-vips = false) in the lab.</summary>
internal sealed partial class DsrLab
{
    /// <summary>Runs <c>exch-dsr host-side --config ConfigPath ARGS</c> in the appliance namespace.</summary>
    public CommandResult HostSide(params string[] arguments) => HostSideIn(ApplianceNs, arguments);

    /// <summary>Whether the appliance's eth0 holds <paramref name="address"/>.</summary>
    public bool ApplianceHolds(string address) => Holds(ApplianceNs, address);

    /// <summary>The nftables ruleset of the appliance namespace.</summary>
    public string ApplianceRuleset() => Exec(ApplianceNs, "nft", "list", "ruleset").Output;

    /// <summary>TCP segments with RST the appliance's own stack has sent (Tcp OutRsts in /proc/net/snmp, read in its namespace).</summary>
    public long ApplianceTcpResetsSent()
    {
        string[] lines = Exec(ApplianceNs, "cat", "/proc/net/snmp").Output.Split('\n');
        int header = Array.FindIndex(lines, l => l.StartsWith("Tcp:", StringComparison.Ordinal));
        string[] names = lines[header].Split(' ');
        string[] values = lines[header + 1].Split(' ');
        return long.Parse(values[Array.IndexOf(names, "OutRsts")], CultureInfo.InvariantCulture);
    }
}
