using Microsoft.Extensions.Configuration;

namespace Exch.Dsr.Configuration;

/// <summary>
/// The one way in: a TOML file (or embedded text) plus optional overrides becomes an <see cref="IConfiguration"/>,
/// whose merged tree is validated and converted into an <see cref="ExchDsrConfig"/> with every error positioned.
/// </summary>
public static class ExchDsrConfigLoader
{
    /// <summary>Loads <paramref name="path"/>; <paramref name="overrides"/> are configuration keys (service:0:scheduler) that win over the file.</summary>
    public static ConfigLoadResult Load(string path, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Load(new ConfigurationBuilder().AddTomlFile(path), overrides);
    }

    /// <summary>The prefix of environment variables that override the file, e.g. <c>EXCHDSR_service__0__scheduler=mh</c>.</summary>
    public const string EnvironmentPrefix = "EXCHDSR_";

    /// <summary>
    /// Loads <paramref name="path"/> with the <see cref="EnvironmentPrefix"/> environment variables on top: what every
    /// command that reads a configuration file sees, so check-config shows what run will do. A wrong value that came
    /// from the environment is reported as coming from there.
    /// </summary>
    public static ConfigLoadResult LoadWithEnvironment(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Load(new ConfigurationBuilder().AddTomlFile(path).AddEnvironmentVariables(EnvironmentPrefix), overrides: null);
    }

    /// <summary>Loads a document held in memory (the shipped configuration embedded in the executable).</summary>
    public static ConfigLoadResult LoadFromText(string toml, string displayName, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(toml);
        return Load(new ConfigurationBuilder().AddTomlText(toml, displayName), overrides);
    }

    /// <summary>
    /// Validates and converts a configuration built elsewhere (say TOML file, then EXCHDSR_ environment variables,
    /// then the command line). Every key of <paramref name="configuration"/> is taken as exch-dsr's, so pass one
    /// built for it, not a host configuration holding unrelated keys.
    /// </summary>
    public static ConfigLoadResult Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var (tree, root) = ConfigTree.Read(configuration);
        return ConfigConverter.Convert(tree, root);
    }

    private static ConfigLoadResult Load(IConfigurationBuilder builder, IEnumerable<KeyValuePair<string, string?>>? overrides)
    {
        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides);
        }

        var configuration = builder.Build();
        using (configuration as IDisposable)
        {
            return Load(configuration);
        }
    }
}
