using Exch.Dsr.Configuration;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.LabBench.Synthesis;

namespace Exch.Dsr.LabBench.Demo;

/// <summary>Everything <c>exch-dsr demo</c> prints.</summary>
public sealed record DemoResult
{
    public required ReplayReport Report { get; init; }

    public required IReadOnlyList<string> AddressNotes { get; init; }

    public required ServerEvent Failure { get; init; }

    /// <summary>Findings per service that saw connections, in configuration order.</summary>
    public required IReadOnlyList<PersistenceFindings> Services { get; init; }

    /// <summary>The persistent service holding the endpoint mapper (135): Outlook's.</summary>
    public required string OutlookService { get; init; }

    public required int NatUsers { get; init; }

    public required IpAddress128 NatAddress { get; init; }

    public required long NatConnections { get; init; }

    /// <summary>The servers the NAT address's Outlook connections reached, in order.</summary>
    public required IReadOnlyList<string> NatServers { get; init; }
}

/// <summary>
/// The in-memory demo: a synthetic Exchange client mix replayed through a configuration (the shipped one, in the
/// command) with the last member of Outlook's service failing halfway, then audited from the engine's own decisions.
/// </summary>
public static class ExchangeDemo
{
    /// <summary>Where the demo's traffic starts: 2026-11-24 09:00:00 UTC, a Tuesday morning.</summary>
    public static readonly long StartUnixNanoseconds = new DateTimeOffset(2026, 11, 24, 9, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    /// <exception cref="InvalidOperationException">The configuration has no TCP service on port 135 to play Outlook against.</exception>
    public static DemoResult Run(ExchDsrConfig config, ExchangeMixOptions mix)
    {
        var outlook = config.Services.FirstOrDefault(s => s.Protocol == TransportProtocol.Tcp && s.Ports.Contains(135) && s.Persistence is not null)
            ?? throw new InvalidOperationException("the demo needs a persistent TCP service on port 135 (Outlook's endpoint mapper)");
        var vip = outlook.Vip;

        // Outlook's RPC ports are whatever its service lists besides 135; OWA and SMTP are on their standard ports
        // (frames for a port no service has would show up as "not ours").
        var ports = ExchangePorts.Default with { StaticRpc = [.. outlook.Ports.Where(p => p != 135).Select(p => (ushort)p)] };

        var failing = outlook.Members[^1].Server.Name;
        var failure = new ServerEvent(0, new EventTime(mix.Duration.Ticks * 100 / 2, IsRelative: true), failing, ServerEventAction.Down, 0, null);

        var plan = ExchangeMixPlanner.Plan(mix with { Ports = ports });
        var session = new ReplaySession(config, [failure]);
        var audit = new PersistenceAudit();
        session.Observe(audit);
        var source = new SyntheticFrameSource(plan, StartUnixNanoseconds, IpAddress128.FromIPAddress(vip), session.ApplianceMac, SyntheticFrameSource.DefaultRouterMac);
        var report = session.Run(source, output: null);

        var nat = IpAddress128.FromIPv4(ExchangeMixPlanner.NatAddress);
        var (natConnections, natServerIds) = audit.ClientIn(outlook.Name, nat);
        return new DemoResult
        {
            Report = report,
            AddressNotes = session.AddressNotes,
            Failure = failure,
            Services = [.. config.Services.Select(s => audit.FindingsFor(s.Name)).OfType<PersistenceFindings>()],
            OutlookService = outlook.Name,
            NatUsers = mix.UsersBehindNat,
            NatAddress = nat,
            NatConnections = natConnections,
            NatServers = [.. natServerIds.Select(session.ServerName)],
        };
    }
}
