namespace Exch.Dsr.DataPlane;

/// <summary>Run-time settings of the live data plane that the configuration file does not carry.</summary>
public sealed record DataPlaneOptions
{
    /// <summary>How often the resolver asks every <c>mac = "auto"</c> server for its MAC again; a changed MAC is followed within one interval.</summary>
    public TimeSpan NeighbourRefresh { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often ARP requests repeat while some server has not answered yet.</summary>
    public TimeSpan UnresolvedRetry { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Frames one receive may return.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>The configuration file the data plane was started from, which a reload reads again.</summary>
    public string? ConfigFile { get; init; }

    /// <summary>How a reload reads the configuration; null reads <see cref="ConfigFile"/> with <see cref="ConfigurationLoad.FromFile"/>.</summary>
    public Func<ConfigurationLoad>? LoadConfiguration { get; init; }
}
