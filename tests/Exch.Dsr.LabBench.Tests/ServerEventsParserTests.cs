using Exch.Dsr.LabBench;

namespace Exch.Dsr.LabBench.Tests;

public sealed class ServerEventsParserTests
{
    [Test]
    public void ParsesRelativeAndAbsoluteTimesActionsAndServiceScope()
    {
        const string text = """
            # fail CAS1 over, then bring it back for OWA only
            +12.5s CAS1 down
            +1m30s  CAS1 up service owa-https   # trailing comment
            2026-11-24T10:00:05.123456789Z CAS2 weight 3
            2026-11-24T11:00:05+01:00 CAS3 drain

            +250ms CAS3 enable
            +1h CAS2 disable
            """;

        var result = ServerEventsParser.Parse(text, "events.txt");

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.Events, Has.Count.EqualTo(6));
        Assert.That(result.Events[0], Is.EqualTo(new ServerEvent(2, new EventTime(12_500_000_000, true), "CAS1", ServerEventAction.Down, 0, null)));
        Assert.That(result.Events[1], Is.EqualTo(new ServerEvent(3, new EventTime(90_000_000_000, true), "CAS1", ServerEventAction.Up, 0, "owa-https")));
        var tenOClock = new DateTimeOffset(2026, 11, 24, 10, 0, 5, TimeSpan.Zero).ToUnixTimeSeconds() * 1_000_000_000;
        Assert.That(result.Events[2].Time, Is.EqualTo(new EventTime(tenOClock + 123_456_789, false)));
        Assert.That(result.Events[2].Action, Is.EqualTo(ServerEventAction.Weight));
        Assert.That(result.Events[2].Weight, Is.EqualTo(3));
        Assert.That(result.Events[3].Time, Is.EqualTo(new EventTime(tenOClock, false)), "+01:00 is an hour ahead of UTC");
        Assert.That(result.Events[4].Time.Nanoseconds, Is.EqualTo(250_000_000));
        Assert.That(result.Events[5].Action, Is.EqualTo(ServerEventAction.Disable));
    }

    [Test]
    public void ReportsEveryBadLineWithFileAndLine()
    {
        const string text = "+1s CAS1 down\nCAS1 down\n+3x CAS1 down\n+1s CAS1 weight\n+1s CAS1 explode\n+1s CAS1 up service\n2026-13-01T00:00:00Z CAS1 up\n+1s CAS1 weight -1\n";

        var result = ServerEventsParser.Parse(text, "ev.txt");

        Assert.That(result.Events, Has.Count.EqualTo(1));
        Assert.That(result.Errors, Has.Count.EqualTo(7));
        Assert.That(result.Errors[0], Does.StartWith("ev.txt:2: "));
        Assert.That(result.Errors[1], Is.EqualTo("ev.txt:3: bad offset '+3x' (expected e.g. +12.5s, +500ms, +1m30s)"));
        Assert.That(result.Errors[2], Does.StartWith("ev.txt:4: 'weight' needs a value"));
        Assert.That(result.Errors[3], Does.StartWith("ev.txt:5: unknown action 'explode'"));
        Assert.That(result.Errors[4], Does.StartWith("ev.txt:6: unexpected 'service'"));
        Assert.That(result.Errors[5], Does.StartWith("ev.txt:7: bad time '2026-13-01T00:00:00Z'"));
        Assert.That(result.Errors[6], Does.StartWith("ev.txt:8: weight '-1'"));
    }

    [Test]
    public void TheReadmeExampleParses()
    {
        const string text = """
            +12.5s                          CAS1 down
            +1m30s                          CAS1 up
            2026-11-24T10:00:05Z            CAS2 weight 3
            2026-11-24T10:00:05.250+01:00   CAS2 drain service owa-https
            +10m                            CAS2 enable service owa-https
            """;

        var result = ServerEventsParser.Parse(text, "README");

        Assert.That(result.Errors, Is.Empty);
        var tenOClock = new DateTimeOffset(2026, 11, 24, 10, 0, 5, TimeSpan.Zero).ToUnixTimeSeconds() * 1_000_000_000;
        Assert.That(result.Events[3].Time, Is.EqualTo(new EventTime(tenOClock - 3_600_000_000_000 + 250_000_000, false)));
        Assert.That(result.Events[3].Service, Is.EqualTo("owa-https"));
        Assert.That(result.Events[4].ToString(), Is.EqualTo("CAS2 enable service owa-https"));
    }

    [TestCase("1.5s", 1_500_000_000L)]
    [TestCase("1m30s", 90_000_000_000L)]
    [TestCase("2h", 7_200_000_000_000L)]
    [TestCase("10us", 10_000L)]
    [TestCase("7ns", 7L)]
    [TestCase("0.000000001s", 1L)]
    public void ParsesDurations(string text, long expected)
    {
        Assert.That(ServerEventsParser.TryParseDuration(text, out var nanoseconds), Is.True);
        Assert.That(nanoseconds, Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("5")]
    [TestCase("s")]
    [TestCase("1d")]
    [TestCase("1.2.3s")]
    public void RefusesBadDurations(string text) =>
        Assert.That(ServerEventsParser.TryParseDuration(text, out _), Is.False);

    [Test]
    public void RelativeTimesResolveAgainstTheFirstFrame()
    {
        Assert.That(new EventTime(5, IsRelative: true).Resolve(1_000), Is.EqualTo(1_005));
        Assert.That(new EventTime(5, IsRelative: false).Resolve(1_000), Is.EqualTo(5));
    }
}
