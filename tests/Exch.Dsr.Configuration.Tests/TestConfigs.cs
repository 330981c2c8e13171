using Exch.Dsr.Configuration;

namespace Exch.Dsr.Configuration.Tests;

/// <summary>Loads TOML text under a fixed display name so tests can assert whole "file:line:column: message" lines.</summary>
internal static class TestConfigs
{
    public const string Name = "test.toml";

    /// <summary>Two IPv4 CAS and one IPv6 server, for the member and family tests.</summary>
    public const string Servers = """
        [[server]]
        name = "CAS1"
        address = "10.0.0.11"

        [[server]]
        name = "CAS2"
        address = "10.0.0.12"
        weight = 3

        """;

    public static ConfigLoadResult Load(string toml, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
        => ExchDsrConfigLoader.LoadFromText(toml, Name, overrides);

    public static ExchDsrConfig Valid(string toml)
    {
        var result = Load(toml);
        Assert.That(result.Errors.Select(e => e.ToString()), Is.Empty, "expected a valid configuration");
        return result.Config!;
    }

    public static IReadOnlyList<string> Errors(string toml)
    {
        var result = Load(toml);
        Assert.That(result.Config, Is.Null, "a configuration with errors must not be returned");
        return [.. result.Errors.Select(e => e.ToString())];
    }

    /// <summary>The repository root, found from the test assembly's directory, for the shipped files.</summary>
    public static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate) && Directory.Exists(Path.Combine(dir.FullName, "src")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}
