using System.Net;
using System.Net.NetworkInformation;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.LabBench.Tests;

/// <summary>Configurations built in code, so these tests do not depend on the TOML loader.</summary>
internal static class TestConfigs
{
    public static readonly RealServerConfig Cas1 = new() { Name = "CAS1", Address = IPAddress.Parse("10.0.0.11") };
    public static readonly RealServerConfig Cas2 = new() { Name = "CAS2", Address = IPAddress.Parse("10.0.0.12"), Mac = PhysicalAddress.Parse("00-15-5D-00-00-12") };
    public static readonly RealServerConfig Cas3 = new() { Name = "CAS3", Address = IPAddress.Parse("10.0.0.13"), Weight = 2 };
    public static readonly RealServerConfig Sorry = new() { Name = "SORRY", Address = IPAddress.Parse("10.0.0.99") };

    public static readonly IPAddress Vip = IPAddress.Parse("10.0.0.100");

    /// <summary>Outlook (135, 7575, 7576 persisted together), OWA on 443 (persisted), SMTP on 25 (no persistence).</summary>
    public static ExchDsrConfig Exchange(OnDownAction onDown = OnDownAction.ShutdownSessions) => new()
    {
        Appliance = new ApplianceConfig(),
        Servers = [Cas1, Cas2, Cas3, Sorry],
        Services =
        [
            new VirtualServiceConfig
            {
                Name = "outlook-rpc",
                Vip = Vip,
                Ports = [135, 7575, 7576],
                Scheduler = SchedulerKind.WeightedRoundRobin,
                Persistence = new PersistenceConfig { Timeout = TimeSpan.FromMinutes(30), PrefixLength = 32 },
                Members = [new ServiceMember(Cas1, 1), new ServiceMember(Cas2, 1), new ServiceMember(Cas3, 2)],
                OnDown = onDown,
            },
            new VirtualServiceConfig
            {
                Name = "owa-https",
                Vip = Vip,
                Ports = [443],
                Scheduler = SchedulerKind.WeightedLeastConnection,
                Persistence = new PersistenceConfig { Timeout = TimeSpan.FromMinutes(20), PrefixLength = 24 },
                Members = [new ServiceMember(Cas1, 1), new ServiceMember(Cas2, 1)],
                OnDown = onDown,
                SorryServer = Sorry,
            },
            new VirtualServiceConfig
            {
                Name = "smtp",
                Vip = Vip,
                Ports = [25],
                Scheduler = SchedulerKind.RoundRobin,
                Members = [new ServiceMember(Cas1, 1), new ServiceMember(Cas3, 1)],
                OnDown = onDown,
                Sloppy = true,
            },
        ],
    };
}
