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
        if (TryLoad(file, out config, out var problems))
        {
            return true;
        }

        foreach (var problem in problems)
        {
            errors.WriteLine(problem);
        }

        // A missing file or a directory is one sentence that already says what is wrong; a bad file gets a count.
        if (file.Exists)
        {
            errors.WriteLine($"exch-dsr: {problems.Count} error{(problems.Count == 1 ? string.Empty : "s")} in '{file}'; {consequence}");
        }

        return false;
    }

    /// <summary>As <see cref="TryLoad(FileInfo, TextWriter, string, out ExchDsrConfig)"/>, handing back every problem instead of printing it (a reload answers with them).</summary>
    public static bool TryLoad(FileInfo file, out ExchDsrConfig config, out IReadOnlyList<string> problems)
    {
        config = null!;

        // The path as typed, so error positions read the way the administrator wrote the command.
        var shown = file.ToString();
        if (Directory.Exists(file.FullName))
        {
            problems = [$"exch-dsr: '{shown}' is a directory; give the configuration file itself, e.g. {Path.Combine(shown, "exch-dsr.toml")}"];
            return false;
        }

        if (!file.Exists)
        {
            problems = [$"exch-dsr: configuration file '{shown}' not found (looked for {file.FullName})"];
            return false;
        }

        var result = ExchDsrConfigLoader.LoadWithEnvironment(shown);
        if (!result.Succeeded)
        {
            problems = [.. result.Errors.Select(e => e.ToString())];
            return false;
        }

        config = result.Config!;
        problems = [];
        return true;
    }
}
