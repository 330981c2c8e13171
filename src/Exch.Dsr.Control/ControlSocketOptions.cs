using Exch.Dsr.Configuration;

namespace Exch.Dsr.Control;

/// <summary>Where the control socket listens and who may use it, from <c>[control]</c> in the configuration.</summary>
public sealed record ControlSocketOptions
{
    /// <summary>The socket's absolute path; its directory is created (mode 0755) when missing.</summary>
    public required string Path { get; init; }

    /// <summary>A group (name or number) also allowed on the socket: mode 0660 and that group; null for 0600, root alone.</summary>
    public string? Group { get; init; }

    /// <summary>Clients served at once; more wait in the listen backlog until one finishes.</summary>
    public int MaxClients { get; init; } = 16;

    /// <summary>How long a connected client may take to send a whole request line before it is told so and closed.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static ControlSocketOptions From(ControlConfig control) => new() { Path = control.Socket, Group = control.SocketGroup };
}
