using System.Globalization;

namespace Exch.Dsr.LabBench;

/// <summary>The events of a file, or every error found in it as <c>file:line: message</c>.</summary>
public sealed record ServerEventsParseResult(IReadOnlyList<ServerEvent> Events, IReadOnlyList<string> Errors);

/// <summary>
/// Reads the replay events format, one event a line:
/// <code>
/// # comment; blank lines are ignored
/// TIME SERVER ACTION [service SERVICE]
/// +12.5s   CAS1 down
/// +1m30s   CAS1 up service owa-https
/// 2026-11-24T10:00:05Z CAS2 weight 3
/// </code>
/// TIME is <c>+</c> and a duration after the first frame (number-unit pairs, units ns, us, ms, s, m, h; decimals
/// allowed) or an RFC 3339 time with a zone (Z or ±hh:mm) and up to nine fractional digits.
/// ACTION is <c>down</c>, <c>up</c>, <c>drain</c>, <c>disable</c>, <c>enable</c> or <c>weight N</c>.
/// Server and service names are checked against the configuration by <see cref="ServerOverrides.Validate"/>.
/// </summary>
public static class ServerEventsParser
{
    public static ServerEventsParseResult Parse(string text, string sourceName)
    {
        var events = new List<ServerEvent>();
        var errors = new List<string>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNumber = i + 1;
            var line = lines[i];
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (words.Length == 0)
            {
                continue;
            }

            var error = ParseLine(words, lineNumber, out var parsed);
            if (error is null)
            {
                events.Add(parsed!);
            }
            else
            {
                errors.Add($"{sourceName}:{lineNumber}: {error}");
            }
        }

        return new ServerEventsParseResult(events, errors);
    }

    private static string? ParseLine(string[] words, int lineNumber, out ServerEvent? parsed)
    {
        parsed = null;
        if (words.Length < 3)
        {
            return "expected 'TIME SERVER ACTION [service NAME]', e.g. '+12.5s CAS1 down'";
        }

        var timeError = ParseTime(words[0], out var time);
        if (timeError is not null)
        {
            return timeError;
        }

        var server = words[1];
        var next = 3;
        var weight = 0;
        ServerEventAction action;
        switch (words[2].ToLowerInvariant())
        {
            case "down": action = ServerEventAction.Down; break;
            case "up": action = ServerEventAction.Up; break;
            case "drain": action = ServerEventAction.Drain; break;
            case "disable": action = ServerEventAction.Disable; break;
            case "enable": action = ServerEventAction.Enable; break;
            case "weight":
                action = ServerEventAction.Weight;
                if (words.Length < 4)
                {
                    return "'weight' needs a value, e.g. 'weight 3'";
                }

                if (!int.TryParse(words[3], NumberStyles.None, CultureInfo.InvariantCulture, out weight) || weight > 65535)
                {
                    return $"weight '{words[3]}' is not a whole number from 0 to 65535";
                }

                next = 4;
                break;
            default:
                return $"unknown action '{words[2]}' (expected down, up, drain, disable, enable or weight N)";
        }

        string? service = null;
        if (words.Length > next)
        {
            if (!words[next].Equals("service", StringComparison.OrdinalIgnoreCase) || words.Length != next + 2)
            {
                return $"unexpected '{string.Join(' ', words[next..])}' (only 'service NAME' may follow the action)";
            }

            service = words[next + 1];
        }

        parsed = new ServerEvent(lineNumber, time, server, action, weight, service);
        return null;
    }

    private static string? ParseTime(string word, out EventTime time)
    {
        if (word.StartsWith('+'))
        {
            var isOffset = TryParseDuration(word.AsSpan(1), out var offset);
            time = new EventTime(offset, IsRelative: true);
            return isOffset ? null : $"bad offset '{word}' (expected e.g. +12.5s, +500ms, +1m30s)";
        }

        var isTime = TryParseRfc3339(word, out var unixNanoseconds);
        time = new EventTime(unixNanoseconds, IsRelative: false);
        return isTime ? null : $"bad time '{word}' (expected +OFFSET like +12.5s, or RFC 3339 like 2026-11-24T10:00:05Z)";
    }

    /// <summary>Number-unit pairs such as <c>1m30.5s</c>; the result is in nanoseconds.</summary>
    public static bool TryParseDuration(ReadOnlySpan<char> text, out long nanoseconds)
    {
        nanoseconds = 0;
        if (text.IsEmpty)
        {
            return false;
        }

        decimal total = 0;
        while (!text.IsEmpty)
        {
            var numberLength = 0;
            while (numberLength < text.Length && (char.IsAsciiDigit(text[numberLength]) || text[numberLength] == '.'))
            {
                numberLength++;
            }

            var unitLength = 0;
            while (numberLength + unitLength < text.Length && char.IsAsciiLetter(text[numberLength + unitLength]))
            {
                unitLength++;
            }

            if (numberLength == 0 || unitLength == 0
                || !decimal.TryParse(text[..numberLength], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            decimal scale = text.Slice(numberLength, unitLength) switch
            {
                "ns" => 1m,
                "us" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60_000_000_000m,
                "h" => 3_600_000_000_000m,
                _ => 0m,
            };
            if (scale == 0m)
            {
                return false;
            }

            total += number * scale;
            text = text[(numberLength + unitLength)..];
        }

        if (total > long.MaxValue / 2)
        {
            return false;
        }

        nanoseconds = (long)decimal.Round(total);
        return true;
    }

    /// <summary>
    /// RFC 3339 with a zone and up to nine fractional digits; <see cref="DateTimeOffset"/> alone would keep only seven.
    /// </summary>
    public static bool TryParseRfc3339(string text, out long unixNanoseconds)
    {
        unixNanoseconds = 0;
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var zoneStart = text.Length > 19 ? text.IndexOfAny(['Z', 'z', '+', '-'], 19) : -1;
        if (zoneStart < 0)
        {
            return false;
        }

        long fraction = 0;
        string withoutFraction;
        if (dot >= 0)
        {
            var digits = text.AsSpan(dot + 1, zoneStart - dot - 1);
            if (dot != 19 || digits.IsEmpty || digits.Length > 9 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out fraction))
            {
                return false;
            }

            for (var i = digits.Length; i < 9; i++)
            {
                fraction *= 10;
            }

            withoutFraction = string.Concat(text.AsSpan(0, dot), text.AsSpan(zoneStart));
        }
        else
        {
            withoutFraction = text;
        }

        if (!DateTimeOffset.TryParseExact(
                withoutFraction,
                ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd't'HH:mm:ssK"],
                CultureInfo.InvariantCulture,
                DateTimeStyles.None,
                out var parsed))
        {
            return false;
        }

        unixNanoseconds = (parsed.UtcTicks - DateTime.UnixEpoch.Ticks) * 100 + fraction;
        return true;
    }
}
