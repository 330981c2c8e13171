namespace Exch.Dsr.Toml.Tests;

/// <summary>
/// The official toml-test suite, cloned beside the repository as <c>../shared/toml-test</c>. Its
/// <c>files-toml-1.0.0</c> list names every file that applies to TOML 1.0.0.
/// </summary>
internal static class TomlTestSuite
{
    public const string MissingSuiteName = "toml-test suite is missing";
    private const string FileList = "files-toml-1.0.0";

    /// <summary>Where the suite should be: <c>../shared/toml-test</c> beside the checkout, or null outside a checkout.</summary>
    public static string? ExpectedLocation =>
        RepositoryPaths.FindRoot() is { } root ? Path.GetFullPath(Path.Combine(root, "..", "shared", "toml-test")) : null;

    public static string? Root => ExpectedLocation is { } location && File.Exists(Path.Combine(location, FileList)) ? location : null;

    /// <summary>The directory the listed paths are relative to; fails the calling test if the suite is absent.</summary>
    public static string RequireTestsDirectory()
    {
        if (Root is { } root)
        {
            return Path.Combine(root, "tests");
        }

        throw new AssertionException(ExpectedLocation is { } location
            ? $"the toml-test suite was not found: {Path.Combine(location, FileList)} does not exist"
            : $"the toml-test suite was not found: no Exch.Dsr.sln in {TestContext.CurrentContext.TestDirectory} or above it, "
              + "so ../shared/toml-test beside the checkout could not be located");
    }

    /// <summary>Every listed path, relative to the suite's tests directory.</summary>
    public static IReadOnlyList<string> ListedFiles() =>
        Root is { } root
            ? File.ReadAllLines(Path.Combine(root, FileList)).Where(line => line.Length > 0).ToArray()
            : [];

    /// <summary>One case per listed .toml file under <paramref name="kind"/> ("valid" or "invalid").</summary>
    public static IEnumerable<TestCaseData> Cases(string kind)
    {
        if (Root is null)
        {
            // A single failing case instead of none, so a missing checkout cannot pass as an empty suite.
            yield return new TestCaseData(MissingSuiteName).SetName($"{kind}: {MissingSuiteName}");
            yield break;
        }

        foreach (var path in ListedFiles())
        {
            if (path.StartsWith(kind + "/", StringComparison.Ordinal) && path.EndsWith(".toml", StringComparison.Ordinal))
            {
                yield return new TestCaseData(path).SetName(path);
            }
        }
    }
}
