namespace Exch.Dsr.Toml.Tests;

/// <summary>Finds the repository (and the shared folder cloned beside it) from wherever the tests run.</summary>
internal static class RepositoryPaths
{
    private const string SolutionFile = "Exch.Dsr.sln";

    /// <summary>The directory holding <c>Exch.Dsr.sln</c>, or null when the tests run outside a checkout.</summary>
    public static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    public static string RequireRoot() =>
        FindRoot() ?? throw new AssertionException(
            $"no {SolutionFile} found in {TestContext.CurrentContext.TestDirectory} or any directory above it");
}
