using System.Globalization;
using System.Text;

namespace Exch.Dsr.Toml;

internal sealed partial class TomlReader
{
    private string ReadBasicString()
    {
        _pos++;
        _buffer.Clear();
        while (true)
        {
            var runStart = _pos;
            while (_pos < _text.Length && _text[_pos] is not ('"' or '\\') && !char.IsControl(_text[_pos]))
            {
                _pos++;
            }

            _buffer.Append(_text, runStart, _pos - runStart);
            var c = Current;
            if (AtEnd || c is '\n' or '\r')
            {
                throw Error(_pos, "unterminated string: expected '\"' before the end of the line");
            }

            switch (c)
            {
                case '"':
                    _pos++;
                    return _buffer.ToString();
                case '\\':
                    ReadEscape();
                    break;
                default:
                    RejectControlInString(c);
                    _buffer.Append(c);
                    _pos++;
                    break;
            }
        }
    }

    private string ReadMultiLineBasicString()
    {
        var start = _pos;
        _pos += 3;
        SkipNewlineAfterOpeningDelimiter();
        _buffer.Clear();
        while (true)
        {
            var runStart = _pos;
            while (_pos < _text.Length && _text[_pos] is not ('"' or '\\') && !char.IsControl(_text[_pos]))
            {
                _pos++;
            }

            _buffer.Append(_text, runStart, _pos - runStart);
            if (AtEnd)
            {
                throw Error(start, "unterminated multi-line string: no closing '\"\"\"'");
            }

            var c = _text[_pos];
            switch (c)
            {
                case '"':
                    if (ReadQuotesOrClose('"'))
                    {
                        return _buffer.ToString();
                    }

                    break;
                case '\\':
                    if (IsLineEndingBackslash())
                    {
                        _pos++;
                        SkipWhitespaceAndNewlinesInString();
                    }
                    else
                    {
                        ReadEscape();
                    }

                    break;
                default:
                    ReadMultiLineControl(c);
                    break;
            }
        }
    }

    private string ReadLiteralString()
    {
        var start = ++_pos;
        while (_pos < _text.Length && _text[_pos] != '\'')
        {
            var c = _text[_pos];
            if (c is '\n' or '\r')
            {
                break;
            }

            RejectControlInString(c);
            _pos++;
        }

        if (AtEnd || Current != '\'')
        {
            throw Error(_pos, "unterminated literal string: expected \"'\" before the end of the line");
        }

        return _text[start.._pos++];
    }

    private string ReadMultiLineLiteralString()
    {
        var start = _pos;
        _pos += 3;
        SkipNewlineAfterOpeningDelimiter();
        _buffer.Clear();
        while (true)
        {
            var runStart = _pos;
            while (_pos < _text.Length && _text[_pos] != '\'' && !char.IsControl(_text[_pos]))
            {
                _pos++;
            }

            _buffer.Append(_text, runStart, _pos - runStart);
            if (AtEnd)
            {
                throw Error(start, "unterminated multi-line literal string: no closing \"'''\"");
            }

            var c = _text[_pos];
            if (c == '\'')
            {
                if (ReadQuotesOrClose('\''))
                {
                    return _buffer.ToString();
                }
            }
            else
            {
                ReadMultiLineControl(c);
            }
        }
    }

    /// <summary>
    /// Reads a run of quotes inside a multi-line string. Three or more close it, and up to two of them may still
    /// belong to the content ("""a"""" is 'a"'); six or more cannot be read either way.
    /// </summary>
    private bool ReadQuotesOrClose(char quote)
    {
        var runStart = _pos;
        while (_pos < _text.Length && _text[_pos] == quote)
        {
            _pos++;
        }

        var count = _pos - runStart;
        if (count < 3)
        {
            _buffer.Append(quote, count);
            return false;
        }

        if (count > 5)
        {
            throw Error(runStart + 5, $"too many {quote} characters: a multi-line string may hold at most two in a row");
        }

        _buffer.Append(quote, count - 3);
        return true;
    }

    /// <summary>Handles the characters that stop the fast scan of a multi-line string: tabs, line endings, controls.</summary>
    private void ReadMultiLineControl(char c)
    {
        switch (c)
        {
            case '\t':
            case '\n':
                _buffer.Append(c);
                _pos++;
                break;
            case '\r' when _pos + 1 < _text.Length && _text[_pos + 1] == '\n':
                // Line endings inside values are normalised so a CRLF checkout reads the same as an LF one.
                _buffer.Append('\n');
                _pos += 2;
                break;
            case '\r':
                throw Error(_pos, "a carriage return must be followed by a line feed");
            default:
                RejectControlInString(c);
                _buffer.Append(c);
                _pos++;
                break;
        }
    }

    private void SkipNewlineAfterOpeningDelimiter()
    {
        if (Current == '\n')
        {
            _pos++;
        }
        else if (Current == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
        {
            _pos += 2;
        }
    }

    /// <summary>True when the backslash at the cursor is followed only by whitespace up to the end of the line.</summary>
    private bool IsLineEndingBackslash()
    {
        var i = _pos + 1;
        while (i < _text.Length && _text[i] is ' ' or '\t')
        {
            i++;
        }

        return i < _text.Length && (_text[i] == '\n' || (_text[i] == '\r' && i + 1 < _text.Length && _text[i + 1] == '\n'));
    }

    private void SkipWhitespaceAndNewlinesInString()
    {
        while (_pos < _text.Length)
        {
            var c = _text[_pos];
            if (c is ' ' or '\t' or '\n')
            {
                _pos++;
            }
            else if (c == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
            {
                _pos += 2;
            }
            else
            {
                return;
            }
        }
    }

    private void ReadEscape()
    {
        var start = _pos;
        _pos++;
        if (AtEnd)
        {
            throw Error(start, "unterminated escape sequence at the end of the file");
        }

        var c = _text[_pos++];
        switch (c)
        {
            case 'b': _buffer.Append('\b'); break;
            case 't': _buffer.Append('\t'); break;
            case 'n': _buffer.Append('\n'); break;
            case 'f': _buffer.Append('\f'); break;
            case 'r': _buffer.Append('\r'); break;
            case '"': _buffer.Append('"'); break;
            case '\\': _buffer.Append('\\'); break;
            case 'u': AppendCodePoint(start, 4); break;
            case 'U': AppendCodePoint(start, 8); break;
            default:
                throw Error(start, c is '\n' or '\r'
                    ? "a backslash at the end of a line is only allowed in a multi-line basic string"
                    : $"invalid escape sequence '\\{(char.IsControl(c) || char.IsWhiteSpace(c) ? CharName(c) : c)}'");
        }
    }

    private void AppendCodePoint(int escapeStart, int digits)
    {
        var end = _pos + digits;
        var hex = _text.AsSpan(_pos, Math.Min(digits, _text.Length - _pos));
        if (hex.Length != digits || !int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(escapeStart, $"escape sequence '\\{_text[_pos - 1]}' needs exactly {digits} hexadecimal digits");
        }

        if (!Rune.IsValid(value))
        {
            throw Error(escapeStart, $"escape sequence '\\{_text[_pos - 1]}{hex}' is not a Unicode scalar value");
        }

        _buffer.Append(new Rune(value).ToString());
        _pos = end;
    }

    private void RejectControlInString(char c)
    {
        if (IsForbiddenControl(c))
        {
            throw Error(_pos, $"control character {CharName(c)} must be escaped in a string");
        }
    }
}
