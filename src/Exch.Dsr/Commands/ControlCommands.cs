using System.CommandLine;
using System.Net;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;

namespace Exch.Dsr.Commands;

/// <summary>
/// The commands that talk to a running exch-dsr over its control socket: <c>status</c>, <c>conns</c>, <c>persist</c>,
/// <c>drain</c>, <c>disable</c>, <c>enable</c>, <c>weight</c>, <c>reload</c>. Each prints a table (or the response as
/// JSON with <c>--json</c>).
/// </summary>
/// <remarks>
/// Exit codes: 0 done; 1 the service refused (its message and every error on stderr) or could not be reached (what
/// to check); 2 bad arguments, or a bad <c>--config</c> file.
/// </remarks>
internal static class ControlCommands
{
    /// <summary>Long enough for a reload of a large file; a stuck service is still reported rather than waited on forever.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static IEnumerable<Command> Create()
    {
        yield return Status();
        yield return Table(ControlProtocol.Conns, "List the tracked connections, like ipvsadm -Lnc.");
        yield return Table(ControlProtocol.Persist, "List the persistence entries (which client sticks to which server).");
        yield return AdminState(ControlProtocol.Drain, "Drain a server: no new clients; connected and persistent clients stay (how a CAS is patched).");
        yield return AdminState(ControlProtocol.Disable, "Disable a server: no new clients, and returning persistent clients go elsewhere.");
        yield return AdminState(ControlProtocol.Enable, "Enable a drained or disabled server again.");
        yield return Weight();
        yield return Reload();
    }

    private static Command Status()
    {
        var target = new Target();
        var command = new Command(ControlProtocol.Status, "Show every service with its servers: state, weight, connections, persistence entries, rates.");
        target.AddTo(command);
        command.SetAction((parse, cancel) => RunAsync(parse, target, new ControlRequest { Command = ControlProtocol.Status }, cancel));
        return command;
    }

    private static Command Table(string name, string description)
    {
        var target = new Target();
        var service = new Option<string?>("--service") { Description = "Only this service.", HelpName = "NAME" };
        var server = new Option<string?>("--server") { Description = "Only this real server.", HelpName = "SERVER" };
        var client = new Option<string?>("--client") { Description = "Only clients in this address or prefix, e.g. 10.1.2.3 or 10.1.0.0/16.", HelpName = "ADDR|CIDR" };
        var limit = new Option<int?>("--limit") { Description = "At most this many rows (default 10000).", HelpName = "N" };
        var command = new Command(name, description) { service, server, client, limit };
        target.AddTo(command);
        command.SetAction((parse, cancel) =>
        {
            var clientValue = parse.GetValue(client);
            if (clientValue is not null && !IPAddress.TryParse(clientValue, out _) && !IPNetwork.TryParse(clientValue, out _))
            {
                return Task.FromResult(Usage($"--client '{clientValue}' is neither an address nor a prefix; e.g. 10.1.2.3 or 10.1.0.0/16"));
            }

            var limitValue = parse.GetValue(limit);
            if (limitValue is not null and not (>= 1 and <= ControlProtocol.MaxLimit))
            {
                return Task.FromResult(Usage($"--limit takes a number from 1 to {ControlProtocol.MaxLimit}"));
            }

            var request = new ControlRequest
            {
                Command = name,
                Service = parse.GetValue(service),
                Server = parse.GetValue(server),
                Client = clientValue,
                Limit = limitValue,
            };
            return RunAsync(parse, target, request, cancel);
        });
        return command;
    }

    private static Command AdminState(string name, string description)
    {
        var target = new Target();
        var server = new Argument<string>("SERVER") { Description = "The real server's name, as in [[server]] name, e.g. CAS1." };
        var service = new Option<string?>("--service") { Description = "Only in this service (default: every service the server is in).", HelpName = "NAME" };
        var command = new Command(name, description) { server, service };
        target.AddTo(command);
        command.SetAction((parse, cancel) => RunAsync(
            parse,
            target,
            new ControlRequest { Command = name, Server = parse.GetRequiredValue(server), Service = parse.GetValue(service) },
            cancel));
        return command;
    }

    private static Command Weight()
    {
        var target = new Target();
        var server = new Argument<string>("SERVER") { Description = "The real server's name, e.g. CAS1." };
        var weight = new Argument<int>("N") { Description = "The new weight, 0 to 65535 (0: no new clients, like drain)." };
        var service = new Option<string?>("--service") { Description = "Only in this service (default: every service the server is in).", HelpName = "NAME" };
        var command = new Command(ControlProtocol.Weight, "Set a server's weight at run time (kept across reloads while the server exists; a restart returns to the configured weight).") { server, weight, service };
        target.AddTo(command);
        command.SetAction((parse, cancel) =>
        {
            var value = parse.GetValue(weight);
            if (value is < 0 or > 65535)
            {
                return Task.FromResult(Usage($"weight {value} is out of range; give 0 to 65535"));
            }

            var request = new ControlRequest { Command = ControlProtocol.Weight, Server = parse.GetRequiredValue(server), Weight = value, Service = parse.GetValue(service) };
            return RunAsync(parse, target, request, cancel);
        });
        return command;
    }

    private static Command Reload()
    {
        var target = new Target();
        var command = new Command(ControlProtocol.Reload, "Re-read the configuration file; on any error the running configuration stays and every error is printed.");
        target.AddTo(command);
        command.SetAction((parse, cancel) => RunAsync(parse, target, new ControlRequest { Command = ControlProtocol.Reload }, cancel));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, Target target, ControlRequest request, CancellationToken cancellationToken)
    {
        var output = Console.Out;
        var errors = Console.Error;
        if (target.Resolve(parse, errors) is not { } socket)
        {
            return ExitCodes.Usage;
        }

        ControlResponse response;
        try
        {
            response = await ControlClient.SendAsync(socket.Path, request, Timeout, cancellationToken);
        }
        catch (ControlUnreachableException e)
        {
            errors.WriteLine(Unreachable(e, socket.FromDefault));
            return ExitCodes.Failure;
        }

        if (parse.GetValue(target.Json))
        {
            output.WriteLine(ControlProtocol.SerializeIndented(response));
            return response.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        }

        if (!response.Ok)
        {
            errors.WriteLine($"exch-dsr: {request.Command} refused: {response.Message}");
            foreach (var error in response.Errors)
            {
                errors.WriteLine(error);
            }

            return ExitCodes.Failure;
        }

        switch (request.Command)
        {
            case ControlProtocol.Status when response.Status is { } status:
                ControlTables.WriteStatus(output, status, DateTimeOffset.UtcNow);
                break;
            case ControlProtocol.Conns:
                ControlTables.WriteConnections(output, response.Connections ?? []);
                output.WriteLine(response.Message);
                break;
            case ControlProtocol.Persist:
                ControlTables.WritePersistence(output, response.Persistence ?? []);
                output.WriteLine(response.Message);
                break;
            default:
                output.WriteLine(response.Message);
                break;
        }

        return ExitCodes.Ok;
    }

    private static string Unreachable(ControlUnreachableException e, bool fromDefault)
    {
        var head = $"exch-dsr: cannot reach exch-dsr at {e.SocketPath}";
        const string Running = "Is the service running? systemctl status exch-dsr";
        var elsewhere = fromDefault ? $"{Environment.NewLine}exch-dsr: if it listens elsewhere, give --config FILE (its [control] socket) or --socket PATH." : string.Empty;
        return e.Reason switch
        {
            ControlUnreachableReason.Missing => $"{head}: no such file. {Running}{elsewhere}",
            ControlUnreachableReason.Refused => $"{head}: nothing is listening on it (the service stopped without removing it). {Running}",
            ControlUnreachableReason.PermissionDenied =>
                $"{head}: permission denied. Run it as root (sudo exch-dsr ...) or as a member of the socket's group ([control] socket-group in the configuration).",
            ControlUnreachableReason.TimedOut => $"{head}: {e.Message}; the service may be overloaded or stuck. {Running}",
            _ => $"{head}: {e.Message}",
        };
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"exch-dsr: {message}");
        Console.Error.WriteLine("Run 'exch-dsr --help' for usage.");
        return ExitCodes.Usage;
    }

    /// <summary>Where a command finds the service: <c>--socket</c>, the socket of a <c>--config</c> file, or the default.</summary>
    private sealed class Target
    {
        public Option<string?> Socket { get; } = new("--socket")
        {
            Description = $"The control socket (default {ControlConfig.DefaultSocket}).",
            HelpName = "PATH",
        };

        public Option<FileInfo?> Config { get; } = new("--config", "-c")
        {
            Description = "Use the [control] socket of this configuration file.",
            HelpName = "FILE",
        };

        public Option<bool> Json { get; } = new("--json") { Description = "Print the service's response as JSON instead of a table." };

        public void AddTo(Command command)
        {
            command.Add(Socket);
            command.Add(Config);
            command.Add(Json);
        }

        public (string Path, bool FromDefault)? Resolve(ParseResult parse, TextWriter errors)
        {
            var socket = parse.GetValue(Socket);
            var config = parse.GetValue(Config);
            if (socket is not null && config is not null)
            {
                Usage("give either --socket or --config, not both");
                return null;
            }

            if (socket is not null)
            {
                if (socket.Length == 0)
                {
                    Usage("--socket needs a path, e.g. /run/exch-dsr/control.sock");
                    return null;
                }

                return (socket, false);
            }

            if (config is not null)
            {
                return ConfigurationFile.TryLoad(config, errors, "nothing was asked", out var loaded) ? (loaded.Control.Socket, false) : null;
            }

            return (ControlConfig.DefaultSocket, true);
        }
    }
}
