using System.CommandLine;
using System.Globalization;
using System.Reflection;
using Exch.Dsr.Configuration;
using Exch.Dsr.LabBench;
using Exch.Dsr.LabBench.Demo;
using Exch.Dsr.LabBench.Synthesis;
using Spectre.Console;

namespace Exch.Dsr.Commands;

/// <summary>
/// <c>exch-dsr demo</c>: no arguments, no files, no privileges. Synthesizes a morning of Exchange clients in memory,
/// replays it through the shipped configuration (embedded in the executable) with one CAS failing halfway, and shows
/// from the engine's own decisions that persistence held across Outlook's ports and where the failed CAS's clients went.
/// </summary>
internal static class DemoCommand
{
    private const string ShippedConfiguration = "exch-dsr.toml";

    public static Command Create()
    {
        var command = new Command("demo", "Replay a synthetic Exchange client mix through the shipped configuration, with a CAS failing midway.");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        string toml;
        using (var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ShippedConfiguration)
            ?? throw new InvalidOperationException($"the executable was built without its embedded {ShippedConfiguration}"))
        using (var reader = new StreamReader(stream))
        {
            toml = reader.ReadToEnd();
        }

        var loaded = ExchDsrConfigLoader.LoadFromText(toml, $"{ShippedConfiguration} (built in)");
        if (!loaded.Succeeded)
        {
            foreach (var error in loaded.Errors)
            {
                Console.Error.WriteLine(error);
            }

            Console.Error.WriteLine($"exch-dsr demo: the built-in {ShippedConfiguration} does not load");
            return ExitCodes.Failure;
        }

        var isTerminal = !Console.IsOutputRedirected;
        var console = ReplaySummary.CreateConsole(Console.Out, isTerminal);
        var mix = new ExchangeMixOptions();
        console.MarkupLine(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"exch-dsr demo: {mix.OutlookClients:#,0} Outlook clients, {mix.OwaClients:#,0} OWA users, {mix.SmtpSenders:#,0} SMTP senders and {mix.UsersBehindNat:#,0} users behind one NAT address, over {mix.Duration.TotalMinutes:0} simulated minutes (seed {mix.Seed}), through the built-in {ShippedConfiguration}.")));

        var result = ExchangeDemo.Run(loaded.Config!, mix);
        foreach (var note in result.AddressNotes)
        {
            console.MarkupLine(Markup.Escape(note));
        }

        ReplaySummary.Write(console, result.Report, isTerminal);
        console.WriteLine();
        foreach (var line in Findings(result))
        {
            console.MarkupLine(Markup.Escape(line));
        }

        return ExitCodes.Ok;
    }

    /// <summary>The demo's conclusions in words, every number counted from the engine's decisions.</summary>
    private static IEnumerable<string> Findings(DemoResult result)
    {
        var failedAt = result.Report.Events.FirstOrDefault();
        var when = failedAt is null
            ? "never (the traffic ended first)"
            : $"{ReplaySummary.Time(failedAt.UnixNanoseconds)}, {(failedAt.UnixNanoseconds - result.Report.FirstFrameUnixNanoseconds) / 1e9:0} s in";
        var outlook = result.Services.FirstOrDefault(s => s.Service == result.OutlookService);
        if (outlook is not null)
        {
            var ports = string.Join(", ", outlook.Ports);
            yield return Invariant(
                $"Persistence across ports: {outlook.HeldTogether:#,0} of {outlook.Clients:#,0} Outlook client addresses reached one CAS on {ports} for all of their {outlook.Connections:#,0} connections ")
                + Invariant($"(changing only when re-dispatched or after their entry expired: {outlook.Rescheduled:#,0}); {outlook.ClientsOnEveryPort:#,0} used every one of those ports; {outlook.Split:#,0} were split between servers.");
        }

        yield return $"Failure: {result.Failure.Server} went down at {when}.";
        foreach (var service in result.Services.Where(s => s.Redispatched > 0 || s.Service == result.OutlookService))
        {
            yield return Invariant(
                $"  {service.Service}: {service.Redispatched:#,0} clients re-dispatched to a surviving server; {service.RedispatchedThenHeld:#,0} of them then stayed on their new server for every later connection.");
        }

        yield return Invariant(
            $"Total re-dispatches counted by the engine: {result.Report.Servers.Sum(s => s.Redispatches):#,0} (connections and persistence entries moved).");
        yield return Invariant(
            $"NAT: {result.NatUsers:#,0} users share {result.NatAddress}; its {result.NatConnections:#,0} Outlook connections went to {string.Join(" then ", result.NatServers)}: ")
            + Invariant($"source-address persistence keeps a whole NATed office on one CAS.");
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
