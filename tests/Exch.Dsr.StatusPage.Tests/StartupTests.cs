using System.Net;
using System.Net.Sockets;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.StatusPage.Tests;

public sealed class StartupTests
{
    [TestCase("0.0.0.0")]
    [TestCase("192.0.2.1")]
    [TestCase("::")]
    public async Task NonLoopbackEndpoint_WithoutAPasswordFile_RefusesToStart(string address)
    {
        var server = Create(new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Parse(address), 0) });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("is reachable from the network but no admin-password-file is set"));
        Assert.That(server.BoundEndpoint, Is.Null);
    }

    [Test]
    public async Task MissingPasswordFile_RefusesToStartAndNamesIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"exch-dsr-missing-{Guid.NewGuid():N}");
        var server = Create(new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AdminPasswordFile = path });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"cannot read admin-password-file {path}:"));
    }

    [Test]
    public async Task EmptyPasswordFile_RefusesToStart()
    {
        var path = Path.Combine(Path.GetTempPath(), $"exch-dsr-empty-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(path, "\nsecond line\n");
        try
        {
            var server = Create(new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AdminPasswordFile = path });

            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

            Assert.That(error!.Message, Does.Contain("has no password on its first line"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public async Task PasswordFileReadableByOthers_StartsWithAWarning()
    {
        var path = Path.Combine(Path.GetTempPath(), $"exch-dsr-open-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(path, "pw\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var logger = new CapturingLogger();
        await using var server = new StatusPageServer(
            new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AdminPasswordFile = path }, new FakeClusterControl(), logger);
        try
        {
            await server.StartAsync(CancellationToken.None);

            Assert.That(logger.Entries.Any(e => e.Message.Contains("chmod 600", StringComparison.Ordinal)));
        }
        finally
        {
            await server.StopAsync(CancellationToken.None);
            File.Delete(path);
        }
    }

    [Test]
    public async Task PortInUse_RefusesToStartWithWhatToDo()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var endpoint = (IPEndPoint)taken.LocalEndpoint;
        var server = Create(new StatusPageOptions { Endpoint = endpoint });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"status page: cannot listen on {endpoint}:").And.Contain("\"off\""));
        await server.DisposeAsync();
    }

    [Test]
    public async Task StopAsync_ClosesTheEndpoint()
    {
        var server = Create(new StatusPageOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) });
        await server.StartAsync(CancellationToken.None);
        var endpoint = server.BoundEndpoint!;
        Assert.That(endpoint.Port, Is.Not.Zero);

        await server.StopAsync(CancellationToken.None);
        await server.DisposeAsync();

        using var client = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(endpoint.Address, endpoint.Port));
    }

    [Test]
    public void Options_FollowTheControlSection()
    {
        var control = new ControlConfig { AdminUser = "exadmin", AdminPasswordFile = "/etc/exch-dsr/admin.password" };

        var options = StatusPageOptions.From(control);

        Assert.That(options, Is.EqualTo(new StatusPageOptions
        {
            Endpoint = ControlConfig.DefaultHttp,
            AdminUser = "exadmin",
            AdminPasswordFile = "/etc/exch-dsr/admin.password",
        }));
        Assert.That(StatusPageOptions.From(control with { Http = null }), Is.Null, "http = \"off\"");
    }

    private static StatusPageServer Create(StatusPageOptions options) => new(options, new FakeClusterControl(), new CapturingLogger());
}
