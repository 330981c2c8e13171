namespace Exch.Dsr.Lab.Tests;

/// <summary>IPv6 on the lab's link: addresses for the client and servers, the IPv6 VIP on the servers' lo, and servers that configure them.</summary>
internal sealed partial class DsrLab
{
    public const string Vip6 = "2001:db8:7::100";
    public const string Client6 = "2001:db8:7::10";

    /// <summary>The servers' IPv6 addresses, as <see cref="Servers"/> (CAS1, CAS2).</summary>
    public static readonly string[] Servers6 = ["2001:db8:7::11", "2001:db8:7::12"];

    /// <summary>
    /// Gives the client and the servers their IPv6 addresses (no duplicate address detection, so they are usable at
    /// once) and the servers the IPv6 VIP on lo; Linux answers neighbour solicitations only for addresses of the
    /// interface they arrive on, so the VIP on lo stays unannounced, as on a Windows loopback adapter.
    /// </summary>
    public void AddIpv6()
    {
        Shell.Must("ip", "-n", ClientNs, "address", "add", $"{Client6}/64", "dev", "eth0", "nodad");
        for (int i = 0; i < Servers6.Length; i++)
        {
            Shell.Must("ip", "-n", ServerNs(i), "address", "add", $"{Servers6[i]}/64", "dev", "eth0", "nodad");
            Shell.Must("ip", "-n", ServerNs(i), "address", "add", $"{Vip6}/128", "dev", "lo", "nodad");
        }
    }

    /// <summary>The lab's configuration plus CAS1v6 / CAS2v6 (mac = "auto") and a TCP service on the IPv6 VIP, port <paramref name="port"/>.</summary>
    public string ConfigTextWithIpv6(string backend, int port) =>
        ConfigText(backend, fixedMacs: false, withSilentServer: false, httpsHealthCheck: false) + $"""

            [[server]]
            name = "CAS1v6"
            address = "{Servers6[0]}"
            mac = "auto"

            [[server]]
            name = "CAS2v6"
            address = "{Servers6[1]}"
            mac = "auto"

            [[service]]
            name = "banner6"
            vip = "{Vip6}"
            ports = [{port}]
            scheduler = "rr"
            [service.check]
            kind = "none"
            """;
}
