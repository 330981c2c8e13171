using System.CommandLine;
using Exch.Dsr.Commands;

namespace Exch.Dsr;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("exch-dsr: a Direct Server Return layer-4 load balancer for Exchange CAS arrays and any TCP/UDP service.");
        foreach (var command in Commands())
        {
            root.Add(command);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // Bad arguments are a usage error (exit 2), told in one line each, with the way to help.
            foreach (var error in parsed.Errors)
            {
                Console.Error.WriteLine($"exch-dsr: {error.Message}");
            }

            Console.Error.WriteLine("Run 'exch-dsr --help' for usage.");
            return ExitCodes.Usage;
        }

        return await parsed.InvokeAsync();
    }

    private static IEnumerable<Command> Commands()
    {
        yield return CheckConfigCommand.Create();
        yield return ReplayCommand.Create();
        yield return DemoCommand.Create();
        yield return RunCommand.Create();
        yield return HostSideCommand.Create();
        foreach (var command in ControlCommands.Create())
        {
            yield return command;
        }
    }
}
