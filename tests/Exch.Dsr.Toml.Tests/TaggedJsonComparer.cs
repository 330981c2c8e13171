using System.Globalization;
using System.Text.Json;

namespace Exch.Dsr.Toml.Tests;

/// <summary>
/// Compares tagged JSON the way toml-test itself does: tables ignore key order, integers compare as integers,
/// floats numerically (any nan equals any nan), date-times as instants after normalising the letter case,
/// the date/time separator and insignificant trailing zeros of the fractional second.
/// </summary>
internal static class TaggedJsonComparer
{
    /// <summary>Null when equal, else a description of the first difference and where it is.</summary>
    public static string? Difference(JsonElement expected, JsonElement actual, string path = "$")
    {
        if (expected.ValueKind == JsonValueKind.Array)
        {
            if (actual.ValueKind != JsonValueKind.Array)
            {
                return $"{path}: expected an array, got {actual.ValueKind}";
            }

            var expectedItems = expected.EnumerateArray().ToArray();
            var actualItems = actual.EnumerateArray().ToArray();
            if (expectedItems.Length != actualItems.Length)
            {
                return $"{path}: expected {expectedItems.Length} items, got {actualItems.Length}";
            }

            for (var i = 0; i < expectedItems.Length; i++)
            {
                if (Difference(expectedItems[i], actualItems[i], $"{path}[{i}]") is { } difference)
                {
                    return difference;
                }
            }

            return null;
        }

        if (expected.ValueKind != JsonValueKind.Object)
        {
            return $"{path}: the expected JSON holds a bare {expected.ValueKind}, which toml-test never produces";
        }

        if (actual.ValueKind != JsonValueKind.Object)
        {
            return $"{path}: expected an object, got {actual.ValueKind}";
        }

        if (IsTaggedValue(expected) != IsTaggedValue(actual))
        {
            return $"{path}: expected {(IsTaggedValue(expected) ? "a value" : "a table")}, got {actual}";
        }

        if (IsTaggedValue(expected))
        {
            return ValueDifference(expected, actual, path);
        }

        var expectedKeys = expected.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var actualKeys = actual.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        if (expectedKeys.Except(actualKeys).FirstOrDefault() is { } missing)
        {
            return $"{path}: key '{missing}' is missing";
        }

        if (actualKeys.Except(expectedKeys).FirstOrDefault() is { } extra)
        {
            return $"{path}: unexpected key '{extra}'";
        }

        foreach (var key in expectedKeys)
        {
            if (Difference(expected.GetProperty(key), actual.GetProperty(key), $"{path}.{key}") is { } difference)
            {
                return difference;
            }
        }

        return null;
    }

    private static bool IsTaggedValue(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object
        && element.EnumerateObject().Count() == 2
        && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
        && element.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String;

    private static string? ValueDifference(JsonElement expected, JsonElement actual, string path)
    {
        var type = expected.GetProperty("type").GetString()!;
        var actualType = actual.GetProperty("type").GetString()!;
        var want = expected.GetProperty("value").GetString()!;
        var have = actual.GetProperty("value").GetString()!;
        if (type != actualType)
        {
            return $"{path}: expected type {type} ({want}), got {actualType} ({have})";
        }

        var equal = type switch
        {
            "integer" => long.Parse(want, CultureInfo.InvariantCulture) == long.Parse(have, CultureInfo.InvariantCulture),
            "float" => FloatsEqual(want, have),
            "datetime" or "datetime-local" or "date-local" or "time-local" => NormaliseDateTime(want) == NormaliseDateTime(have),
            _ => want == have,
        };
        return equal ? null : $"{path}: expected {type} {Quote(want)}, got {Quote(have)}";
    }

    private static string Quote(string s) => JsonSerializer.Serialize(s);

    private static bool FloatsEqual(string want, string have)
    {
        var w = ParseFloat(want);
        var h = ParseFloat(have);
        return double.IsNaN(w) ? double.IsNaN(h) : w.Equals(h);
    }

    private static double ParseFloat(string s) => s switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        "nan" or "+nan" or "-nan" => double.NaN,
        _ => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A canonical form: upper-case 'T' and 'Z', no trailing zeros in the fraction, and for offset date-times the
    /// equivalent UTC wall time (toml-test compares those as instants).
    /// </summary>
    private static string NormaliseDateTime(string s)
    {
        s = s.Replace(' ', 'T').Replace('t', 'T').Replace('z', 'Z');
        var dot = s.IndexOf('.');
        var fraction = string.Empty;
        if (dot >= 0)
        {
            var end = dot + 1;
            while (end < s.Length && char.IsAsciiDigit(s[end]))
            {
                end++;
            }

            fraction = s[(dot + 1)..end].TrimEnd('0');
            s = s[..dot] + s[end..];
        }

        // Here s is a date, a time, or date 'T' time with an optional 'Z' / ±hh:mm offset, and no fraction.
        if (s.Length > 19 && s[10] == 'T')
        {
            var wall = DateTime.ParseExact(s[..19], "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
            var offset = s[19..] switch
            {
                "Z" => TimeSpan.Zero,
                var o => (o[0] == '-' ? -1 : 1) * new TimeSpan(int.Parse(o[1..3], CultureInfo.InvariantCulture), int.Parse(o[4..6], CultureInfo.InvariantCulture), 0),
            };
            s = (wall - offset).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "Z";
        }

        return fraction.Length > 0 ? $"{s}.{fraction}" : s;
    }
}
