using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Exch.Dsr.Toml;

/// <summary>
/// Writes a document in toml-test's tagged JSON: every scalar becomes <c>{"type": ..., "value": "..."}</c>,
/// arrays become JSON arrays and tables JSON objects. Handy for seeing exactly what a configuration file means.
/// </summary>
public static class TomlTaggedJson
{
    private static readonly JsonWriterOptions IndentedOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The document as indented tagged JSON.</summary>
    public static string Encode(TomlNode document)
    {
        using var stream = new MemoryStream();
        Write(stream, document);
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>Writes the document as indented, UTF-8 tagged JSON to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, TomlNode document)
    {
        ArgumentNullException.ThrowIfNull(document);
        using var writer = new Utf8JsonWriter(stream, IndentedOptions);
        Write(writer, document);
    }

    /// <summary>Writes <paramref name="node"/> (a whole document or any part of one) to <paramref name="writer"/>.</summary>
    public static void Write(Utf8JsonWriter writer, TomlNode node)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(node);
        switch (node)
        {
            case TomlTable table:
                writer.WriteStartObject();
                foreach (var (key, value) in table.Entries)
                {
                    writer.WritePropertyName(key);
                    Write(writer, value);
                }

                writer.WriteEndObject();
                break;
            case TomlArray array:
                writer.WriteStartArray();
                foreach (var item in array.Items)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case TomlValue value:
                writer.WriteStartObject();
                writer.WriteString("type", TypeName(value.Kind));
                writer.WriteString("value", ValueText(value));
                writer.WriteEndObject();
                break;
        }
    }

    private static string TypeName(TomlValueKind kind) => kind switch
    {
        TomlValueKind.String => "string",
        TomlValueKind.Integer => "integer",
        TomlValueKind.Float => "float",
        TomlValueKind.Boolean => "bool",
        TomlValueKind.OffsetDateTime => "datetime",
        TomlValueKind.LocalDateTime => "datetime-local",
        TomlValueKind.LocalDate => "date-local",
        _ => "time-local",
    };

    private static string ValueText(TomlValue value)
    {
        if (value.Text is { } text)
        {
            return text;
        }

        var invariant = CultureInfo.InvariantCulture;
        return value.Value switch
        {
            string s => s,
            long l => l.ToString(invariant),
            double d when double.IsNaN(d) => "nan",
            double d when double.IsPositiveInfinity(d) => "inf",
            double d when double.IsNegativeInfinity(d) => "-inf",
            double d => d.ToString("R", invariant),
            bool b => b ? "true" : "false",
            DateTimeOffset dto => dto.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", invariant),
            DateTime dt => dt.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", invariant),
            DateOnly d => d.ToString("yyyy-MM-dd", invariant),
            TimeOnly t => t.ToString("HH:mm:ss.FFFFFFF", invariant),
            var other => Convert.ToString(other, invariant) ?? string.Empty,
        };
    }
}
