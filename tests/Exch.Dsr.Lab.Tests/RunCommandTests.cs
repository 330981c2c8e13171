namespace Exch.Dsr.Lab.Tests;

/// <summary><c>exch-dsr run</c> refusing to start, as an administrator sees it: every config error, or the failed check and its fix.</summary>
public sealed class RunCommandTests
{
    [Test]
    public void Bad_config_lists_every_error_and_exits_2()
    {
        string file = Path.Combine(Path.GetTempPath(), $"exch-dsr-bad-{Guid.NewGuid():N}.toml");
        File.WriteAllText(file, """
            [appliance]
            interface = "eth0"
            backend = "ringg"

            [[server]]
            name = "CAS1"
            address = "10.203.7.11"

            [[service]]
            name = "owa"
            vip = "10.203.7.100"
            ports = [443]
            schedular = "sh"
            """);
        try
        {
            var run = Shell.Run(Shell.DotnetHost(), Shell.ExchDsrDll(), "run", "--config", file);

            Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
            Assert.That(run.Errors, Does.Contain($"{file}:3:").And.Contain($"{file}:13:"), "each error with its line");
            Assert.That(run.Errors, Does.Contain("not started"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Missing_interface_fails_the_start_up_check_with_its_fix_and_exits_1()
    {
        string file = Path.Combine(Path.GetTempPath(), $"exch-dsr-noif-{Guid.NewGuid():N}.toml");
        File.WriteAllText(file, """
            [appliance]
            interface = "xdsr-none0"
            own-vips = true

            [control]
            http = "off"

            [[server]]
            name = "CAS1"
            address = "10.203.7.11"
            mac = "02:00:00:00:00:11"

            [[service]]
            name = "owa"
            vip = "10.203.7.100"
            ports = [443]
            [service.check]
            kind = "none"
            """);
        try
        {
            var run = Shell.Run(Shell.DotnetHost(), Shell.ExchDsrDll(), "run", "--config", file);

            Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
            Assert.That(run.Errors, Does.Contain("there is no network interface named xdsr-none0"));
            Assert.That(run.Errors, Does.Contain("fix: ip -br link"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
