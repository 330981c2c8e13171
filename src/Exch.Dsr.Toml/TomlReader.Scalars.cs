using System.Globalization;

namespace Exch.Dsr.Toml;

internal sealed partial class TomlReader
{
    private static readonly TimeSpan MaxDateTimeOffsetOffset = TimeSpan.FromHours(14);

    /// <summary>Reads a boolean, number or date/time: the token is cut out first, then classified and checked.</summary>
    private TomlValue ReadScalar()
    {
        var start = _pos;
        while (IsScalarChar(Current))
        {
            _pos++;
        }

        // A space may separate a date from its time, yet it ends every other value.
        if (_pos - start == 10 && IsDateShaped(_text.AsSpan(start, 10))
            && Current == ' ' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1]))
        {
            _pos++;
            while (IsScalarChar(Current))
            {
                _pos++;
            }
        }

        var token = _text.AsSpan(start, _pos - start);
        if (token.IsEmpty)
        {
            throw Error(start, $"expected a value, found {DescribeCurrent()}");
        }

        var position = PositionOf(start);
        switch (token)
        {
            case "true":
                return new TomlValue(position, TomlValueKind.Boolean, true);
            case "false":
                return new TomlValue(position, TomlValueKind.Boolean, false);
            case "inf" or "+inf":
                return new TomlValue(position, TomlValueKind.Float, double.PositiveInfinity);
            case "-inf":
                return new TomlValue(position, TomlValueKind.Float, double.NegativeInfinity);
            case "nan" or "+nan" or "-nan":
                return new TomlValue(position, TomlValueKind.Float, double.NaN);
        }

        if (token.Length >= 5 && char.IsAsciiDigit(token[0]) && char.IsAsciiDigit(token[1])
            && char.IsAsciiDigit(token[2]) && char.IsAsciiDigit(token[3]) && token[4] == '-')
        {
            return ReadDateOrDateTime(token, start);
        }

        if (token.Length >= 3 && char.IsAsciiDigit(token[0]) && char.IsAsciiDigit(token[1]) && token[2] == ':')
        {
            return ReadLocalTime(token, start);
        }

        if (!char.IsAsciiDigit(token[0]) && token[0] is not ('+' or '-' or '.'))
        {
            throw Error(start, $"invalid value '{token}' (strings must be quoted)");
        }

        return ReadNumber(token, start);
    }

    private TomlValue ReadNumber(ReadOnlySpan<char> token, int start)
    {
        var body = token;
        var hasSign = body[0] is '+' or '-';
        var negative = body[0] == '-';
        if (hasSign)
        {
            body = body[1..];
        }

        if (body.Length >= 2 && body[0] == '0' && body[1] is 'x' or 'o' or 'b')
        {
            var (radix, name) = body[1] switch
            {
                'x' => (16, "hexadecimal"),
                'o' => (8, "octal"),
                _ => (2, "binary"),
            };
            if (hasSign)
            {
                throw Error(start, $"invalid integer '{token}': a {name} integer cannot have a sign");
            }

            return ReadInteger(token, body[2..], radix, negative: false, start);
        }

        if (body.ContainsAny('.', 'e', 'E'))
        {
            return ReadFloat(token, body, start);
        }

        if (body.Length > 1 && body[0] == '0')
        {
            throw Error(start, $"invalid integer '{token}': leading zeros are not allowed");
        }

        return ReadInteger(token, body, 10, negative, start);
    }

    private TomlValue ReadInteger(ReadOnlySpan<char> token, ReadOnlySpan<char> digits, int radix, bool negative, int start)
    {
        if (DigitsProblem(digits, radix) is { } problem)
        {
            throw Error(start, $"invalid integer '{token}': {problem}");
        }

        // Accumulate the magnitude so that -9223372036854775808 (one past long.MaxValue) still fits.
        var limit = negative ? (ulong)long.MaxValue + 1 : long.MaxValue;
        ulong magnitude = 0;
        foreach (var c in digits)
        {
            if (c == '_')
            {
                continue;
            }

            var digit = (ulong)HexValue(c);
            if (magnitude > (limit - digit) / (ulong)radix)
            {
                throw Error(start, $"integer {token} does not fit in 64 bits");
            }

            magnitude = (magnitude * (ulong)radix) + digit;
        }

        var value = negative ? (long)(0 - magnitude) : (long)magnitude;
        return new TomlValue(PositionOf(start), TomlValueKind.Integer, value);
    }

    private TomlValue ReadFloat(ReadOnlySpan<char> token, ReadOnlySpan<char> body, int start)
    {
        var intEnd = body.IndexOfAny('.', 'e', 'E');
        var integer = body[..intEnd];
        if (DigitsProblem(integer, 10) is { } intProblem)
        {
            throw Error(start, $"invalid float '{token}': integer part {intProblem}");
        }

        if (integer.Length > 1 && integer[0] == '0')
        {
            throw Error(start, $"invalid float '{token}': leading zeros are not allowed");
        }

        var rest = body[intEnd..];
        if (rest[0] == '.')
        {
            var fractionEnd = rest.IndexOfAny('e', 'E');
            var fraction = fractionEnd < 0 ? rest[1..] : rest[1..fractionEnd];
            if (DigitsProblem(fraction, 10) is { } fractionProblem)
            {
                throw Error(start, $"invalid float '{token}': fractional part {fractionProblem}");
            }

            rest = fractionEnd < 0 ? [] : rest[fractionEnd..];
        }

        if (!rest.IsEmpty)
        {
            var exponent = rest[1..];
            if (!exponent.IsEmpty && exponent[0] is '+' or '-')
            {
                exponent = exponent[1..];
            }

            if (DigitsProblem(exponent, 10) is { } exponentProblem)
            {
                throw Error(start, $"invalid float '{token}': exponent {exponentProblem}");
            }
        }

        // A pathological token must not exhaust the stack.
        var clean = token.Length <= 128 ? stackalloc char[token.Length] : new char[token.Length];
        var length = 0;
        foreach (var c in token)
        {
            if (c != '_')
            {
                clean[length++] = c;
            }
        }

        if (!double.TryParse(clean[..length], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || double.IsInfinity(value))
        {
            throw Error(start, $"float {token} is out of range for a 64-bit float");
        }

        return new TomlValue(PositionOf(start), TomlValueKind.Float, value);
    }

    /// <summary>Why a run of digits with optional single underscores between them is malformed, or null if it is fine.</summary>
    private static string? DigitsProblem(ReadOnlySpan<char> digits, int radix)
    {
        if (digits.IsEmpty)
        {
            return "has no digits";
        }

        for (var i = 0; i < digits.Length; i++)
        {
            var c = digits[i];
            if (c == '_')
            {
                if (i == 0 || i == digits.Length - 1 || digits[i + 1] == '_')
                {
                    return "has an underscore that is not between two digits";
                }
            }
            else if (HexValue(c) >= radix)
            {
                return $"has '{c}', which is not a {(radix == 10 ? "decimal" : $"base-{radix}")} digit";
            }
        }

        return null;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => int.MaxValue,
    };

    private TomlValue ReadDateOrDateTime(ReadOnlySpan<char> token, int start)
    {
        var position = PositionOf(start);
        if (token.Length < 10 || !IsDateShaped(token[..10]))
        {
            throw Error(start, $"invalid date '{token}': expected YYYY-MM-DD");
        }

        var year = TwoDigits(token, 0) * 100 + TwoDigits(token, 2);
        var month = TwoDigits(token, 5);
        var day = TwoDigits(token, 8);
        if (month is < 1 or > 12)
        {
            throw Error(start, $"invalid date '{token}': month {month} does not exist");
        }

        if (day < 1 || day > DaysInMonth(year, month))
        {
            throw Error(start, $"invalid date '{token}': {token[..7]} has no day {day}");
        }

        if (year == 0)
        {
            throw Error(start, $"date '{token}' is not supported: years start at 0001 here");
        }

        if (token.Length == 10)
        {
            return new TomlValue(position, TomlValueKind.LocalDate, new DateOnly(year, month, day), token.ToString());
        }

        if (token[10] is not ('T' or 't' or ' '))
        {
            throw Error(start, $"invalid date-time '{token}': expected 'T' or a space between the date and the time");
        }

        var i = 11;
        var timeTicks = ReadTime(token, ref i, start);
        var local = new DateTime(year, month, day).AddTicks(timeTicks);
        var text = NormaliseDateTime(token);
        if (i == token.Length)
        {
            return new TomlValue(position, TomlValueKind.LocalDateTime, local, text);
        }

        TimeSpan offset;
        if (token[i] is 'Z' or 'z' && i + 1 == token.Length)
        {
            offset = TimeSpan.Zero;
        }
        else if (token[i] is '+' or '-' && i + 6 == token.Length && IsTwoDigits(token, i + 1) && token[i + 3] == ':' && IsTwoDigits(token, i + 4))
        {
            var hours = TwoDigits(token, i + 1);
            var minutes = TwoDigits(token, i + 4);
            if (hours > 23 || minutes > 59)
            {
                throw Error(start, $"invalid date-time '{token}': offset {token[i..]} is out of range");
            }

            offset = new TimeSpan(hours, minutes, 0);
            if (token[i] == '-')
            {
                offset = -offset;
            }
        }
        else
        {
            throw Error(start, $"invalid date-time '{token}': expected 'Z' or an offset like +01:00 after the time");
        }

        var utcTicks = local.Ticks - offset.Ticks;
        if (utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
        {
            throw Error(start, $"date-time '{token}' is not supported: it falls outside years 0001-9999 in UTC");
        }

        // DateTimeOffset only holds offsets up to 14 hours; wider (valid RFC 3339) offsets keep the instant in UTC,
        // while Text still shows the offset as written.
        var value = offset.Duration() <= MaxDateTimeOffsetOffset
            ? new DateTimeOffset(local, offset)
            : new DateTimeOffset(utcTicks, TimeSpan.Zero);
        return new TomlValue(position, TomlValueKind.OffsetDateTime, value, text);
    }

    private TomlValue ReadLocalTime(ReadOnlySpan<char> token, int start)
    {
        var i = 0;
        var ticks = ReadTime(token, ref i, start);
        if (i != token.Length)
        {
            throw Error(start, $"invalid time '{token}': unexpected '{token[i]}' after the time");
        }

        return new TomlValue(PositionOf(start), TomlValueKind.LocalTime, new TimeOnly(ticks), token.ToString());
    }

    /// <summary>
    /// Reads HH:MM:SS with optional fractional seconds and returns the time of day in ticks. Digits beyond the
    /// 100 ns tick are dropped, and a leap second (60) is held as 59.9999999 since .NET has no such second.
    /// </summary>
    private long ReadTime(ReadOnlySpan<char> token, ref int i, int start)
    {
        if (!(IsTwoDigits(token, i) && i + 2 < token.Length && token[i + 2] == ':' && IsTwoDigits(token, i + 3)
            && i + 5 < token.Length && token[i + 5] == ':' && IsTwoDigits(token, i + 6)))
        {
            throw Error(start, $"invalid time in '{token}': expected HH:MM:SS");
        }

        var hour = TwoDigits(token, i);
        var minute = TwoDigits(token, i + 3);
        var second = TwoDigits(token, i + 6);
        if (hour > 23 || minute > 59 || second > 60)
        {
            throw Error(start, $"invalid time in '{token}': {token.Slice(i, 8)} is out of range");
        }

        i += 8;
        long fractionTicks = 0;
        if (i < token.Length && token[i] == '.')
        {
            i++;
            var digitsStart = i;
            while (i < token.Length && char.IsAsciiDigit(token[i]))
            {
                if (i - digitsStart < 7)
                {
                    fractionTicks = (fractionTicks * 10) + (token[i] - '0');
                }

                i++;
            }

            var digitCount = i - digitsStart;
            if (digitCount == 0)
            {
                throw Error(start, $"invalid time in '{token}': expected digits after the decimal point");
            }

            for (var d = digitCount; d < 7; d++)
            {
                fractionTicks *= 10;
            }
        }

        if (second == 60)
        {
            return new TimeSpan(hour, minute, 59).Ticks + TimeSpan.TicksPerSecond - 1;
        }

        return new TimeSpan(hour, minute, second).Ticks + fractionTicks;
    }

    private static string NormaliseDateTime(ReadOnlySpan<char> token)
    {
        var text = token.ToArray();
        for (var i = 0; i < text.Length; i++)
        {
            text[i] = text[i] switch
            {
                't' or ' ' => 'T',
                'z' => 'Z',
                var c => c,
            };
        }

        return new string(text);
    }

    private static bool IsDateShaped(ReadOnlySpan<char> s) =>
        s.Length == 10 && IsTwoDigits(s, 0) && IsTwoDigits(s, 2) && s[4] == '-' && IsTwoDigits(s, 5) && s[7] == '-' && IsTwoDigits(s, 8);

    private static bool IsTwoDigits(ReadOnlySpan<char> s, int i) =>
        i + 1 < s.Length && char.IsAsciiDigit(s[i]) && char.IsAsciiDigit(s[i + 1]);

    private static int TwoDigits(ReadOnlySpan<char> s, int i) => ((s[i] - '0') * 10) + (s[i + 1] - '0');

    private static int DaysInMonth(int year, int month) => month switch
    {
        2 => (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28,
        4 or 6 or 9 or 11 => 30,
        _ => 31,
    };

    private static bool IsScalarChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-' or '.' or ':';
}
