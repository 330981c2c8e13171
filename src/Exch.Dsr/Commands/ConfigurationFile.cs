using Exch.Dsr.Configuration;

namespace Exch.Dsr.Commands;

/// <summary>Reads the configuration file a command was given, telling the administrator every problem in it.</summary>
internal static class ConfigurationFile
{
    /// <summary>
    /// Loads <paramref name="file"/> with its <c>EXCHDSR_</c> environment overrides. On failure every error goes to
    /// <paramref name="errors"/>, then one line ending in <paramref name="consequence"/> ("nothing was changed",
    /// "not started"), and the caller exits with <see cref="ExitCodes.Usage"/>.
    /// </summary>
    public static bool TryLoad(FileInfo file, TextWriter errors, string consequence, out ExchDsrConfig config)
    {
        config = null!;

        // The path as typed, so error positions read the way the administrator wrote the command.
        var shown = file.ToString();
        if (Directory.Exists(file.FullName))
        {
            errors.WriteLine($"exch-dsr: '{shown}' is a directory; give the configuration file itself, e.g. {Path.Combine(shown, "exch-dsr.toml")}");
            return false;
        }

        if (!file.Exists)
        {
            errors.WriteLine($"exch-dsr: configuration file '{shown}' not found (looked for {file.FullName})");
            return false;
        }

        var result = ExchDsrConfigLoader.LoadWithEnvironment(shown);
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
            {
                errors.WriteLine(error);
            }

            errors.WriteLine($"exch-dsr: {result.Errors.Count} error{(result.Errors.Count == 1 ? string.Empty : "s")} in '{shown}'; {consequence}");
            return false;
        }

        config = result.Config!;
        return true;
    }
}
