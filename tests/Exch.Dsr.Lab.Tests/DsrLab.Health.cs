using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Exch.Dsr.Lab.Tests;

/// <summary>Lab helpers for the health-check tests: servers made sick in the ways a CAS gets sick, and the forwarder's verdicts.</summary>
internal sealed partial class DsrLab
{
    /// <summary>Replaces the check of <paramref name="service"/> (a <c>kind = "none"</c> one in <see cref="ConfigText"/>) with <paramref name="check"/>.</summary>
    /// <param name="check">TOML lines that go at the end of the [[service]] table, starting with its own keys (e.g. on-down) then [service.check].</param>
    public static string WithCheck(string configText, string service, string check)
    {
        const string NoCheck = "[service.check]\nkind = \"none\"";
        int start = configText.IndexOf($"name = \"{service}\"", StringComparison.Ordinal);
        int at = start < 0 ? -1 : configText.IndexOf(NoCheck, start, StringComparison.Ordinal);
        if (at < 0)
        {
            throw new ArgumentException($"no service '{service}' with kind = \"none\" in the lab configuration", nameof(service));
        }

        return string.Concat(configText.AsSpan(0, at), check, configText.AsSpan(at + NoCheck.Length));
    }

    /// <summary>Writes a file into the lab's directory (removed with the lab) and returns its path.</summary>
    public string WriteLabFile(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Rewrites the /owa page of server <paramref name="index"/>: nginx serves the file fresh on the next request.</summary>
    public void SetOwaPage(int index, bool healthy)
    {
        var name = Servers[index].Name;
        string page = healthy
            ? $"<html><head><title>Outlook</title></head><body>Outlook Web App on {name}</body></html>\n"
            : $"<html><body>Service unavailable on {name}</body></html>\n";
        File.WriteAllText(Path.Combine(_directory, $"server{index + 1}", "www", "owa"), page);
    }

    /// <summary>Starts server <paramref name="index"/>'s nginx again (after <see cref="StopNginx"/>) and waits until it serves /owa on its own address.</summary>
    public void StartNginx(int index)
    {
        var (name, address) = Servers[index];
        string dir = Path.Combine(_directory, $"server{index + 1}");
        _processes.Add(Shell.Start($"{name} nginx", "ip", "netns", "exec", ServerNs(index), "nginx", "-p", dir, "-e", Path.Combine(dir, "error.log"), "-c", Path.Combine(dir, "nginx.conf")));
        if (!Shell.WaitUntil(() => ClientGet($"https://{address}/owa", maxSeconds: 1)?.Contains(name, StringComparison.Ordinal) == true, TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException($"{name}'s nginx did not answer within 10 s after a restart: {ServerLog(index)}");
        }
    }

    /// <summary>Removes the VIP from (or puts it back on) server <paramref name="index"/>'s loopback, as a CAS whose loopback adapter lost it.</summary>
    public void SetVipOnLoopback(int index, bool present) =>
        Shell.Must("ip", "-n", ServerNs(index), "addr", present ? "add" : "del", $"{Vip}/32", "dev", "lo");

    /// <summary>The forwarder's latest verdict on <paramref name="server"/> in <paramref name="service"/>: "UP", "DOWN" or null, with its reason.</summary>
    public (string? State, string? Reason) HealthOf(string service, string server, int fromOffset = 0)
    {
        string output = Forwarder?.Output ?? string.Empty;
        var last = Transition().Matches(output[Math.Min(fromOffset, output.Length)..])
            .LastOrDefault(m => m.Groups["service"].Value == service && m.Groups["server"].Value == server);
        return last is null ? (null, null) : (last.Groups["state"].Value, last.Groups["reason"].Value.Trim());
    }

    /// <summary>
    /// Waits (bounded) until the forwarder logs <paramref name="state"/> for the pair after <paramref name="fromOffset"/>
    /// in its output; returns how long that took, or throws with everything it said.
    /// </summary>
    public TimeSpan WaitForHealth(string service, string server, string state, int fromOffset, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        if (!Shell.WaitUntil(() => HealthOf(service, server, fromOffset).State == state, within))
        {
            throw new InvalidOperationException($"{service}/{server} was not logged {state} within {within.TotalSeconds} s; exch-dsr said:\n{Forwarder?.Output}");
        }

        return clock.Elapsed;
    }

    /// <summary>The policy rules in the appliance namespace, as <c>ip rule show</c> prints them.</summary>
    public string ApplianceRules() => Shell.Run("ip", "-n", ApplianceNs, "rule", "show").Output;

    /// <summary>Runs <c>ip</c> in the appliance namespace and fails on error.</summary>
    public void ApplianceIp(params string[] arguments) => Shell.Must("ip", ["-n", ApplianceNs, .. arguments]);

    [GeneratedRegex(@"(?<service>[\w-]+)/(?<server>CAS\d) (?<state>UP|DOWN): (?<reason>[^\n]*)")]
    private static partial Regex Transition();
}
