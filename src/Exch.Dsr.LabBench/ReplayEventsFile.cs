using Exch.Dsr.Configuration;

namespace Exch.Dsr.LabBench;

/// <summary>Reads an events file and checks it against the configuration it will be replayed with.</summary>
public static class ReplayEventsFile
{
    /// <returns>The events, or every error as <c>file:line: message</c> (then the events are not to be used).</returns>
    public static (IReadOnlyList<ServerEvent> Events, IReadOnlyList<string> Errors) Load(FileInfo file, ExchDsrConfig config)
    {
        string text;
        try
        {
            text = File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ([], [$"{file}: {e.Message}"]);
        }

        return Check(ServerEventsParser.Parse(text, file.ToString()), config, file.ToString());
    }

    public static (IReadOnlyList<ServerEvent> Events, IReadOnlyList<string> Errors) Check(
        ServerEventsParseResult parsed,
        ExchDsrConfig config,
        string sourceName)
    {
        var errors = parsed.Errors.Concat(ServerOverrides.Validate(config, parsed.Events, sourceName))
            .OrderBy(LineOf)
            .ToList();
        return (parsed.Events, errors);

        int LineOf(string error)
        {
            var rest = error.AsSpan(sourceName.Length + 1);
            return int.TryParse(rest[..rest.IndexOf(':')], out var line) ? line : 0;
        }
    }
}
