using System.Text;

namespace Exch.Dsr.Toml;

/// <summary>
/// A recursive-descent reader over the whole document held as one string. Positions are kept as character
/// indexes while reading and turned into line:column only where a node or an error needs one.
/// </summary>
internal sealed partial class TomlReader
{
    private const char EndOfInput = '\0';

    // Reading and every consumer of the tree recurse, so hostile input must not nest deep enough to overflow the
    // stack (which no catch survives). Depth counts like JSON: the root is 1, each table or array one more.
    private const int MaxDepth = 500;

    private readonly string _text;
    private readonly int[] _lineStarts;
    private readonly StringBuilder _buffer = new();

    // The model's tables carry no notion of how they were created, yet the redefinition rules depend on it;
    // tables missing from this map were written inline and are frozen.
    private readonly Dictionary<TomlTable, TableOrigin> _origins = [];

    private int _pos;

    /// <summary>The depth of the table being filled.</summary>
    private int _depth = 1;

    // The last position computed, so that many values on one long line do not rescan it from its start each time.
    private int _cachedIndex;
    private int _cachedLine;
    private int _cachedColumn = 1;

    public TomlReader(string text)
    {
        _text = text;
        _lineStarts = FindLineStarts(text);
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            _pos = 1;
        }

        RejectLoneSurrogates();
    }

    private enum TableOrigin
    {
        /// <summary>Created as a parent of a [header]; a later header may still define it.</summary>
        Implicit,

        /// <summary>Defined by its own [header] (or the document root).</summary>
        Header,

        /// <summary>Created by a dotted key; only more dotted keys (and sub-table headers) may add to it.</summary>
        Dotted,
    }

    private bool AtEnd => _pos >= _text.Length;

    private char Current => _pos < _text.Length ? _text[_pos] : EndOfInput;

    public TomlTable ReadDocument()
    {
        var root = new TomlTable(new TomlPosition(1, 1));
        _origins[root] = TableOrigin.Header;
        var current = root;
        while (true)
        {
            SkipWhitespace();
            if (AtEnd)
            {
                return root;
            }

            switch (Current)
            {
                case '#':
                case '\n':
                case '\r':
                    break;
                case '[':
                    current = _pos + 1 < _text.Length && _text[_pos + 1] == '['
                        ? ReadArrayTableHeader(root)
                        : ReadTableHeader(root);
                    break;
                default:
                    ReadKeyValue(current);
                    break;
            }

            ReadEndOfLine();
        }
    }

    private TomlTable ReadTableHeader(TomlTable root)
    {
        var start = _pos;
        _pos++;
        SkipWhitespace();
        var key = ReadKey();
        SkipWhitespace();
        Expect(']', $"expected ']' to close table header [{JoinKey(key)}]");

        var parent = OpenParentTables(root, key, start);
        Deeper(start);
        var last = key[^1];
        if (parent.TryGetValue(last.Name, out var existing))
        {
            if (existing is TomlTable table && _origins.TryGetValue(table, out var origin) && origin == TableOrigin.Implicit)
            {
                _origins[table] = TableOrigin.Header;
                return table;
            }

            throw Error(start, $"cannot define table [{JoinKey(key)}]: {Describe(parent, last.Name, existing)}");
        }

        var created = new TomlTable(PositionOf(start));
        _origins[created] = TableOrigin.Header;
        parent.Add(last.Name, created, last.Position);
        return created;
    }

    private TomlTable ReadArrayTableHeader(TomlTable root)
    {
        var start = _pos;
        _pos += 2;
        SkipWhitespace();
        var key = ReadKey();
        SkipWhitespace();
        if (Current != ']' || _pos + 1 >= _text.Length || _text[_pos + 1] != ']')
        {
            throw Error(_pos, $"expected ']]' to close array of tables header [[{JoinKey(key)}]], found {DescribeCurrent()}");
        }

        _pos += 2;
        var parent = OpenParentTables(root, key, start);
        Deeper(start);
        Deeper(start);
        var last = key[^1];
        TomlArray array;
        if (parent.TryGetValue(last.Name, out var existing))
        {
            if (existing is not TomlArray { IsArrayOfTables: true } tables)
            {
                throw Error(start, $"cannot append to array of tables [[{JoinKey(key)}]]: {Describe(parent, last.Name, existing)}");
            }

            array = tables;
        }
        else
        {
            array = new TomlArray(PositionOf(start), isArrayOfTables: true);
            parent.Add(last.Name, array, last.Position);
        }

        var element = new TomlTable(PositionOf(start));
        _origins[element] = TableOrigin.Header;
        array.Add(element);
        return element;
    }

    /// <summary>Walks (creating implicitly where missing) every table of a header key but the last.</summary>
    private TomlTable OpenParentTables(TomlTable root, List<KeyPart> key, int headerStart)
    {
        var table = root;
        _depth = 1;
        for (var i = 0; i < key.Count - 1; i++)
        {
            var part = key[i];
            Deeper(headerStart);
            if (!table.TryGetValue(part.Name, out var existing))
            {
                var created = new TomlTable(part.Position);
                _origins[created] = TableOrigin.Implicit;
                table.Add(part.Name, created, part.Position);
                table = created;
                continue;
            }

            table = existing switch
            {
                TomlTable sub when _origins.ContainsKey(sub) => sub,

                // A header below an array of tables extends its most recent element, one level further down.
                TomlArray { IsArrayOfTables: true } array => Deeper(headerStart, (TomlTable)array.Items[^1]),
                _ => throw Error(headerStart, $"cannot define table [{JoinKey(key)}]: {Describe(table, part.Name, existing)}"),
            };
        }

        return table;
    }

    private void ReadKeyValue(TomlTable table)
    {
        var keyStart = _pos;
        var key = ReadKey();
        SkipWhitespace();
        if (Current != '=')
        {
            throw Error(_pos, $"expected '=' after key '{JoinKey(key)}', found {DescribeCurrent()}");
        }

        _pos++;
        SkipWhitespace();

        // The target is resolved before the value is read so a duplicate key is reported where it is written.
        var outerDepth = _depth;
        var target = table;
        for (var i = 0; i < key.Count - 1; i++)
        {
            var part = key[i];
            Deeper(keyStart);
            if (!target.TryGetValue(part.Name, out var existing))
            {
                var created = new TomlTable(part.Position);
                _origins[created] = TableOrigin.Dotted;
                target.Add(part.Name, created, part.Position);
                target = created;
            }
            else if (existing is TomlTable sub && _origins.TryGetValue(sub, out var origin) && origin != TableOrigin.Header)
            {
                // A table so far only implied by a header below it is now defined by these dotted keys, so a
                // header of its own can no longer follow.
                _origins[sub] = TableOrigin.Dotted;
                target = sub;
            }
            else
            {
                throw Error(keyStart, $"cannot set key '{JoinKey(key)}': {Describe(target, part.Name, existing)}");
            }
        }

        var last = key[^1];
        if (target.TryGetValue(last.Name, out var duplicate))
        {
            throw Error(keyStart, $"duplicate key '{JoinKey(key)}' (first defined at {target.KeyPosition(last.Name)}{DescribeKind(duplicate)})");
        }

        var value = ReadValue($"a value for key '{JoinKey(key)}'");
        target.Add(last.Name, value, last.Position);
        _depth = outerDepth;
    }

    /// <summary>Reads any value; <paramref name="expected"/> says what was wanted, for the error when none is there.</summary>
    private TomlNode ReadValue(string expected)
    {
        var start = _pos;
        switch (Current)
        {
            case '"':
                return new TomlValue(PositionOf(start), TomlValueKind.String, StartsWith("\"\"\"") ? ReadMultiLineBasicString() : ReadBasicString());
            case '\'':
                return new TomlValue(PositionOf(start), TomlValueKind.String, StartsWith("'''") ? ReadMultiLineLiteralString() : ReadLiteralString());
            case '[':
            case '{':
                Deeper(start);
                TomlNode nested = Current == '[' ? ReadArray() : ReadInlineTable();
                _depth--;
                return nested;
            default:
                if (AtEnd || Current is '\n' or '\r' or '#' or ',' or ']' or '}')
                {
                    throw Error(_pos, $"expected {expected}, found {DescribeCurrent()}");
                }

                return ReadScalar();
        }
    }

    private TomlArray ReadArray()
    {
        var start = _pos;
        var array = new TomlArray(PositionOf(start));
        _pos++;
        while (true)
        {
            SkipWhitespaceCommentsAndNewlines();
            if (AtEnd)
            {
                throw Error(_pos, $"unterminated array (opened at {PositionOf(start)})");
            }

            if (Current == ']')
            {
                _pos++;
                return array;
            }

            array.Add(ReadValue("a value in the array"));
            SkipWhitespaceCommentsAndNewlines();
            switch (Current)
            {
                case ']':
                    _pos++;
                    return array;
                case ',':
                    _pos++;
                    break;
                default:
                    throw AtEnd
                        ? Error(_pos, $"unterminated array (opened at {PositionOf(start)})")
                        : Error(_pos, $"expected ',' or ']' in array, found {DescribeCurrent()}");
            }
        }
    }

    private TomlTable ReadInlineTable()
    {
        var start = _pos;
        var table = new TomlTable(PositionOf(start));
        _pos++;
        SkipWhitespace();
        if (Current == '}')
        {
            _pos++;
            Freeze(table);
            return table;
        }

        while (true)
        {
            if (AtEnd || Current is '\n' or '\r')
            {
                throw Error(_pos, $"unterminated inline table (opened at {PositionOf(start)}); inline tables must be on one line");
            }

            ReadKeyValue(table);
            SkipWhitespace();
            switch (Current)
            {
                case '}':
                    _pos++;
                    Freeze(table);
                    return table;
                case ',':
                    var comma = _pos++;
                    SkipWhitespace();
                    if (Current == '}')
                    {
                        throw Error(comma, "trailing comma is not allowed in an inline table");
                    }

                    break;
                default:
                    throw AtEnd || Current is '\n' or '\r' or '#'
                        ? Error(_pos, $"unterminated inline table (opened at {PositionOf(start)}); inline tables must be on one line")
                        : Error(_pos, $"expected ',' or '}}' in inline table, found {DescribeCurrent()}");
            }
        }
    }

    /// <summary>Once closed, an inline table and every table inside it may no longer be extended.</summary>
    private void Freeze(TomlTable table)
    {
        _origins.Remove(table);
        foreach (var entry in table.Entries)
        {
            if (entry.Value is TomlTable sub)
            {
                Freeze(sub);
            }
        }
    }

    private List<KeyPart> ReadKey()
    {
        var parts = new List<KeyPart>(2);
        while (true)
        {
            var start = _pos;
            string name;
            var c = Current;
            if (IsBareKeyChar(c))
            {
                while (IsBareKeyChar(Current))
                {
                    _pos++;
                }

                name = _text[start.._pos];
            }
            else if (c == '"')
            {
                if (StartsWith("\"\"\""))
                {
                    throw Error(start, "a multi-line string cannot be used as a key");
                }

                name = ReadBasicString();
            }
            else if (c == '\'')
            {
                if (StartsWith("'''"))
                {
                    throw Error(start, "a multi-line string cannot be used as a key");
                }

                name = ReadLiteralString();
            }
            else
            {
                throw Error(_pos, parts.Count == 0
                    ? $"expected a key, found {DescribeCurrent()}"
                    : $"expected a key after '{JoinKey(parts)}.', found {DescribeCurrent()}");
            }

            parts.Add(new KeyPart(name, PositionOf(start)));
            SkipWhitespace();
            if (Current != '.')
            {
                return parts;
            }

            _pos++;
            SkipWhitespace();
        }
    }

    /// <summary>After an expression only whitespace, a comment and a newline (or the end) may follow.</summary>
    private void ReadEndOfLine()
    {
        SkipWhitespace();
        if (Current == '#')
        {
            SkipComment();
        }

        if (AtEnd)
        {
            return;
        }

        if (Current == '\n')
        {
            _pos++;
            return;
        }

        if (Current == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
        {
            _pos += 2;
            return;
        }

        throw Current == '\r'
            ? Error(_pos, "a carriage return must be followed by a line feed")
            : Error(_pos, $"expected the end of the line, found {DescribeCurrent()}");
    }

    private void SkipWhitespace()
    {
        while (_pos < _text.Length && _text[_pos] is ' ' or '\t')
        {
            _pos++;
        }
    }

    private void SkipWhitespaceCommentsAndNewlines()
    {
        while (true)
        {
            SkipWhitespace();
            switch (Current)
            {
                case '#':
                    SkipComment();
                    break;
                case '\n':
                    _pos++;
                    break;
                case '\r' when _pos + 1 < _text.Length && _text[_pos + 1] == '\n':
                    _pos += 2;
                    break;
                case '\r':
                    throw Error(_pos, "a carriage return must be followed by a line feed");
                default:
                    return;
            }
        }
    }

    /// <summary>Skips a comment up to (not including) its line ending, rejecting control characters in it.</summary>
    private void SkipComment()
    {
        _pos++;
        while (_pos < _text.Length)
        {
            var c = _text[_pos];
            if (c == '\n' || (c == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n'))
            {
                return;
            }

            if (IsForbiddenControl(c))
            {
                throw Error(_pos, $"control character {CharName(c)} is not allowed in a comment");
            }

            _pos++;
        }
    }

    private void Expect(char c, string message)
    {
        if (Current != c || AtEnd)
        {
            throw Error(_pos, $"{message}, found {DescribeCurrent()}");
        }

        _pos++;
    }

    private void Deeper(int index)
    {
        if (++_depth > MaxDepth)
        {
            throw Error(index, $"tables and arrays are nested more than {MaxDepth} levels deep");
        }
    }

    private T Deeper<T>(int index, T node)
    {
        Deeper(index);
        return node;
    }

    private bool StartsWith(string s) => _text.AsSpan(_pos).StartsWith(s, StringComparison.Ordinal);

    private static bool IsBareKeyChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    /// <summary>Control characters other than tab; line endings are handled by the callers.</summary>
    private static bool IsForbiddenControl(char c) => (c < 0x20 && c != '\t') || c == 0x7F;

    private static string CharName(char c) => $"U+{(int)c:X4}";

    private string DescribeCurrent()
    {
        if (AtEnd)
        {
            return "end of file";
        }

        var c = _text[_pos];
        return c switch
        {
            '\n' or '\r' => "end of line",
            _ when char.IsControl(c) || char.IsWhiteSpace(c) || char.IsSurrogate(c) || c == '\uFEFF' => CharName(c),
            _ => $"'{c}'",
        };
    }

    private static string DescribeKind(TomlNode node) => node switch
    {
        TomlTable => ", as a table",
        TomlArray => ", as an array",
        _ => string.Empty,
    };

    /// <summary>Explains why <paramref name="key"/> of <paramref name="parent"/> cannot be used the way it was.</summary>
    private string Describe(TomlTable parent, string key, TomlNode existing)
    {
        var where = parent.KeyPosition(key);
        return existing switch
        {
            TomlTable table when !_origins.ContainsKey(table) => $"'{key}' is an inline table (at {where}), which cannot be extended",
            TomlTable table when _origins[table] == TableOrigin.Dotted => $"'{key}' was already defined by dotted keys at {where}",
            TomlTable => $"'{key}' was already defined as a table at {existing.Position}",
            TomlArray { IsArrayOfTables: true } => $"'{key}' is already an array of tables (at {where})",
            TomlArray => $"'{key}' is already a static array (at {where}), which cannot be extended",
            TomlValue value => $"'{key}' is already {KindName(value.Kind)} (at {where})",
            _ => $"'{key}' is already defined at {where}",
        };
    }

    private static string KindName(TomlValueKind kind) => kind switch
    {
        TomlValueKind.String => "a string",
        TomlValueKind.Integer => "an integer",
        TomlValueKind.Float => "a float",
        TomlValueKind.Boolean => "a boolean",
        TomlValueKind.OffsetDateTime => "an offset date-time",
        TomlValueKind.LocalDateTime => "a local date-time",
        TomlValueKind.LocalDate => "a local date",
        _ => "a local time",
    };

    /// <summary>The key as it could be written back, for messages.</summary>
    private static string JoinKey(List<KeyPart> key)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < key.Count; i++)
        {
            if (i > 0)
            {
                sb.Append('.');
            }

            var name = key[i].Name;
            var bare = name.Length > 0;
            foreach (var c in name)
            {
                bare &= IsBareKeyChar(c);
            }

            if (bare)
            {
                sb.Append(name);
            }
            else
            {
                sb.Append('"').Append(name.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
            }
        }

        return sb.ToString();
    }

    private TomlException Error(int index, string message) => new(PositionOf(index), message);

    private TomlPosition PositionOf(int index)
    {
        index = Math.Min(index, _text.Length);
        int line;
        int column;
        var from = _cachedIndex;
        if (index >= _cachedIndex && (_cachedLine + 1 >= _lineStarts.Length || index < _lineStarts[_cachedLine + 1]))
        {
            line = _cachedLine;
            column = _cachedColumn;
        }
        else
        {
            line = Array.BinarySearch(_lineStarts, index);
            if (line < 0)
            {
                line = ~line - 1;
            }

            from = _lineStarts[line];
            column = 1;
        }

        for (var i = from; i < index; i++)
        {
            // Columns count code points, so the second half of a surrogate pair adds nothing.
            if (!char.IsLowSurrogate(_text[i]) || i == 0 || !char.IsHighSurrogate(_text[i - 1]))
            {
                column++;
            }
        }

        _cachedIndex = index;
        _cachedLine = line;
        _cachedColumn = column;
        return new TomlPosition(line + 1, column);
    }

    private static int[] FindLineStarts(string text)
    {
        var starts = new List<int> { 0 };
        var index = text.IndexOf('\n');
        while (index >= 0)
        {
            starts.Add(index + 1);
            index = text.IndexOf('\n', index + 1);
        }

        return [.. starts];
    }

    private void RejectLoneSurrogates()
    {
        var span = _text.AsSpan();
        var i = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0 && i < span.Length)
        {
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i += 2;
            }
            else if (char.IsSurrogate(span[i]))
            {
                throw Error(i, $"unpaired surrogate {CharName(span[i])} is not valid Unicode");
            }
            else
            {
                i++;
            }
        }
    }

    private readonly record struct KeyPart(string Name, TomlPosition Position);
}
