using System.CommandLine;
using Exch.Dsr.Capture.Files;
using Exch.Dsr.Configuration;
using Exch.Dsr.LabBench;
using Spectre.Console;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr replay --config FILE INPUT --out OUTPUT.pcap [--decisions FILE.jsonl] [--events FILE]</c>:
/// runs every frame of a capture through the forwarding engine, each at its own timestamp, and writes the
/// forwarded frames (destination and source MAC rewritten) to a pcap file.
/// </summary>
/// <remarks>
/// Exit codes: 0 done; 2 bad arguments, configuration, events file or input (nothing is written);
/// 1 the input was truncated or corrupt part-way: everything before the damage is replayed and written, the
/// reader's message names the frame number and byte offset, and the non-zero code lets a script notice.
/// </remarks>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c")
        {
            Description = "The exch-dsr configuration (TOML) whose services and servers route the frames.",
            HelpName = "FILE",
            Required = true,
        };
        var input = new Argument<FileInfo>("INPUT") { Description = "A pcap or pcapng capture of Ethernet frames." };
        var output = new Option<FileInfo>("--out", "-o")
        {
            Description = "The pcap file the forwarded frames are written to (nanosecond timestamps).",
            HelpName = "OUTPUT.pcap",
            Required = true,
        };
        var decisions = new Option<FileInfo?>("--decisions")
        {
            Description = "Write one JSON line per new flow or persistence decision to this file.",
            HelpName = "FILE.jsonl",
        };
        var events = new Option<FileInfo?>("--events")
        {
            Description = "Server events to apply on the replay clock, one a line: '+12.5s CAS1 down', "
                + "'2026-11-24T10:00:05Z CAS2 weight 3', '+30s CAS1 drain service owa-https' (actions: down, up, drain, disable, enable, weight N).",
            HelpName = "FILE",
        };

        var command = new Command("replay", "Replay a capture through the engine and write what it forwards.")
        {
            config, input, output, decisions, events,
        };
        command.SetAction(parse => Run(
            parse.GetRequiredValue(config),
            parse.GetRequiredValue(input),
            parse.GetRequiredValue(output),
            parse.GetValue(decisions),
            parse.GetValue(events)));
        return command;
    }

    private static int Run(FileInfo configFile, FileInfo inputFile, FileInfo outputFile, FileInfo? decisionsFile, FileInfo? eventsFile)
    {
        if (!inputFile.Exists)
        {
            return Usage($"input '{inputFile}' does not exist");
        }

        if (!ConfigurationFile.TryLoad(configFile, Console.Error, "nothing was replayed", out var config))
        {
            return ExitCodes.Usage;
        }

        IReadOnlyList<ServerEvent> schedule = [];
        if (eventsFile is not null)
        {
            var (parsed, errors) = ReplayEventsFile.Load(eventsFile, config);
            if (errors.Count > 0)
            {
                foreach (var error in errors)
                {
                    Console.Error.WriteLine(error);
                }

                return Usage($"{errors.Count} error(s) in events file '{eventsFile}'");
            }

            schedule = parsed;
        }

        CaptureFileReader reader;
        try
        {
            reader = CaptureFileReader.Open(inputFile.FullName);
        }
        catch (Exception e) when (e is CaptureFileFormatException or IOException or UnauthorizedAccessException)
        {
            return Usage($"{inputFile}: {e.Message}");
        }

        using (reader)
        {
            PcapFileWriter writer;
            DecisionLogWriter? decisionLog = null;
            try
            {
                writer = PcapFileWriter.Create(outputFile.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Usage($"{outputFile}: {e.Message}");
            }

            using (writer)
            {
                try
                {
                    decisionLog = decisionsFile is null ? null : DecisionLogWriter.Create(decisionsFile.FullName);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return Usage($"{decisionsFile}: {e.Message}");
                }

                using (decisionLog)
                {
                    return Replay(config, schedule, inputFile, reader, outputFile, writer, decisionsFile, decisionLog);
                }
            }
        }
    }

    private static int Replay(
        ExchDsrConfig config,
        IReadOnlyList<ServerEvent> schedule,
        FileInfo inputFile,
        CaptureFileReader reader,
        FileInfo outputFile,
        PcapFileWriter writer,
        FileInfo? decisionsFile,
        DecisionLogWriter? decisionLog)
    {
        var isTerminal = !Console.IsOutputRedirected;
        var console = ReplaySummary.CreateConsole(Console.Out, isTerminal);
        var session = new ReplaySession(config, schedule);
        if (decisionLog is not null)
        {
            session.WriteDecisionsTo(decisionLog);
        }

        var source = new CaptureFileSource(reader, inputFile.Length);
        ReplayReport report;
        try
        {
            report = isTerminal ? RunWithProgress(console, session, source, writer) : session.Run(source, writer);
        }
        catch (IOException e)
        {
            // Writing failed part-way (a full disk, say): not the input's fault, so not a usage error.
            Console.Error.WriteLine($"exch-dsr replay: {e.Message}");
            return ExitCodes.Failure;
        }

        foreach (var note in session.AddressNotes)
        {
            console.MarkupLine(Markup.Escape(note));
        }

        ReplaySummary.Write(console, report, isTerminal);
        console.MarkupLine(Markup.Escape($"wrote {report.FramesForwarded:#,0} frames to {outputFile}"
            + (decisionsFile is null ? string.Empty : $", {report.Decisions:#,0} decisions to {decisionsFile}")));
        if (report.InputError is not null)
        {
            Console.Error.WriteLine(
                $"exch-dsr replay: {inputFile}: {report.InputError.Message}; the {report.FramesRead:#,0} frames before it were replayed and written");
            return ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }

    /// <summary>A progress bar over the input's bytes, for a terminal only (it would be noise in a log or a test).</summary>
    private static ReplayReport RunWithProgress(IAnsiConsole console, ReplaySession session, IFrameSource source, PcapFileWriter writer)
    {
        ReplayReport? report = null;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("replaying", maxValue: Math.Max(1, source.Length));
                report = session.Run(source, writer, position => task.Value = position);
                task.Value = task.MaxValue;
            });
        return report!;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"exch-dsr replay: {message}");
        return ExitCodes.Usage;
    }
}
