namespace Exch.Dsr.Configuration;

/// <summary>
/// One problem in a configuration, where it was written. <see cref="Source"/> is a file name (then
/// <see cref="Line"/> and <see cref="Column"/> are 1-based) or a description of an override such as
/// "environment variable EXCHDSR_service__0__scheduler" (then both are 0).
/// </summary>
public sealed record ConfigError(string Source, int Line, int Column, string Message)
{
    public override string ToString() => Line > 0 ? $"{Source}:{Line}:{Column}: {Message}" : $"{Source}: {Message}";
}

/// <summary>The outcome of loading: a configuration when there is no error at all, otherwise every error found.</summary>
public sealed record ConfigLoadResult
{
    public ConfigLoadResult(ExchDsrConfig config)
    {
        Config = config;
        Errors = [];
    }

    public ConfigLoadResult(IReadOnlyList<ConfigError> errors)
    {
        Errors = errors;
    }

    /// <summary>Null whenever <see cref="Errors"/> is not empty: a half-valid configuration is never run.</summary>
    public ExchDsrConfig? Config { get; }

    /// <summary>In the order they appear, overrides last.</summary>
    public IReadOnlyList<ConfigError> Errors { get; }

    public bool Succeeded => Config is not null;
}
