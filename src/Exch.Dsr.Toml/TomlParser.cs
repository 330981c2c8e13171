using System.Diagnostics.CodeAnalysis;
using System.Text.Unicode;

namespace Exch.Dsr.Toml;

/// <summary>Reads a TOML 1.0.0 document.</summary>
/// <remarks>
/// Every valid document is accepted except date-times .NET cannot hold: year 0000, and offset date-times whose
/// instant falls outside 0001-9999 in UTC; those are reported as errors. Offsets wider than the 14 hours
/// <see cref="DateTimeOffset"/> allows are kept as the same instant in UTC, with <see cref="TomlValue.Text"/>
/// still showing the offset as written. A leap second (:60) is held as :59.9999999. Nesting is capped at 500
/// levels so that no document can overflow the stack of the reader or of code walking the result.
/// </remarks>
public static class TomlParser
{
    /// <summary>Parses <paramref name="text"/>; throws <see cref="TomlException"/> (with line and column) for an invalid document.</summary>
    public static TomlTable Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new TomlReader(text).ReadDocument();
    }

    /// <summary>
    /// Parses a UTF-8 document (an initial byte order mark is allowed). Invalid UTF-8 is reported like any other
    /// syntax error, with the line and column of the offending byte.
    /// </summary>
    public static TomlTable Parse(ReadOnlySpan<byte> utf8) => Parse(DecodeUtf8(utf8));

    /// <summary>Parses <paramref name="text"/>, returning the problem instead of throwing it.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out TomlTable? document, [NotNullWhen(false)] out TomlException? error)
    {
        try
        {
            document = Parse(text);
            error = null;
            return true;
        }
        catch (TomlException e)
        {
            document = null;
            error = e;
            return false;
        }
    }

    /// <summary>Parses a UTF-8 document, returning the problem instead of throwing it.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out TomlTable? document, [NotNullWhen(false)] out TomlException? error)
    {
        try
        {
            document = Parse(utf8);
            error = null;
            return true;
        }
        catch (TomlException e)
        {
            document = null;
            error = e;
            return false;
        }
    }

    private static string DecodeUtf8(ReadOnlySpan<byte> utf8)
    {
        // UTF-16 never needs more code units than UTF-8 needs bytes for the same text.
        var chars = new char[utf8.Length];
        Utf8.ToUtf16(utf8, chars, out var read, out var written, replaceInvalidSequences: false);
        if (read < utf8.Length)
        {
            throw new TomlException(BytePosition(utf8[..read]), $"invalid UTF-8 byte 0x{utf8[read]:X2}");
        }

        return new string(chars, 0, written);
    }

    /// <summary>The position just after <paramref name="validPrefix"/>, counting columns in code points.</summary>
    private static TomlPosition BytePosition(ReadOnlySpan<byte> validPrefix)
    {
        var line = 1;
        var column = 1;
        foreach (var b in validPrefix)
        {
            if (b == (byte)'\n')
            {
                line++;
                column = 1;
            }
            else if ((b & 0xC0) != 0x80)
            {
                column++;
            }
        }

        return new TomlPosition(line, column);
    }
}
