using System.Net;
using System.Net.NetworkInformation;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.DataPlane.Tests;

/// <summary>Configurations built in code: CAS1 and CAS2 (auto or fixed MACs) behind one VIP.</summary>
internal static class TestConfigs
{
    public const string Vip = "192.0.2.10";

    public static RealServerConfig Server(string name, string address, string? mac = null) => new()
    {
        Name = name,
        Address = IPAddress.Parse(address),
        Mac = mac is null ? null : PhysicalAddress.Parse(mac),
    };

    public static ExchDsrConfig TwoServers(RealServerConfig cas1, RealServerConfig cas2, bool ownVips = true, RealServerConfig? sorry = null)
    {
        IReadOnlyList<RealServerConfig> servers = sorry is null ? [cas1, cas2] : [cas1, cas2, sorry];
        return new ExchDsrConfig
        {
            Appliance = new ApplianceConfig { Interface = "eth1", OwnVips = ownVips, Threads = 1 },
            Servers = servers,
            Services =
            [
                new VirtualServiceConfig
                {
                    Name = "owa-https",
                    Vip = IPAddress.Parse(Vip),
                    Ports = [443],
                    Members = [new ServiceMember(cas1, 1), new ServiceMember(cas2, 1)],
                    SorryServer = sorry,
                },
                new VirtualServiceConfig
                {
                    Name = "outlook-rpc",
                    Vip = IPAddress.Parse(Vip),
                    Ports = [135, 7575, 7576],
                    Members = [new ServiceMember(cas1, 1), new ServiceMember(cas2, 1)],
                },
            ],
        };
    }
}
