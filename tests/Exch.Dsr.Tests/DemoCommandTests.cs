using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Exch.Dsr.Tests;

public sealed class DemoCommandTests
{
    [Test]
    public async Task RunsInSecondsAndShowsPersistenceAndRedispatchWithCountedNumbers()
    {
        var stopwatch = Stopwatch.StartNew();
        var run = await ExchDsrProcess.RunAsync(["demo"], timeout: TimeSpan.FromSeconds(60));
        stopwatch.Stop();

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.StandardError, Is.Empty);
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "a few seconds, with room for a loaded machine");
        var stdout = run.StandardOutput;

        var persistence = Regex.Match(stdout, @"Persistence across ports: ([\d,]+) of ([\d,]+) Outlook client addresses reached one CAS on 135, 7575, 7576 .* ([\d,]+) were split");
        Assert.That(persistence.Success, Is.True, stdout);
        var held = Number(persistence.Groups[1].Value);
        Assert.That(held, Is.GreaterThan(1000));
        Assert.That(held, Is.EqualTo(Number(persistence.Groups[2].Value)));
        Assert.That(Number(persistence.Groups[3].Value), Is.Zero);

        Assert.That(stdout, Does.Match(@"Failure: CAS2 went down at 2026-11-24T09:0"));
        var redispatched = Regex.Match(stdout, @"outlook-rpc: ([\d,]+) clients re-dispatched to a surviving server; ([\d,]+) of them then stayed");
        Assert.That(redispatched.Success, Is.True, stdout);
        Assert.That(Number(redispatched.Groups[1].Value), Is.GreaterThan(0));
        Assert.That(Number(redispatched.Groups[2].Value), Is.EqualTo(Number(redispatched.Groups[1].Value)));
        Assert.That(stdout, Does.Match(@"\| outlook-rpc +\| CAS1 +\|"));
        Assert.That(stdout, Does.Contain("NAT: 250 users share 198.51.100.50"));
    }

    private static long Number(string text) => long.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
}
