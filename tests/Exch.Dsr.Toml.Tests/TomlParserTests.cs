using System.Text;

namespace Exch.Dsr.Toml.Tests;

[TestFixture]
public sealed class TomlParserTests
{
    [Test]
    public void Values_carry_their_kind_and_dotnet_value()
    {
        var doc = TomlParser.Parse("""
            s = "tab\tand \u00e9 \U0001F600"
            lit = 'C:\path'
            ml = '''
            raw\n'''
            i = -9_223_372_036_854_775_808
            hex = 0xDEAD_beef
            oct = 0o755
            bin = 0b1010
            f = 6.626e-34
            ninf = -inf
            nan = -nan
            b = true
            odt = 1979-05-27 07:32:00.123456789-07:00
            ldt = 1979-05-27T07:32:00
            ld = 1979-05-27
            lt = 23:59:60.5
            """);

        Assert.Multiple(() =>
        {
            Assert.That(Scalar(doc, "s"), Is.EqualTo("tab\tand é 😀"));
            Assert.That(Scalar(doc, "lit"), Is.EqualTo(@"C:\path"));
            Assert.That(Scalar(doc, "ml"), Is.EqualTo("raw\\n"));
            Assert.That(Scalar(doc, "i"), Is.EqualTo(long.MinValue));
            Assert.That(Scalar(doc, "hex"), Is.EqualTo(0xDEADBEEFL));
            Assert.That(Scalar(doc, "oct"), Is.EqualTo(493L));
            Assert.That(Scalar(doc, "bin"), Is.EqualTo(10L));
            Assert.That(Scalar(doc, "f"), Is.EqualTo(6.626e-34));
            Assert.That(Scalar(doc, "ninf"), Is.EqualTo(double.NegativeInfinity));
            Assert.That(double.IsNaN((double)Scalar(doc, "nan")), Is.True);
            Assert.That(Scalar(doc, "b"), Is.EqualTo(true));

            var odt = (TomlValue)doc["odt"];
            Assert.That(odt.Kind, Is.EqualTo(TomlValueKind.OffsetDateTime));
            Assert.That(odt.Value, Is.EqualTo(new DateTimeOffset(1979, 5, 27, 7, 32, 0, TimeSpan.FromHours(-7)).AddTicks(1234567)));
            Assert.That(odt.Text, Is.EqualTo("1979-05-27T07:32:00.123456789-07:00"));

            var ldt = (TomlValue)doc["ldt"];
            Assert.That(ldt.Kind, Is.EqualTo(TomlValueKind.LocalDateTime));
            Assert.That(ldt.Value, Is.EqualTo(new DateTime(1979, 5, 27, 7, 32, 0, DateTimeKind.Unspecified)));
            Assert.That(((DateTime)ldt.Value).Kind, Is.EqualTo(DateTimeKind.Unspecified));

            Assert.That(Scalar(doc, "ld"), Is.EqualTo(new DateOnly(1979, 5, 27)));
            Assert.That(((TomlValue)doc["lt"]).Text, Is.EqualTo("23:59:60.5"));
            Assert.That(Scalar(doc, "lt"), Is.EqualTo(new TimeOnly(23, 59, 59).Add(TimeSpan.FromTicks(TimeSpan.TicksPerSecond - 1))));
        });
    }

    [Test]
    public void Keys_and_values_record_where_they_were_written()
    {
        var doc = TomlParser.Parse("""
            # comment
            name = "lb"

            [servers."web 1"]
              port =   8080
              tags = [ "a",
                       "b" ]
            [[pool]]
            x.y = { z = 1 }
            """);

        Assert.Multiple(() =>
        {
            Assert.That(doc.KeyPosition("name"), Is.EqualTo(new TomlPosition(2, 1)));
            Assert.That(doc["name"].Position, Is.EqualTo(new TomlPosition(2, 8)));

            var servers = (TomlTable)doc["servers"];
            Assert.That(doc.KeyPosition("servers"), Is.EqualTo(new TomlPosition(4, 2)));
            Assert.That(servers.KeyPosition("web 1"), Is.EqualTo(new TomlPosition(4, 10)));

            var web = (TomlTable)servers["web 1"];
            Assert.That(web.Position, Is.EqualTo(new TomlPosition(4, 1)), "a table defined by a header starts at its '['");
            Assert.That(web.KeyPosition("port"), Is.EqualTo(new TomlPosition(5, 3)));
            Assert.That(web["port"].Position, Is.EqualTo(new TomlPosition(5, 12)));
            var tags = (TomlArray)web["tags"];
            Assert.That(tags.Position, Is.EqualTo(new TomlPosition(6, 10)));
            Assert.That(tags[1].Position, Is.EqualTo(new TomlPosition(7, 12)));

            var pool = (TomlArray)doc["pool"];
            Assert.That(pool.IsArrayOfTables, Is.True);
            var element = (TomlTable)pool[0];
            var x = (TomlTable)element["x"];
            Assert.That(element.KeyPosition("x"), Is.EqualTo(new TomlPosition(9, 1)));
            Assert.That(x.KeyPosition("y"), Is.EqualTo(new TomlPosition(9, 3)));
            Assert.That(x["y"].Position, Is.EqualTo(new TomlPosition(9, 7)));
            Assert.That(((TomlTable)x["y"]).KeyPosition("z"), Is.EqualTo(new TomlPosition(9, 9)));
        });
    }

    [Test]
    public void Columns_count_code_points_not_utf16_units()
    {
        var error = Assert.Throws<TomlException>(() => TomlParser.Parse("k = \"😀😀\" x"));
        Assert.That(error!.Position, Is.EqualTo(new TomlPosition(1, 10)));
    }

    [Test]
    public void Keys_keep_document_order()
    {
        var doc = TomlParser.Parse("z = 1\na = 2\nm.k = 3\n[b]\n");
        string[] expected = ["z", "a", "m", "b"];
        Assert.That(doc.Keys, Is.EqualTo(expected));
    }

    [Test]
    public void Tables_may_be_defined_after_their_subtables_and_extended_by_headers_below_dotted_keys()
    {
        var doc = TomlParser.Parse("""
            [a.b.c]
            x = 1
            [a]
            y = 2
            [fruit]
            apple.color = "red"
            [fruit.apple.texture]
            smooth = true
            """);
        Assert.That(((TomlTable)((TomlTable)((TomlTable)doc["fruit"])["apple"])["texture"]).ContainsKey("smooth"), Is.True);
        Assert.That(((TomlTable)doc["a"]).ContainsKey("y"), Is.True);
    }

    [Test]
    public void Dotted_keys_may_define_a_table_only_implied_by_a_header_which_then_cannot_get_a_header()
    {
        const string toml = "[a.b.c]\n[a]\nb.d = 1\n";
        var b = (TomlTable)((TomlTable)TomlParser.Parse(toml)["a"])["b"];
        Assert.That(b.Keys, Is.EqualTo(new List<string> { "c", "d" }));

        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(toml + "[a.b]\n"));
        Assert.That(error!.Message, Is.EqualTo("4:1: cannot define table [a.b]: 'b' was already defined by dotted keys at 1:4"));
    }

    [TestCase("name = \"x\"\nname = \"y\"", 2, 1, "duplicate key 'name' (first defined at 1:1)")]
    [TestCase("[server]\nport = 1\n\n[server]", 4, 1, "cannot define table [server]: 'server' was already defined as a table at 1:1")]
    [TestCase("a.b = 1\n[a]", 2, 1, "'a' was already defined by dotted keys at 1:1")]
    [TestCase("[a.b]\n[a]\nb.c = 1", 3, 1, "cannot set key 'b.c'")]
    [TestCase("a = {x = 1}\na.y = 2", 2, 1, "'a' is an inline table (at 1:1), which cannot be extended")]
    [TestCase("a = {x = 1}\n[a.b]", 2, 1, "'a' is an inline table")]
    [TestCase("a = [1]\n[[a]]", 2, 1, "'a' is already a static array (at 1:1)")]
    [TestCase("[[a]]\n[a]", 2, 1, "'a' is already an array of tables")]
    [TestCase("a = 1\n[a.b]", 2, 1, "'a' is already an integer (at 1:1)")]
    [TestCase("key \"value\"", 1, 5, "expected '=' after key 'key', found '\"'")]
    [TestCase("a =\n1", 1, 4, "expected a value for key 'a', found end of line")]
    [TestCase("a = [1,,2]", 1, 8, "expected a value in the array, found ','")]
    [TestCase("a = 1 2", 1, 7, "expected the end of the line, found '2'")]
    [TestCase("\n\nport = 99999999999999999999", 3, 8, "integer 99999999999999999999 does not fit in 64 bits")]
    [TestCase("x = 012", 1, 5, "leading zeros are not allowed")]
    [TestCase("x = 1__0", 1, 5, "underscore that is not between two digits")]
    [TestCase("x = 1.", 1, 5, "fractional part has no digits")]
    [TestCase("x = 2021-02-29", 1, 5, "2021-02 has no day 29")]
    [TestCase("x = 12:60:00", 1, 5, "out of range")]
    [TestCase("x = \"a\\qb\"", 1, 7, "invalid escape sequence '\\q'")]
    [TestCase("x = \"abc\ny = 1", 1, 9, "unterminated string")]
    [TestCase("x = \"\"\"abc", 1, 5, "unterminated multi-line string")]
    [TestCase("x = [1, 2", 1, 10, "unterminated array (opened at 1:5)")]
    [TestCase("x = { a = 1,\n b = 2 }", 1, 13, "inline tables must be on one line")]
    [TestCase("x = { a = 1, }", 1, 12, "trailing comma")]
    [TestCase("x = bare", 1, 5, "invalid value 'bare' (strings must be quoted)")]
    [TestCase("a = 1\r\nb = 2\r", 2, 6, "carriage return must be followed by a line feed")]
    [TestCase("# bell \u0007", 1, 8, "control character U+0007 is not allowed in a comment")]
    [TestCase("[table\nx = 1", 1, 7, "expected ']' to close table header [table]")]
    public void Errors_point_at_the_mistake(string toml, int line, int column, string message)
    {
        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(toml));
        Assert.Multiple(() =>
        {
            Assert.That(error!.Position, Is.EqualTo(new TomlPosition(line, column)), error.Message);
            Assert.That(error.Reason, Does.Contain(message));
            Assert.That(error.Message, Is.EqualTo($"{line}:{column}: {error.Reason}"));
        });
    }

    [Test]
    public void Unpaired_surrogates_in_a_string_are_rejected()
    {
        // Built at run time: a lone surrogate cannot survive in attribute metadata.
        var toml = "x = \"a" + (char)0xD800 + "\"";
        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(toml));
        Assert.That(error!.Position, Is.EqualTo(new TomlPosition(1, 7)));
        Assert.That(error.Reason, Does.Contain("unpaired surrogate U+D800"));
    }

    [Test]
    public void Invalid_utf8_is_reported_at_its_line_and_column()
    {
        var bytes = Encoding.UTF8.GetBytes("a = 1\nb = \"é").Concat(new byte[] { 0xC3, (byte)'"' }).ToArray();
        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(bytes));
        Assert.That(error!.Position, Is.EqualTo(new TomlPosition(2, 7)));
        Assert.That(error.Reason, Does.Contain("invalid UTF-8"));
    }

    [Test]
    public void A_byte_order_mark_is_skipped_only_at_the_start()
    {
        var bom = new byte[] { 0xEF, 0xBB, 0xBF };
        var doc = TomlParser.Parse(bom.Concat(Encoding.UTF8.GetBytes("a = 1")).ToArray());
        Assert.That(Scalar(doc, "a"), Is.EqualTo(1L));
        Assert.Throws<TomlException>(() => TomlParser.Parse(Encoding.UTF8.GetBytes("a = \uFEFF1")));
    }

    [TestCase("a = {0}0{1}", "[", "]")]
    [TestCase("a = {0}0{1}", "{ x = ", " }")]
    [TestCase("a{0} = 0", ".a", "")]
    [TestCase("[a{0}]", ".a", "")]
    [TestCase("[[a{0}]]", ".a", "")]
    public void Deep_nesting_is_an_error_rather_than_a_stack_overflow(string shape, string open, string close)
    {
        string Nest(int depth) => string.Format(
            System.Globalization.CultureInfo.InvariantCulture, shape, string.Concat(Enumerable.Repeat(open, depth)), string.Concat(Enumerable.Repeat(close, depth)));

        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(Nest(100_000)));
        Assert.That(error!.Reason, Does.Contain("nested more than 500 levels"));

        var deepest = TomlParser.Parse(Nest(240));
        Assert.That(TomlTaggedJson.Encode(deepest), Is.Not.Empty, "the encoder copes with the deepest accepted document");
    }

    [Test]
    public void TryParse_returns_the_error_instead_of_throwing()
    {
        Assert.That(TomlParser.TryParse("a = ", out var doc, out var error), Is.False);
        Assert.That(doc, Is.Null);
        Assert.That(error!.Position, Is.EqualTo(new TomlPosition(1, 5)));
        Assert.That(TomlParser.TryParse("a = 1"u8, out doc, out error), Is.True);
        Assert.That(error, Is.Null);
        Assert.That(Scalar(doc!, "a"), Is.EqualTo(1L));
    }

    [Test]
    public void Tagged_json_matches_the_toml_test_format()
    {
        var json = TomlTaggedJson.Encode(TomlParser.Parse("a = [1, 'x']\n[t]\nd = 1979-05-27 07:32:00z\nf = -inf"));
        using var actual = System.Text.Json.JsonDocument.Parse(json);
        using var expected = System.Text.Json.JsonDocument.Parse("""
            {
              "a": [ {"type": "integer", "value": "1"}, {"type": "string", "value": "x"} ],
              "t": {
                "d": {"type": "datetime", "value": "1979-05-27T07:32:00Z"},
                "f": {"type": "float", "value": "-inf"}
              }
            }
            """);
        Assert.That(TaggedJsonComparer.Difference(expected.RootElement, actual.RootElement), Is.Null, json);
        Assert.That(json, Does.Contain("\"1979-05-27T07:32:00Z\""), "date-times are written as normalised text");
    }

    private static object Scalar(TomlTable table, string key) => ((TomlValue)table[key]).Value;
}
