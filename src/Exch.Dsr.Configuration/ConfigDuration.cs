using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Exch.Dsr.Configuration;

/// <summary>
/// Durations as written in the file: a whole number and one unit, "500ms", "2s", "300s", "15m", "4h", "1d".
/// A bare number is refused because "300" is seconds to LVS and milliseconds to HAProxy: the unit must be said.
/// </summary>
public static partial class ConfigDuration
{
    public static readonly TimeSpan Longest = TimeSpan.FromDays(365);

    public static bool TryParse(string text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        value = default;
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            error = "duration is empty; write a number and a unit, e.g. \"300s\"";
            return false;
        }

        if (trimmed.All(char.IsAsciiDigit))
        {
            error = $"duration '{text}' needs a unit: ms, s, m, h or d (e.g. \"{trimmed}s\")";
            return false;
        }

        var match = Pattern().Match(trimmed);
        if (!match.Success)
        {
            error = $"duration '{text}' is not a whole number followed by ms, s, m, h or d (e.g. \"500ms\", \"300s\", \"4h\"; write 90m, not 1.5h)";
            return false;
        }

        // Nine digits at most, so the multiplication below cannot overflow before the range check.
        var amount = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        value = match.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            _ => TimeSpan.FromDays(amount),
        };
        if (value > Longest)
        {
            error = $"duration '{text}' is longer than 365 days";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>In the largest unit that states it exactly: 14400 s is "4h", 90 s is "90s".</summary>
    public static string Format(TimeSpan value)
    {
        var ms = (long)value.TotalMilliseconds;
        if (ms == 0)
        {
            return "0s";
        }

        foreach (var (unit, size) in Units)
        {
            if (ms % size == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{ms / size}{unit}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{ms}ms");
    }

    private static readonly (string Unit, long Milliseconds)[] Units =
        [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];

    [GeneratedRegex(@"^([0-9]{1,9}) *(ms|s|m|h|d)$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
