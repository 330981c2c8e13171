using Microsoft.Extensions.Configuration;

namespace Exch.Dsr.Configuration;

/// <summary>A TOML document as a configuration source: a file on disk, or text already in memory.</summary>
public sealed class TomlConfigurationSource : IConfigurationSource
{
    /// <summary>The file to read; ignored when <see cref="Text"/> is set.</summary>
    public string? Path { get; init; }

    /// <summary>The document itself, for configurations that ship embedded (the demo).</summary>
    public string? Text { get; init; }

    /// <summary>Name used in error positions; defaults to <see cref="Path"/>.</summary>
    public string? DisplayName { get; init; }

    /// <summary>A missing file then yields no keys instead of an error.</summary>
    public bool Optional { get; init; }

    /// <summary>Re-read the file when it changes and signal the configuration's reload token.</summary>
    public bool ReloadOnChange { get; init; }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new TomlConfigurationProvider(this);
}

/// <summary>Registration helpers in the style of AddJsonFile.</summary>
public static class TomlConfigurationExtensions
{
    /// <summary>
    /// Adds a TOML file: tables become sections and arrays become indexed sections (<c>service:0:ports:1</c>),
    /// so environment variables (<c>EXCHDSR_service__0__scheduler</c>) and command-line keys override it.
    /// A missing or invalid file does not throw: <see cref="ExchDsrConfigLoader.Load(IConfiguration)"/> reports it.
    /// </summary>
    public static IConfigurationBuilder AddTomlFile(this IConfigurationBuilder builder, string path, bool optional = false, bool reloadOnChange = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return builder.Add(new TomlConfigurationSource
        {
            Path = System.IO.Path.GetFullPath(path),
            DisplayName = path,
            Optional = optional,
            ReloadOnChange = reloadOnChange,
        });
    }

    /// <summary>Adds a TOML document held in memory; <paramref name="displayName"/> prefixes its error positions.</summary>
    public static IConfigurationBuilder AddTomlText(this IConfigurationBuilder builder, string text, string displayName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentException.ThrowIfNullOrEmpty(displayName);
        return builder.Add(new TomlConfigurationSource { Text = text, DisplayName = displayName });
    }
}
