using System.Diagnostics.CodeAnalysis;

namespace Exch.Dsr.Toml;

/// <summary>A 1-based line and column in the source document, so configuration errors can point at it.</summary>
public readonly record struct TomlPosition(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>Any node of a parsed document: a table, an array or a scalar value.</summary>
public abstract class TomlNode
{
    private protected TomlNode(TomlPosition position) => Position = position;

    /// <summary>Where the value starts (for a table: its header, or the first key that created it implicitly).</summary>
    public TomlPosition Position { get; }
}

/// <summary>A table. Keys keep their document order and the position where each key was written.</summary>
public sealed class TomlTable : TomlNode
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, TomlNode> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TomlPosition> _keyPositions = new(StringComparer.Ordinal);

    public TomlTable(TomlPosition position) : base(position) { }

    public int Count => _order.Count;

    public IEnumerable<string> Keys => _order;

    public IEnumerable<KeyValuePair<string, TomlNode>> Entries
    {
        get
        {
            foreach (var key in _order)
            {
                yield return new KeyValuePair<string, TomlNode>(key, _values[key]);
            }
        }
    }

    public TomlNode this[string key] => _values[key];

    public bool ContainsKey(string key) => _values.ContainsKey(key);

    public bool TryGetValue(string key, [NotNullWhen(true)] out TomlNode? value) => _values.TryGetValue(key, out value);

    /// <summary>Where the key itself was written (as opposed to where its value starts).</summary>
    public TomlPosition KeyPosition(string key) => _keyPositions.TryGetValue(key, out var p) ? p : Position;

    /// <summary>Adds a new key; the parser guarantees it is not yet defined.</summary>
    public void Add(string key, TomlNode value, TomlPosition keyPosition)
    {
        _values.Add(key, value);
        _keyPositions.Add(key, keyPosition);
        _order.Add(key);
    }
}

/// <summary>An array, of values or of tables (an array of tables is a <see cref="TomlArray"/> of <see cref="TomlTable"/>).</summary>
public sealed class TomlArray : TomlNode
{
    private readonly List<TomlNode> _items = [];

    public TomlArray(TomlPosition position, bool isArrayOfTables = false) : base(position) => IsArrayOfTables = isArrayOfTables;

    /// <summary>True for arrays declared with <c>[[name]]</c> headers, which may be extended; static arrays may not.</summary>
    public bool IsArrayOfTables { get; }

    public IReadOnlyList<TomlNode> Items => _items;

    public int Count => _items.Count;

    public TomlNode this[int index] => _items[index];

    public void Add(TomlNode item) => _items.Add(item);
}

public enum TomlValueKind
{
    String,
    Integer,
    Float,
    Boolean,
    OffsetDateTime,
    LocalDateTime,
    LocalDate,
    LocalTime,
}

/// <summary>
/// A scalar. <see cref="Value"/> holds: string, long, double, bool, DateTimeOffset (offset date-time),
/// DateTime with Kind Unspecified (local date-time), DateOnly (local date) or TimeOnly (local time).
/// <see cref="Text"/> keeps the date/time as written (normalised to RFC 3339 with 'T' and upper-case letters),
/// because .NET types cannot hold TOML's full fractional-second precision.
/// </summary>
public sealed class TomlValue : TomlNode
{
    public TomlValue(TomlPosition position, TomlValueKind kind, object value, string? text = null) : base(position)
    {
        Kind = kind;
        Value = value;
        Text = text;
    }

    public TomlValueKind Kind { get; }

    public object Value { get; }

    public string? Text { get; }
}

/// <summary>A document that is not valid TOML 1.0.0, with the position of the first problem.</summary>
public sealed class TomlException : Exception
{
    public TomlException(TomlPosition position, string reason) : base($"{position.Line}:{position.Column}: {reason}")
    {
        Position = position;
        Reason = reason;
    }

    public TomlPosition Position { get; }

    /// <summary>The message without the position.</summary>
    public string Reason { get; }
}
