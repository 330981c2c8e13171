using System.Globalization;
using Exch.Dsr.LabBench;
using Spectre.Console;

namespace Exch.Dsr.Commands;

/// <summary>
/// Prints a replay's outcome as tables. On a terminal they get rounded borders and colour; redirected to a file
/// or a pipe they use plain ASCII and no escape codes, and a wide fixed width so columns never wrap.
/// </summary>
internal static class ReplaySummary
{
    public static IAnsiConsole CreateConsole(TextWriter output, bool isTerminal)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = isTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = isTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = isTerminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!isTerminal)
        {
            // Wide enough that no table or sentence wraps in a log file.
            console.Profile.Width = 320;
        }

        return console;
    }

    public static void Write(IAnsiConsole console, ReplayReport report, bool isTerminal)
    {
        var border = isTerminal ? TableBorder.Rounded : TableBorder.Ascii;

        var servers = new Table().Border(border).Title("Forwarded, per service and server");
        servers.AddColumn("Service");
        servers.AddColumn("Server");
        foreach (var heading in (string[])["Frames", "Bytes", "Clients", "New conns", "New persist", "Redispatched"])
        {
            servers.AddColumn(new TableColumn(heading).RightAligned());
        }

        foreach (var row in report.Servers)
        {
            servers.AddRow(
                Markup.Escape(row.Service),
                Markup.Escape(row.Server),
                Count(row.Frames),
                Count(row.Bytes),
                Count(row.Clients),
                Count(row.NewConnections),
                Count(row.NewPersistenceEntries),
                Count(row.Redispatches));
        }

        servers.AddRow(
            "[bold]total[/]",
            string.Empty,
            Count(report.FramesForwarded),
            Count(report.BytesForwarded),
            Count(report.Servers.Sum(r => r.Clients)),
            Count(report.Servers.Sum(r => r.NewConnections)),
            Count(report.Servers.Sum(r => r.NewPersistenceEntries)),
            Count(report.Servers.Sum(r => r.Redispatches)));
        console.Write(servers);

        var dropped = new Table().Border(border).Title("Not forwarded, per reason");
        dropped.AddColumn("Verdict / reason");
        dropped.AddColumn(new TableColumn("Frames").RightAligned());
        foreach (var (reason, count) in report.Dropped)
        {
            dropped.AddRow(Markup.Escape(reason), Count(count));
        }

        dropped.AddRow("[bold]total[/]", Count(report.FramesDropped));
        console.Write(dropped);

        foreach (var applied in report.Events)
        {
            console.MarkupLine(Markup.Escape(
                $"event at {Time(applied.UnixNanoseconds)}{(applied.Event.Line > 0 ? $" (line {applied.Event.Line})" : string.Empty)}: {applied.Event}{(applied.Changed ? string.Empty : " (no change)")}"));
        }

        if (report.EventsNotReached > 0)
        {
            console.MarkupLine(Markup.Escape($"{report.EventsNotReached} event(s) timed after the last frame were not applied"));
        }

        var span = report.LastFrameUnixNanoseconds - report.FirstFrameUnixNanoseconds;
        console.MarkupLine(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"{Count(report.FramesRead)} frames read ({span / 1e9:0.###} s of capture), {Count(report.FramesForwarded)} forwarded, {Count(report.FramesDropped)} not forwarded, {Count(report.Decisions)} decisions")));
        console.MarkupLine(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"replayed in {report.Elapsed.TotalSeconds:0.000} s: {report.FramesPerSecond:#,0} frames/s")));
    }

    public static string Time(long unixNanoseconds)
    {
        Span<byte> utf8 = stackalloc byte[40];
        return System.Text.Encoding.ASCII.GetString(utf8[..DecisionLogWriter.FormatRfc3339(unixNanoseconds, utf8)]);
    }

    private static string Count(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);
}
