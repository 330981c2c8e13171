using System.Globalization;
using Exch.Dsr.Toml;

namespace Exch.Dsr.Configuration;

/// <summary>
/// Typed reads from <see cref="ConfigNode"/>s that record an error and return null instead of throwing, so one pass
/// finds every mistake. A value from TOML must have the TOML type asked for (rise = "2" is refused, so what the file
/// says is what it means); a value from an override is text and is parsed.
/// </summary>
internal sealed class ConfigReader
{
    private readonly List<ConfigError> _errors = [];

    public IReadOnlyList<ConfigError> Errors => _errors;

    public void Add(ConfigError error) => _errors.Add(error);

    /// <summary>True when <paramref name="node"/> is a table; reports each key not in <paramref name="known"/>.</summary>
    public bool Table(ConfigNode node, string what, IReadOnlyList<string> known, string example)
    {
        if (node.TomlValue is not null || (!node.Origin.IsToml && node.Value is not null) || node.IsTomlArray)
        {
            _errors.Add(node.AtValue($"{node.Key} must be a table, e.g. {example}, not {Describe(node)}"));
            return false;
        }

        foreach (var child in node.Children)
        {
            if (!known.Any(child.Is))
            {
                _errors.Add(child.AtKey($"unknown key '{child.Key}' in {what}; {Suggest(child.Key, known)}"));
            }
        }

        return true;
    }

    /// <summary>The elements of a list (TOML array, or keys 0..n-1 from overrides); null, after an error, when it is not one.</summary>
    public IReadOnlyList<ConfigNode>? List(ConfigNode node, string example)
    {
        var isList = node.Origin.IsToml
            ? node.IsTomlArray
            : node.Value is null && node.Children.All(c => int.TryParse(c.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _));
        if (!isList)
        {
            _errors.Add(node.AtValue($"{node.Key} must be a list, e.g. {example}, not {Describe(node)}"));
            return null;
        }

        return [.. node.Children.OrderBy(c => int.Parse(c.Key, CultureInfo.InvariantCulture))];
    }

    /// <summary>The text of a string value, or null (with an error if present but of another type).</summary>
    public string? String(ConfigNode table, string key, string example)
    {
        var node = Scalar(table, key, TomlValueKind.String, "a string in quotes", $"{key} = \"{example}\"");
        return node?.Value;
    }

    /// <summary>A list element's text; <paramref name="label"/> names it in messages, since its key is only an index.</summary>
    public string? ElementString(ConfigNode node, string label, string example) => Scalar(node, TomlValueKind.String, "a string in quotes", example, label)?.Value;

    public long? Integer(ConfigNode table, string key, long minimum, long maximum, string example)
    {
        var node = Scalar(table, key, TomlValueKind.Integer, "a whole number", $"{key} = {example}");
        return node is null ? null : ElementInteger(node, key, minimum, maximum, $"{key} = {example}");
    }

    /// <summary>A whole number held by <paramref name="node"/> itself (a list element, or a key already looked up).</summary>
    public long? ElementInteger(ConfigNode node, string label, long minimum, long maximum, string example)
    {
        long value;
        if (node.TomlValue is { Value: long l })
        {
            value = l;
        }
        else if (!long.TryParse(node.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            _errors.Add(node.AtValue($"{label} must be a whole number, e.g. {example}; '{node.Value}' is not"));
            return null;
        }

        if (value < minimum || value > maximum)
        {
            _errors.Add(node.AtValue($"{label} {value} is out of range: allowed {minimum} to {maximum}"));
            return null;
        }

        return value;
    }

    public bool? Bool(ConfigNode table, string key)
    {
        var node = Scalar(table, key, TomlValueKind.Boolean, "true or false (no quotes)", $"{key} = true");
        if (node is null)
        {
            return null;
        }

        if (node.TomlValue is { Value: bool b })
        {
            return b;
        }

        if (bool.TryParse(node.Value, out var parsed))
        {
            return parsed;
        }

        _errors.Add(node.AtValue($"{key} must be true or false; '{node.Value}' is not"));
        return null;
    }

    /// <summary>A positive duration such as "300s"; a bare number is refused with the unit it probably meant.</summary>
    public TimeSpan? Duration(ConfigNode table, string key)
    {
        var node = table.Child(key);
        if (node is null)
        {
            return null;
        }

        if (node.TomlValue is { Kind: TomlValueKind.Integer or TomlValueKind.Float })
        {
            _errors.Add(node.AtValue($"{key}: duration '{node.Value}' needs a unit: ms, s, m, h or d (write {key} = \"{node.Value}s\")"));
            return null;
        }

        var text = String(table, key, "300s");
        return text is null ? null : ParseDuration(node, text);
    }

    public TimeSpan? ParseDuration(ConfigNode node, string text)
    {
        if (!ConfigDuration.TryParse(text, out var value, out var error))
        {
            _errors.Add(node.AtValue($"{node.Key}: {error}"));
            return null;
        }

        if (value <= TimeSpan.Zero)
        {
            _errors.Add(node.AtValue($"{node.Key} must be longer than zero"));
            return null;
        }

        return value;
    }

    /// <summary>One of <paramref name="names"/>; the error lists them all.</summary>
    public T? Choice<T>(ConfigNode table, string key, IReadOnlyDictionary<string, T> names, string list)
        where T : struct
    {
        var node = table.Child(key);
        var text = String(table, key, names.Keys.First());
        if (node is null || text is null)
        {
            return null;
        }

        if (names.TryGetValue(text, out var value) || (!node.Origin.IsToml && names.TryGetValue(text.ToLowerInvariant(), out value)))
        {
            return value;
        }

        _errors.Add(node.AtValue($"{key} '{text}' is not one of {list}"));
        return null;
    }

    private ConfigNode? Scalar(ConfigNode table, string key, TomlValueKind kind, string expected, string example)
    {
        var node = table.Child(key);
        return node is null ? null : Scalar(node, kind, expected, example, key);
    }

    private ConfigNode? Scalar(ConfigNode node, TomlValueKind kind, string expected, string example, string label)
    {
        var wrong = node.Origin.IsToml
            ? node.TomlValue is not { } value || value.Kind != kind
            : node.Value is null || node.Children.Count > 0;
        if (wrong)
        {
            _errors.Add(node.AtValue($"{label} must be {expected}, e.g. {example}, not {Describe(node)}"));
            return null;
        }

        return node;
    }

    private static string Describe(ConfigNode node) => node.Origin.Toml switch
    {
        TomlTable => "a table",
        TomlArray => "a list",
        TomlValue { Kind: TomlValueKind.String } v => $"the string \"{v.Value}\"",
        TomlValue { Kind: TomlValueKind.Integer or TomlValueKind.Float } v => $"the number {node.Value}",
        TomlValue { Kind: TomlValueKind.Boolean } => $"{node.Value} (a boolean)",
        TomlValue => $"the date/time {node.Value}",
        _ when node.Children.Count > 0 => "a table or list",
        _ when node.Value is null => "an empty value",
        _ => $"'{node.Value}'",
    };

    /// <summary>"did you mean 'scheduler'?" for a near miss (typo or case), otherwise the allowed keys.</summary>
    internal static string Suggest(string key, IReadOnlyList<string> known)
        => NearestName.Find(key, known) is { } nearest ? $"did you mean '{nearest}'?" : $"allowed keys: {string.Join(", ", known)}";
}
