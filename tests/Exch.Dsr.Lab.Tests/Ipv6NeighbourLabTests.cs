namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// IPv6 real servers with <c>mac = "auto"</c>: exch-dsr finds their MACs with neighbour solicitations that the
/// servers' real kernels answer, forwards to them, and follows a changed MAC.
/// </summary>
[NonParallelizable]
public sealed class Ipv6NeighbourLabTests
{
    private const int Port = 7590;

    [SetUp]
    public void RequireRoot()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }
    }

    [Test]
    public void Ipv6_servers_are_resolved_with_neighbour_solicitation_and_serve_through_the_ipv6_vip()
    {
        using var lab = DsrLab.Create();
        lab.AddIpv6();
        var listeners = new List<BackgroundProcess>();
        try
        {
            for (int i = 0; i < DsrLab.Servers.Length; i++)
            {
                string name = DsrLab.Servers[i].Name;
                listeners.Add(Shell.Start($"{name} socat6", "ip", "netns", "exec", lab.ServerNs(i), "socat", $"TCP6-LISTEN:{Port},fork,reuseaddr", $"EXEC:/bin/echo {name}"));
            }

            lab.StartForwarderWith(lab.ConfigTextWithIpv6("ring", Port));
            var forwarder = lab.Forwarder!;
            bool resolved = Shell.WaitUntil(
                () => Enumerable.Range(0, 2).All(i => forwarder.Output.Contains($"Server CAS{i + 1}v6 ({DsrLab.Servers6[i]}) is at {lab.ServerMac(i)}", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(10));
            Assert.That(resolved, Is.True, $"both IPv6 servers resolved to their real MACs; exch-dsr said:\n{forwarder.Output}");

            // The client resolves the IPv6 VIP with a solicitation that exch-dsr answers (own-vips = true), then its
            // connections are forwarded to the IPv6 servers and rr spreads them.
            var answers = Enumerable.Range(0, 6).Select(_ => Banner(lab)).ToList();
            TestContext.Out.WriteLine($"answers through [{DsrLab.Vip6}]:{Port}: {string.Join(", ", answers.Select(a => a ?? "(none)"))}");
            Assert.That(answers, Is.All.Not.Null, forwarder.Output);
            Assert.That(answers.Distinct().Count(), Is.EqualTo(2), "both IPv6 servers served");

            // A moved server (a CAS VM on another host) is found again by the next solicitation.
            string newMac = $"02:6e:{Random.Shared.Next(256):x2}:{Random.Shared.Next(256):x2}:{Random.Shared.Next(256):x2}:01";
            Shell.Must("ip", "-n", lab.ServerNs(0), "link", "set", "dev", "eth0", "address", newMac);
            bool followed = Shell.WaitUntil(() => forwarder.Output.Contains($"Server CAS1v6 ({DsrLab.Servers6[0]}) moved from", StringComparison.Ordinal) && forwarder.Output.Contains(newMac, StringComparison.Ordinal), TimeSpan.FromSeconds(8));
            Assert.That(followed, Is.True, $"the new MAC {newMac} was followed within one refresh (2 s) and some; exch-dsr said:\n{forwarder.Output}");
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }

    private static string? Banner(DsrLab lab)
    {
        var result = DsrLab.Exec(lab.ClientNs, "socat", ["-T", "5", "-u", $"TCP6:[{DsrLab.Vip6}]:{Port},connect-timeout=5", "STDOUT"]);
        return result.Succeeded ? DsrLab.ServerIn(result.Output) : null;
    }
}
