namespace Exch.Dsr.Toml;

/// <summary>Reads a TOML 1.0.0 document.</summary>
public static class TomlParser
{
    /// <summary>Parses <paramref name="text"/>; throws <see cref="TomlException"/> (with line and column) for an invalid document.</summary>
    public static TomlTable Parse(string text) => throw new NotImplementedException("the TOML reader is being written");
}
