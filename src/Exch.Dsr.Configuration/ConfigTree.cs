using System.Text.RegularExpressions;
using Exch.Dsr.Toml;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;

namespace Exch.Dsr.Configuration;

/// <summary>
/// Where one key of the merged configuration came from. A TOML origin keeps the TOML node, so its type survives
/// the string-only configuration model; any other origin (environment, command line, overrides) is plain text.
/// </summary>
internal sealed record ConfigOrigin(string Source, TomlPosition? KeyPosition, TomlPosition? ValuePosition, TomlNode? Toml)
{
    public bool IsToml => Toml is not null;

    public ConfigError AtValue(string message) => At(ValuePosition ?? KeyPosition, message);

    public ConfigError AtKey(string message) => At(KeyPosition ?? ValuePosition, message);

    private ConfigError At(TomlPosition? position, string message)
        => new(Source, position?.Line ?? 0, position?.Column ?? 0, message);
}

/// <summary>A node of the merged configuration: a value, or children (a table, or an array when keyed 0..n-1).</summary>
internal sealed class ConfigNode
{
    public ConfigNode(string key, string? value, IReadOnlyList<ConfigNode> children, ConfigOrigin origin)
    {
        Key = key;
        Value = value;
        Children = children;
        Origin = origin;
    }

    /// <summary>The key as written in TOML when it came from TOML; as the configuration reports it otherwise.</summary>
    public string Key { get; }

    public string? Value { get; }

    public IReadOnlyList<ConfigNode> Children { get; }

    public ConfigOrigin Origin { get; }

    public bool IsTomlTable => Origin.Toml is TomlTable;

    public bool IsTomlArray => Origin.Toml is TomlArray;

    public TomlValue? TomlValue => Origin.Toml as TomlValue;

    /// <summary>A TOML key must match exactly; keys from other sources (environment variables) ignore case.</summary>
    public bool Is(string key) => Origin.IsToml ? string.Equals(Key, key, StringComparison.Ordinal) : string.Equals(Key, key, StringComparison.OrdinalIgnoreCase);

    public ConfigNode? Child(string key) => Children.FirstOrDefault(c => c.Is(key));

    public ConfigError AtValue(string message) => Origin.AtValue(message);

    public ConfigError AtKey(string message) => Origin.AtKey(message);
}

/// <summary>Reads the merged configuration into <see cref="ConfigNode"/>s, asking each provider who set each key.</summary>
internal sealed partial class ConfigTree
{
    private readonly IConfigurationProvider[] _providers;
    private readonly TomlConfigurationProvider[] _tomlProviders;

    private ConfigTree(IConfiguration configuration)
    {
        _providers = configuration is IConfigurationRoot root ? [.. root.Providers] : [];
        _tomlProviders = [.. _providers.OfType<TomlConfigurationProvider>()];
    }

    /// <summary>The name document-wide errors ("no [[server]]") are reported against.</summary>
    public string DocumentName => _tomlProviders.Length > 0 ? _tomlProviders[^1].DisplayName : "configuration";

    public bool HasDocument => _tomlProviders.Length > 0;

    public IEnumerable<TomlConfigurationProvider> TomlProviders => _tomlProviders;

    public static (ConfigTree Tree, ConfigNode Root) Read(IConfiguration configuration)
    {
        var tree = new ConfigTree(configuration);
        TomlPosition? start = tree.HasDocument ? new TomlPosition(1, 1) : null;
        var rootOrigin = new ConfigOrigin(tree.DocumentName, start, start, null);
        var root = new ConfigNode(string.Empty, null, [.. configuration.GetChildren().Select(c => tree.Node(c, rootOrigin))], rootOrigin);
        return (tree, root);
    }

    private ConfigNode Node(IConfigurationSection section, ConfigOrigin parent)
    {
        var own = OriginOf(section.Path);
        var children = section.GetChildren().Select(c => Node(c, own ?? parent)).ToList();

        // A section only implied by overrides (env sets service:0:check:kind, the file has no [service.check]) is
        // reported where its first key came from, and is not TOML, so its key matches without regard to case.
        var origin = own ?? (children.Count > 0 ? children[0].Origin : parent) with { Toml = null };
        var key = origin.IsToml ? TomlKeyName(section.Path) ?? section.Key : section.Key;
        return new ConfigNode(key, section.Value, children, origin);
    }

    private string? TomlKeyName(string path)
    {
        for (var i = _tomlProviders.Length - 1; i >= 0; i--)
        {
            if (_tomlProviders[i].TryGetSource(path, out var source))
            {
                return source.KeyName;
            }
        }

        return null;
    }

    /// <summary>The provider that wins for <paramref name="path"/> is the last one that has it, as in ConfigurationRoot.</summary>
    private ConfigOrigin? OriginOf(string path)
    {
        for (var i = _providers.Length - 1; i >= 0; i--)
        {
            var provider = _providers[i];
            if (!provider.TryGet(path, out _))
            {
                continue;
            }

            if (provider is TomlConfigurationProvider toml && toml.TryGetSource(path, out var source))
            {
                return FromToml(source);
            }

            return new ConfigOrigin(Describe(provider, path), null, null, null);
        }

        // A table or array with children holds no value of its own: its position is where TOML declared it.
        for (var i = _tomlProviders.Length - 1; i >= 0; i--)
        {
            if (_tomlProviders[i].TryGetSource(path, out var source))
            {
                return FromToml(source);
            }
        }

        return null;
    }

    private static ConfigOrigin FromToml(TomlKeySource source)
        => new(source.File, source.KeyPosition, source.Node.Position, source.Node);

    private static string Describe(IConfigurationProvider provider, string path)
    {
        var typeName = provider.GetType().Name;
        if (typeName.Contains("EnvironmentVariables", StringComparison.Ordinal))
        {
            // The provider shows its prefix only through ToString ("... Prefix: 'EXCHDSR_'").
            var prefix = PrefixPattern().Match(provider.ToString() ?? string.Empty);
            return $"environment variable {(prefix.Success ? prefix.Groups[1].Value : string.Empty)}{path.Replace(ConfigurationPath.KeyDelimiter, "__", StringComparison.Ordinal)}";
        }

        if (typeName.Contains("CommandLine", StringComparison.Ordinal))
        {
            return $"command line --{path}";
        }

        return provider is MemoryConfigurationProvider ? $"override {path}" : $"{typeName} key {path}";
    }

    [GeneratedRegex("Prefix: '([^']*)'")]
    private static partial Regex PrefixPattern();
}
