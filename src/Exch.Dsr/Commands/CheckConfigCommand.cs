using System.CommandLine;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr check-config FILE</c>: says what a configuration file means (exit 0) or lists every error in it,
/// one <c>file:line:column: message</c> a line on stderr (exit 2), so it can gate a deployment script.
/// </summary>
internal static class CheckConfigCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "The configuration file (TOML), e.g. /etc/exch-dsr/exch-dsr.toml." };
        var command = new Command("check-config", "Check a configuration file and print what it means, or every error in it.") { file };
        command.SetAction(parse => Run(parse.GetValue(file)!, Console.Out, Console.Error));
        return command;
    }

    private static int Run(FileInfo file, TextWriter output, TextWriter errors)
    {
        if (!ConfigurationFile.TryLoad(file, errors, "nothing was changed", out var config))
        {
            return ExitCodes.Usage;
        }

        ConfigSummary.Write(output, file.ToString(), config);
        return ExitCodes.Ok;
    }
}
