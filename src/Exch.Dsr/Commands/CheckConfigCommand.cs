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
        // The path as typed, so error positions read the way the administrator wrote the command.
        var shown = file.ToString();
        if (Directory.Exists(file.FullName))
        {
            errors.WriteLine($"exch-dsr: '{shown}' is a directory; give the configuration file itself, e.g. {Path.Combine(shown, "exch-dsr.toml")}");
            return ExitCodes.Usage;
        }

        if (!file.Exists)
        {
            errors.WriteLine($"exch-dsr: configuration file '{shown}' not found (looked for {file.FullName})");
            return ExitCodes.Usage;
        }

        var result = ExchDsrConfigLoader.LoadWithEnvironment(shown);
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
            {
                errors.WriteLine(error);
            }

            errors.WriteLine($"exch-dsr: {result.Errors.Count} error{(result.Errors.Count == 1 ? string.Empty : "s")} in '{shown}'; nothing was changed");
            return ExitCodes.Usage;
        }

        ConfigSummary.Write(output, shown, result.Config!);
        return ExitCodes.Ok;
    }
}
