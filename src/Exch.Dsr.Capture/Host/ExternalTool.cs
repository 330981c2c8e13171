using System.ComponentModel;
using System.Diagnostics;

namespace Exch.Dsr.Capture.Host;

/// <summary>What a run of an external tool left: its exit code and output, or why it has none.</summary>
/// <param name="ExitCode">The exit code; -1 when it timed out or could not start.</param>
/// <param name="TimedOut">It did not finish in time and was killed.</param>
/// <param name="StartError">Why it could not be started, or null.</param>
public readonly record struct ToolRun(int ExitCode, string Output, string Errors, bool TimedOut, string? StartError)
{
    /// <summary>The tool ran to its end and exited 0.</summary>
    public bool Succeeded => !TimedOut && StartError is null && ExitCode == 0;
}

/// <summary>
/// The host's own tools (ip, nft, ethtool) as the forwarder and its commands run them: found on PATH or in the sbin
/// directories a service's PATH may lack, given arguments without a shell, their standard output and error read in
/// full, and killed when they do not finish in time.
/// </summary>
public static class ExternalTool
{
    /// <summary>The tool's full path, or null when it is not installed.</summary>
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .Select(directory => Path.Combine(directory, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="path"/> with <paramref name="arguments"/>, writing <paramref name="input"/> to its standard input.</summary>
    public static ToolRun Run(string path, IEnumerable<string> arguments, TimeSpan timeout, string? input = null)
    {
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardInput = input is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            if (input is not null)
            {
                process.StandardInput.Write(input);
                process.StandardInput.Close();
            }

            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return new ToolRun(-1, string.Empty, string.Empty, TimedOut: true, StartError: null);
            }

            // The timed wait can return before the output is read to its end; this one waits for that too.
            process.WaitForExit();
            return new ToolRun(process.ExitCode, output.Result, errors.Result, TimedOut: false, StartError: null);
        }
        catch (Win32Exception e)
        {
            return new ToolRun(-1, string.Empty, string.Empty, TimedOut: false, StartError: e.Message);
        }
    }
}
