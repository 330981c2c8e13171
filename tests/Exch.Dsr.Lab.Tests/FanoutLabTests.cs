using System.Globalization;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The ring backend over several forwarding threads (a PACKET_FANOUT group keyed on the client address): every
/// connection of one client still reaches one server, because all of them land on the thread whose persistence table
/// holds that client.
/// </summary>
[NonParallelizable]
public sealed class FanoutLabTests
{
    [SetUp]
    public void RequireRoot()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }
    }

    [Test]
    public void With_two_threads_each_client_keeps_one_server_in_each_persistence_domain_and_clients_spread()
    {
        using var lab = DsrLab.Create();
        lab.StartForwarderWith(lab.ConfigText("ring", fixedMacs: false, withSilentServer: false, httpsHealthCheck: false).Replace("threads = 1", "threads = 2", StringComparison.Ordinal));
        Assert.That(ForwardingThreads(lab.Forwarder!.Id), Is.EqualTo(2), $"threads = 2 with the ring runs two forwarding threads\n{lab.Forwarder.Output}");

        // Two persistence domains: 135/7575/7576 (outlook-rpc) and 443 (owa-https). rr alternates servers on every new
        // client, so a client that keeps one server within each domain shows its frames all met one thread's tables.
        var rpc = new Dictionary<string, List<string?>>();
        var owa = new Dictionary<string, List<string?>>();
        foreach (string client in DsrLab.ExtraClients.Prepend(DsrLab.ClientAddress))
        {
            rpc[client] = [.. new[] { 135, 7575, 7576 }.Select(port => DsrLab.ServerIn(lab.ClientTcp(DsrLab.Vip, port, client)))];
            owa[client] = [.. Enumerable.Range(0, 2).Select(_ => DsrLab.ServerIn(lab.ClientGet($"https://{DsrLab.Vip}/owa", client)))];
        }

        TestContext.Out.WriteLine(string.Join("\n", rpc.Select(e => $"{e.Key}: rpc {string.Join(", ", e.Value)}; owa {string.Join(", ", owa[e.Key])}")));
        Assert.That(rpc.Values.Concat(owa.Values).SelectMany(s => s), Is.All.Not.Null, lab.Forwarder.Output);
        Assert.That(rpc.Values.Select(s => s.Distinct().Count()), Is.All.EqualTo(1), "each client on one server for 135, 7575 and 7576");
        Assert.That(owa.Values.Select(s => s.Distinct().Count()), Is.All.EqualTo(1), "each client on one server for its https connections");
        Assert.That(rpc.Values.Select(s => s[0]).Distinct().Count(), Is.EqualTo(2), "the clients spread over both servers");
    }

    /// <summary>Threads of the exch-dsr process named exch-dsr-forward or exch-dsr-fwdN (the kernel keeps 15 characters of a thread name).</summary>
    private static int ForwardingThreads(int pid) =>
        Directory.GetDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task")
            .Count(task => File.ReadAllText(Path.Combine(task, "comm")).StartsWith("exch-dsr-f", StringComparison.Ordinal));
}
