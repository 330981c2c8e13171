using System.Diagnostics;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// The real <c>exch-dsr run</c> with an https health check on owa-https: a server whose nginx stops is taken out of
/// that service and its client is served by the other. pcap backend only: the check does not depend on the backend.
/// </summary>
[NonParallelizable]
public sealed class HealthCheckLabTests
{
    private DsrLab _lab = null!;

    [OneTimeSetUp]
    public void BuildLab()
    {
        if (!Shell.IsRoot())
        {
            Assert.Ignore("needs root (network namespaces, veth, packet sockets)");
        }

        _lab = DsrLab.Create();
        _lab.StartForwarder("pcap", httpsHealthCheck: true);
    }

    [OneTimeTearDown]
    public void TearDownLab()
    {
        if (_lab is not null)
        {
            TestContext.Progress.WriteLine($"--- exch-dsr (health) said ---\n{_lab.Forwarder?.Output}");
            _lab.Dispose();
        }
    }

    [Test]
    public void A_server_whose_nginx_stops_is_taken_out_and_its_client_comes_back_on_the_other()
    {
        string? first = DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa"));
        Assert.That(first, Is.Not.Null, $"the client got /owa through the VIP{Said()}");
        int index = Array.FindIndex(DsrLab.Servers, s => s.Name == first);
        string other = DsrLab.Servers[1 - index].Name;

        _lab.StopNginx(index);

        // fall = 2 probes 500 ms apart, plus one interval for the probe already under way, plus generous slack.
        var clock = Stopwatch.StartNew();
        string? answered = null;
        Shell.WaitUntil(
            () => (answered = DsrLab.ServerIn(_lab.ClientGet($"https://{DsrLab.Vip}/owa", maxSeconds: 1))) is not null,
            TimeSpan.FromSeconds(6));

        Assert.That(answered, Is.EqualTo(other), $"after {clock.Elapsed.TotalSeconds:0.0} s the client was served by {answered ?? "nobody"}{Said()}");
        Assert.That(_lab.Forwarder!.Output, Does.Contain($"owa-https/{first} DOWN"), "the forwarder logged the server going down");
    }

    private string Said() => $"\n--- exch-dsr said ---\n{_lab.Forwarder?.Output}";
}
