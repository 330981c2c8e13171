using System.Net.Sockets;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Configuration.Tests;

public sealed class ConfigDurationTests
{
    [TestCase("500ms", 500)]
    [TestCase("2s", 2_000)]
    [TestCase("300s", 300_000)]
    [TestCase("15m", 900_000)]
    [TestCase("4h", 14_400_000)]
    [TestCase("1d", 86_400_000)]
    [TestCase(" 10 s ", 10_000)]
    public void Parses_a_number_and_a_unit(string text, long milliseconds)
    {
        Assert.That(ConfigDuration.TryParse(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [TestCase("300", "duration '300' needs a unit: ms, s, m, h or d (e.g. \"300s\")")]
    [TestCase("", "duration is empty; write a number and a unit, e.g. \"300s\"")]
    [TestCase("1.5h", "duration '1.5h' is not a whole number followed by ms, s, m, h or d")]
    [TestCase("5min", "duration '5min' is not a whole number followed by ms, s, m, h or d")]
    [TestCase("-5s", "duration '-5s' is not a whole number followed by ms, s, m, h or d")]
    [TestCase("4H", "duration '4H' is not a whole number followed by ms, s, m, h or d")]
    [TestCase("366d", "duration '366d' is longer than 365 days")]
    public void Refuses_with_a_reason(string text, string reason)
    {
        Assert.That(ConfigDuration.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.StartWith(reason));
    }

    [TestCase(14_400_000, "4h")]
    [TestCase(300_000, "5m")]
    [TestCase(90_000, "90s")]
    [TestCase(1_500, "1500ms")]
    [TestCase(86_400_000, "1d")]
    [TestCase(0, "0s")]
    public void Formats_in_the_largest_exact_unit(long milliseconds, string text)
        => Assert.That(ConfigDuration.Format(TimeSpan.FromMilliseconds(milliseconds)), Is.EqualTo(text));
}

public sealed class PersistenceNetmaskTests
{
    [TestCase("255.255.255.255", 32)]
    [TestCase("255.255.255.0", 24)]
    [TestCase("255.255.128.0", 17)]
    [TestCase("0.0.0.0", 0)]
    [TestCase("32", 32)]
    [TestCase("/24", 24)]
    [TestCase("0", 0)]
    public void Ipv4_dotted_or_prefix(string text, int prefix)
    {
        Assert.That(PersistenceNetmask.TryParse(text, AddressFamily.InterNetwork, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(prefix));
    }

    [TestCase("128", 128)]
    [TestCase("/64", 64)]
    [TestCase("ffff:ffff:ffff:ffff::", 64)]
    public void Ipv6_prefix_or_mask(string text, int prefix)
    {
        Assert.That(PersistenceNetmask.TryParse(text, AddressFamily.InterNetworkV6, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(prefix));
    }

    [TestCase("255.0.255.0", AddressFamily.InterNetwork, "is not contiguous")]
    [TestCase("255.255.255.1", AddressFamily.InterNetwork, "is not contiguous")]
    [TestCase("0.255.255.255", AddressFamily.InterNetwork, "is not contiguous")]
    [TestCase("ffff::ffff", AddressFamily.InterNetworkV6, "is not contiguous")]
    [TestCase("33", AddressFamily.InterNetwork, "persistence-netmask /33 is too long for an IPv4 vip: a prefix length is 0 to 32")]
    [TestCase("/129", AddressFamily.InterNetworkV6, "persistence-netmask /129 is too long for an IPv6 vip: a prefix length is 0 to 128")]
    [TestCase("255.255.255.0", AddressFamily.InterNetworkV6, "is an IPv4 mask but the vip is IPv6")]
    [TestCase("ffff::", AddressFamily.InterNetwork, "is an IPv6 mask but the vip is IPv4")]
    [TestCase("255.255.255", AddressFamily.InterNetwork, "is not a netmask")]
    [TestCase("all", AddressFamily.InterNetwork, "is not a netmask")]
    public void Refuses_with_a_reason(string text, AddressFamily family, string reason)
    {
        Assert.That(PersistenceNetmask.TryParse(text, family, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(reason));
    }

    [TestCase(32, AddressFamily.InterNetwork, "/32 (255.255.255.255)")]
    [TestCase(24, AddressFamily.InterNetwork, "/24 (255.255.255.0)")]
    [TestCase(0, AddressFamily.InterNetwork, "/0 (0.0.0.0)")]
    [TestCase(64, AddressFamily.InterNetworkV6, "/64")]
    public void Formats_prefix_and_dotted_mask(int prefix, AddressFamily family, string text)
        => Assert.That(PersistenceNetmask.Format(prefix, family), Is.EqualTo(text));
}
