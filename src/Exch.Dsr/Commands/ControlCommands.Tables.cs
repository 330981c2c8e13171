using System.Globalization;
using System.Text;
using Exch.Dsr.Control;

namespace Exch.Dsr.Commands;

/// <summary>
/// The control commands' tables, laid out like <c>ipvsadm -Ln</c> and <c>ipvsadm -Lnc</c> so an LVS administrator
/// finds things where expected, with words instead of codes (up, drained, ESTABLISHED) so a Windows administrator
/// does not need the ipvsadm manual. Plain text with fixed columns: read in terminals, tickets and scripts alike.
/// </summary>
internal static class ControlTables
{
    public static void WriteStatus(TextWriter output, ClusterStatus status, DateTimeOffset now)
    {
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"exch-dsr on {status.Interface} ({status.Backend}), up {Duration(now - status.StartedAt)}; configuration {status.ConfigFile}, loaded {status.ConfigLoadedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC"));

        // One grid for services and members, so every column lines up across the whole table.
        var rows = new List<string[]>
        {
            new[] { "Prot", "VIP:Ports", "Scheduler", "Flags", string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty },
            new[] { "  ->", "Server", "Address", "State", "Weight", "ActiveConn", "InActConn", "Persist", "Pkt/s", "Bit/s" },
        };
        var notes = new Dictionary<int, string>();
        foreach (var service in status.Services)
        {
            var flags = service.Persistence is { } timeout
                ? string.Create(CultureInfo.InvariantCulture, $"persistent {(long)timeout.TotalSeconds} ({service.PersistenceEntries} {(service.PersistenceEntries == 1 ? "entry" : "entries")})")
                : string.Empty;
            rows.Add([service.Protocol.ToUpperInvariant(), $"{Host(service.Vip)}:{service.Ports}", service.Scheduler, flags, $"[{service.Name}]", string.Empty, string.Empty, string.Empty, string.Empty, string.Empty]);
            foreach (var member in service.Members)
            {
                rows.Add(
                [
                    "  ->",
                    member.Server,
                    member.Address,
                    member.State,
                    Number(member.Weight),
                    Number(member.ActiveConnections),
                    Number(member.InactiveConnections),
                    Number(member.PersistenceEntries),
                    Rate(member.PacketsPerSecond),
                    Rate(member.BitsPerSecond),
                ]);
                if (Note(member) is { } note)
                {
                    notes[rows.Count - 1] = note;
                }
            }
        }

        // As in ipvsadm, service lines and member lines are two grids: each lines up with its own kind.
        var serviceWidths = new int[3];
        var memberWidths = new int[10];
        for (int row = 0; row < rows.Count; row++)
        {
            bool serviceLine = IsServiceLine(rows, row);
            var widths = serviceLine ? serviceWidths : memberWidths;
            for (int column = 0; column < widths.Length; column++)
            {
                widths[column] = Math.Max(widths[column], rows[row][column].Length);
            }
        }

        for (int row = 0; row < rows.Count; row++)
        {
            var cells = rows[row];
            var line = new StringBuilder();
            if (IsServiceLine(rows, row))
            {
                line.Append(cells[0].PadRight(serviceWidths[0])).Append(' ').Append(cells[1].PadRight(serviceWidths[1])).Append(' ').Append(cells[2].PadRight(serviceWidths[2]));
                foreach (var rest in cells.Skip(3).Where(c => c.Length > 0))
                {
                    line.Append(' ').Append(rest);
                }
            }
            else
            {
                for (int column = 0; column < cells.Length; column++)
                {
                    // Names and words left-aligned, numbers right-aligned.
                    var cell = column < 4 ? cells[column].PadRight(memberWidths[column]) : cells[column].PadLeft(memberWidths[column]);
                    line.Append(column == 0 ? string.Empty : " ").Append(cell);
                }
            }

            output.WriteLine(line.ToString().TrimEnd());
            if (notes.TryGetValue(row, out var note))
            {
                output.WriteLine($"       {note}");
            }
        }

        var totals = status.Totals;
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Totals: forwarded {totals.Forwarded}, dropped {totals.Dropped}, answered {totals.Answered}, not ours {totals.NotOurs}, kernel dropped {totals.KernelDropped}, send failures {totals.SendFailures}, connections {totals.Connections}{(totals.ConnectionCapacity > 0 ? $" of {totals.ConnectionCapacity}" : string.Empty)}"));
    }

    public static void WriteConnections(TextWriter output, IReadOnlyList<ConnectionRow> rows)
    {
        var grid = new List<string[]> { new[] { "Pro", "Expire", "State", "Client", "Virtual", "Server", "Service" } };
        grid.AddRange(rows.Select(r => new[] { r.Protocol.ToUpperInvariant(), Expire(r.Expires), r.State, r.Client, r.Vip, r.Server, r.Service }));
        WriteGrid(output, grid);
    }

    public static void WritePersistence(TextWriter output, IReadOnlyList<PersistenceRow> rows)
    {
        var grid = new List<string[]> { new[] { "Service", "Client", "Server", "Expire", "Conns" } };
        grid.AddRange(rows.Select(r => new[] { r.Service, r.Client, r.Server, Expire(r.Expires), Number(r.Connections) }));
        WriteGrid(output, grid);
    }

    private static bool IsServiceLine(List<string[]> rows, int row) => row == 0 || (row > 1 && rows[row][0] != "  ->");

    /// <summary>Packets or bits per second with a unit prefix: 950, 12.5k, 3.4M, 1.1G.</summary>
    public static string Rate(double perSecond) => perSecond switch
    {
        < 0 or double.NaN => "0",
        < 1e3 => perSecond.ToString("0", CultureInfo.InvariantCulture),
        < 1e6 => (perSecond / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        < 1e9 => (perSecond / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        _ => (perSecond / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "G",
    };

    /// <summary>mm:ss like ipvsadm, h:mm:ss past an hour (OWA's 4 h persistence).</summary>
    public static string Expire(TimeSpan left) => left < TimeSpan.Zero
        ? "00:00"
        : left.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)left.TotalHours}:{left.Minutes:00}:{left.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{left.Minutes:00}:{left.Seconds:00}");

    private static string? Note(MemberStatus member)
    {
        if (member.Health == "down" && member.HealthReason is { Length: > 0 } reason)
        {
            return $"health check: {reason}";
        }

        return member.State == "unresolved" ? "no MAC address yet (ARP/NDP has not answered); takes no traffic" : null;
    }

    private static string Duration(TimeSpan span) => span switch
    {
        { TotalDays: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalDays}d {span.Hours}h"),
        { TotalHours: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{span.Hours}h {span.Minutes}m"),
        { TotalMinutes: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{span.Minutes}m {span.Seconds}s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, (int)span.TotalSeconds)}s"),
    };

    private static string Host(string vip) => vip.Contains(':', StringComparison.Ordinal) ? $"[{vip}]" : vip;

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void WriteGrid(TextWriter output, List<string[]> grid)
    {
        var widths = Enumerable.Range(0, grid[0].Length).Select(c => grid.Max(r => r[c].Length)).ToArray();
        foreach (var row in grid)
        {
            output.WriteLine(string.Join(' ', row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
    }
}
