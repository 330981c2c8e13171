using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Exch.Dsr.Capture.LibPcap;

/// <summary>The transport of a balanced service, as named in a BPF expression.</summary>
public enum FilterProtocol
{
    Tcp,
    Udp,
}

/// <summary>
/// Builds the BPF expression a balancer captures with: traffic to each VIP on its service ports, plus ARP (the
/// balancer answers for the VIPs), untagged and 802.1Q-tagged.
/// </summary>
/// <example>
/// <code>
/// new CaptureFilter().AddService(IPAddress.Parse("192.0.2.10"), FilterProtocol.Tcp, 135, 7575).Build()
/// // (dst host 192.0.2.10 and tcp dst port (135 or 7575)) or arp
/// //   or (vlan and ((dst host 192.0.2.10 and tcp dst port (135 or 7575)) or arp))
/// </code>
/// </example>
/// <remarks>
/// The tagged alternative comes last on purpose: in pcap-filter(7) the <c>vlan</c> keyword shifts the offsets of
/// everything after it in the expression, so an untagged test placed after it would read the wrong bytes.
/// </remarks>
public sealed class CaptureFilter
{
    private readonly List<(IPAddress Vip, FilterProtocol Protocol, SortedSet<ushort> Ports)> _services = [];

    /// <summary>Capture ARP (default on): a DSR balancer answers ARP for its VIPs.</summary>
    public bool IncludeArp { get; set; } = true;

    /// <summary>Also match the same traffic inside one 802.1Q tag (default on).</summary>
    public bool IncludeVlanTagged { get; set; } = true;

    /// <summary>Adds a VIP with its ports (at least one) for one transport; repeated calls merge ports.</summary>
    public CaptureFilter AddService(IPAddress vip, FilterProtocol protocol, params ReadOnlySpan<ushort> ports)
    {
        ArgumentNullException.ThrowIfNull(vip);
        if (vip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"{vip} is neither IPv4 nor IPv6", nameof(vip));
        }

        if (ports.IsEmpty)
        {
            throw new ArgumentException("a service needs at least one port", nameof(ports));
        }

        if (vip.IsIPv4MappedToIPv6)
        {
            vip = vip.MapToIPv4();
        }

        int existing = _services.FindIndex(s => s.Vip.Equals(vip) && s.Protocol == protocol);
        SortedSet<ushort> set = existing >= 0 ? _services[existing].Ports : [];
        foreach (ushort port in ports)
        {
            set.Add(port);
        }

        if (existing < 0)
        {
            _services.Add((vip, protocol, set));
        }

        return this;
    }

    /// <summary>The expression; throws when it would match nothing (no service and no ARP).</summary>
    public string Build()
    {
        var inner = new StringBuilder();
        foreach (var (vip, protocol, ports) in _services)
        {
            Append(inner, $"(dst host {vip} and {(protocol == FilterProtocol.Tcp ? "tcp" : "udp")} dst port {PortList(ports)})");
        }

        if (IncludeArp)
        {
            Append(inner, "arp");
        }

        if (inner.Length == 0)
        {
            throw new InvalidOperationException("the filter has no service and no ARP: it would capture nothing");
        }

        string untagged = inner.ToString();
        return IncludeVlanTagged ? $"{untagged} or (vlan and ({untagged}))" : untagged;
    }

    public override string ToString() => Build();

    private static void Append(StringBuilder builder, string term)
    {
        if (builder.Length > 0)
        {
            builder.Append(" or ");
        }

        builder.Append(term);
    }

    private static string PortList(SortedSet<ushort> ports) =>
        ports.Count == 1 ? ports.Min.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"({string.Join(" or ", ports)})";
}
