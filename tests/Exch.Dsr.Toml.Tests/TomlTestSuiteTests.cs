using System.Text.Json;

namespace Exch.Dsr.Toml.Tests;

/// <summary>Runs every TOML 1.0.0 file of the official toml-test suite, one test case per file.</summary>
[TestFixture]
public sealed class TomlTestSuiteTests
{
    public static IEnumerable<TestCaseData> ValidFiles() => TomlTestSuite.Cases("valid");

    public static IEnumerable<TestCaseData> InvalidFiles() => TomlTestSuite.Cases("invalid");

    [Test]
    public void The_list_and_the_files_it_names_are_present()
    {
        var tests = TomlTestSuite.RequireTestsDirectory();
        var listed = TomlTestSuite.ListedFiles();
        Assert.That(listed, Is.Not.Empty);
        var missing = listed.Where(path => !File.Exists(Path.Combine(tests, path))).ToArray();
        Assert.That(missing, Is.Empty, "listed files that do not exist");

        var validToml = listed.Where(p => p.StartsWith("valid/", StringComparison.Ordinal) && p.EndsWith(".toml", StringComparison.Ordinal));
        var withoutJson = validToml.Where(p => !listed.Contains(Path.ChangeExtension(p, ".json"))).ToArray();
        Assert.That(withoutJson, Is.Empty, "valid files without a listed .json twin");
    }

    [TestCaseSource(nameof(ValidFiles))]
    public void Valid_document_decodes_to_the_expected_json(string path)
    {
        var tests = TomlTestSuite.RequireTestsDirectory();
        var toml = File.ReadAllBytes(Path.Combine(tests, path));
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tests, Path.ChangeExtension(path, ".json"))));

        var document = TomlParser.Parse(toml);
        var json = TomlTaggedJson.Encode(document);
        using var actual = JsonDocument.Parse(json);

        var difference = TaggedJsonComparer.Difference(expected.RootElement, actual.RootElement);
        Assert.That(difference, Is.Null, $"decoded as:\n{json}");
    }

    [TestCaseSource(nameof(InvalidFiles))]
    public void Invalid_document_is_rejected_with_a_position(string path)
    {
        var tests = TomlTestSuite.RequireTestsDirectory();
        var toml = File.ReadAllBytes(Path.Combine(tests, path));

        var error = Assert.Throws<TomlException>(() => TomlParser.Parse(toml));

        Assert.That(error!.Position.Line, Is.GreaterThanOrEqualTo(1));
        Assert.That(error.Position.Column, Is.GreaterThanOrEqualTo(1));
        Assert.That(error.Message, Does.StartWith($"{error.Position.Line}:{error.Position.Column}: "));
    }
}
