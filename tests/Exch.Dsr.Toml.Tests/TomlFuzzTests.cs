using System.Text;

namespace Exch.Dsr.Toml.Tests;

/// <summary>Whatever bytes arrive, the reader either returns a document or throws <see cref="TomlException"/>.</summary>
[TestFixture]
public sealed class TomlFuzzTests
{
    private const int Iterations = 2000;

    private static readonly string Seed = """
        # exch-dsr style configuration
        name = "edge-1"
        title = 'literal \ string'
        notes = \"\"\"
        multi \
          line "quoted" \u00e9 \U0001F600
        \"\"\"
        raw = '''
        raw ''text'' '''
        ints = [ 0, -17, +42, 1_000, 0xdead_BEEF, 0o755, 0b1101 ]
        floats = [ 3.14, -0.0, 6.02e23, 1e-7, inf, -nan, 1_0.0_1 ]
        when = [ 1979-05-27T07:32:00Z, 1979-05-27 00:32:00.999999-07:00, 1979-05-27T07:32:00, 1979-05-27, 07:32:00.5 ]
        point = { x = 1, y.z = "two", nested = { deep = [ {}, { a = true } ] } }
        "quoted key".dotted.'literal' = false

        [servers.alpha]
        ip = "10.0.0.1" # trailing comment
        [servers.alpha.health]
        interval = 5

        [[pools]]
        members = [ "a", "b", ]
        [[pools.members2]]
        weight = 3
        [[pools]]
        """.Replace("\\\"", "\"", StringComparison.Ordinal);

    private static readonly string[] Fragments =
    [
        "[", "]", "[[", "]]", "{", "}", "=", ".", ",", "\"", "'", "\"\"\"", "'''", "\\", "\\u", "\\U0010FFFF",
        "#", "\n", "\r", "\r\n", "\t", " ", "0x", "0o", "0b", "_", "e", "+", "-", ":", "T", "Z", "inf", "nan",
        "true", "9223372036854775808", "1979-02-29", "24:00:00", "\u0000", "\u007F", "\uFEFF", "é", "😀", "a.b.c",
    ];

    [Test]
    public void Mutated_documents_only_ever_throw_TomlException()
    {
        Assert.That(TomlParser.Parse(Seed).Count, Is.GreaterThan(0), "the seed document itself must be valid");

        var random = new Random(20261124);
        var seedBytes = Encoding.UTF8.GetBytes(Seed);
        var valid = 0;
        for (var i = 0; i < Iterations; i++)
        {
            var useBytes = i % 4 == 3;
            var mutatedBytes = useBytes ? MutateBytes(seedBytes, random) : null;
            var mutatedText = useBytes ? null : MutateText(Seed, random);
            try
            {
                _ = useBytes ? TomlParser.Parse(mutatedBytes) : TomlParser.Parse(mutatedText!);
                valid++;
            }
            catch (TomlException e)
            {
                Assert.That(e.Position.Line, Is.GreaterThanOrEqualTo(1));
                Assert.That(e.Position.Column, Is.GreaterThanOrEqualTo(1));
            }
            catch (Exception e)
            {
                var input = useBytes ? Convert.ToHexString(mutatedBytes!) : mutatedText;
                Assert.Fail($"iteration {i}: {e.GetType().Name} escaped: {e}\ninput:\n{input}");
            }
        }

        TestContext.Out.WriteLine($"{valid} of {Iterations} mutations were still valid TOML");
    }

    private static string MutateText(string text, Random random)
    {
        var sb = new StringBuilder(text);
        var edits = random.Next(1, 6);
        for (var e = 0; e < edits; e++)
        {
            var at = random.Next(sb.Length + 1);
            switch (random.Next(4))
            {
                case 0:
                    sb.Insert(at, Fragments[random.Next(Fragments.Length)]);
                    break;
                case 1 when at < sb.Length:
                    sb.Remove(at, Math.Min(random.Next(1, 8), sb.Length - at));
                    break;
                case 2 when at < sb.Length:
                    sb[at] = (char)random.Next(0, 128);
                    break;
                default:
                    // Duplicating a slice makes redefinitions and repeated headers likely.
                    var from = random.Next(sb.Length);
                    var slice = sb.ToString(from, Math.Min(random.Next(1, 60), sb.Length - from));
                    sb.Insert(at, slice);
                    break;
            }
        }

        return sb.ToString();
    }

    private static byte[] MutateBytes(byte[] bytes, Random random)
    {
        var copy = (byte[])bytes.Clone();
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            copy[random.Next(copy.Length)] = (byte)random.Next(256);
        }

        return random.Next(8) == 0 ? copy[..random.Next(copy.Length)] : copy;
    }
}
