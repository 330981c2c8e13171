using System.Diagnostics;
using System.Reflection;

namespace Exch.Dsr.Tests;

/// <summary>What a finished exch-dsr process said and returned.</summary>
internal sealed record ExchDsrRun(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StandardOutput}--- stderr ---\n{StandardError}";
}

/// <summary>
/// Runs the built exch-dsr as a real process (<c>dotnet exch-dsr.dll args</c>), as an administrator would, so
/// tests cover argument parsing, exit codes and which stream each line goes to.
/// </summary>
internal static class ExchDsrProcess
{
    private static readonly Lazy<string> Dll = new(Locate);

    /// <summary>The exch-dsr.dll of the configuration these tests were built in.</summary>
    public static string DllPath => Dll.Value;

    public static async Task<ExchDsrRun> RunAsync(
        IEnumerable<string> arguments,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Output redirected to a pipe must not depend on the test runner's terminal.
        start.Environment["NO_COLOR"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"exch-dsr {string.Join(' ', start.ArgumentList.Skip(1))} did not finish within {timeout ?? TimeSpan.FromSeconds(60)}; stderr so far: {await stderr}");
        }

        return new ExchDsrRun(process.ExitCode, await stdout, await stderr);
    }

    public static Task<ExchDsrRun> RunAsync(params string[] arguments) => RunAsync((IEnumerable<string>)arguments);

    /// <summary>The repository root, for the shipped files under config/.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "src", "Exch.Dsr")) && Directory.Exists(Path.Combine(dir.FullName, "config")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no repository root (with src/Exch.Dsr and config/) above {AppContext.BaseDirectory}");
    }

    private static string Locate()
    {
        // The project reference copies exch-dsr.dll and its runtimeconfig next to the tests, in the same configuration.
        var beside = Path.Combine(AppContext.BaseDirectory, "exch-dsr.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "exch-dsr.runtimeconfig.json")))
        {
            return beside;
        }

        var configuration = typeof(ExchDsrProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var built = Path.Combine(RepositoryRoot(), "src", "Exch.Dsr", "bin", configuration, "net10.0", "exch-dsr.dll");
        return File.Exists(built)
            ? built
            : throw new FileNotFoundException($"exch-dsr.dll is neither next to the tests nor at {built}; build src/Exch.Dsr -c {configuration}");
    }

    private static string DotnetHost()
    {
        // Set by the dotnet CLI for the processes it starts (dotnet test), so the same SDK's host runs exch-dsr.
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        return Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }
}
