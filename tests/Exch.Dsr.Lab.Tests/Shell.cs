using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Exch.Dsr.Lab.Tests;

/// <summary>What a finished command said and returned.</summary>
internal sealed record CommandResult(string Command, int ExitCode, string Output, string Errors)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() => $"{Command}: exit {ExitCode}\n{Output}{Errors}";
}

/// <summary>A process started in the background (an nginx, a socat, exch-dsr), its output collected as it comes.</summary>
internal sealed class BackgroundProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public BackgroundProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything written to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Sends SIGTERM and waits for the exit (bounded); false when it did not exit in time.</summary>
    public bool Terminate(TimeSpan wait)
    {
        if (_process.HasExited)
        {
            return true;
        }

        _ = Kill(_process.Id, 15);
        if (_process.WaitForExit(wait))
        {
            _process.WaitForExit();
            return true;
        }

        return false;
    }

    /// <summary>SIGTERM, then SIGKILL if it lingers. Never throws.</summary>
    public void Dispose()
    {
        try
        {
            if (!Terminate(TimeSpan.FromSeconds(5)))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}

/// <summary>Runs programs directly (no shell), always with a deadline.</summary>
internal static class Shell
{
    public static CommandResult Run(string program, params string[] arguments) => Run(TimeSpan.FromSeconds(20), program, arguments);

    public static CommandResult Run(TimeSpan timeout, string program, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(program, arguments)) ?? throw new InvalidOperationException($"could not start {program}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        string command = $"{program} {string.Join(' ', arguments)}";
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            return new CommandResult(command, -1, output.IsCompleted ? output.Result : string.Empty, $"timed out after {timeout}");
        }

        process.WaitForExit();
        return new CommandResult(command, process.ExitCode, output.Result, errors.Result);
    }

    /// <summary>Runs and throws with everything the command said when it fails: for lab set-up steps.</summary>
    public static string Must(string program, params string[] arguments)
    {
        var result = Run(program, arguments);
        return result.Succeeded ? result.Output : throw new InvalidOperationException($"lab set-up failed: {result}");
    }

    public static BackgroundProcess Start(string name, string program, params string[] arguments)
    {
        var process = Process.Start(StartInfo(program, arguments)) ?? throw new InvalidOperationException($"could not start {program}");
        process.StandardInput.Close();
        return new BackgroundProcess(name, process);
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds or <paramref name="deadline"/> passes.</summary>
    public static bool WaitUntil(Func<bool> condition, TimeSpan deadline)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (condition())
            {
                return true;
            }

            if (stopwatch.Elapsed >= deadline)
            {
                return false;
            }

            Thread.Sleep(100);
        }
    }

    public static bool IsRoot() => Environment.UserName == "root" || GetEffectiveUserId() == 0;

    /// <summary>The dotnet host that runs these tests, to run exch-dsr.dll with the same runtime.</summary>
    public static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        return Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    /// <summary>The exch-dsr.dll the project reference copied beside the tests.</summary>
    public static string ExchDsrDll()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "exch-dsr.dll");
        if (File.Exists(beside))
        {
            return beside;
        }

        var configuration = typeof(Shell).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        throw new FileNotFoundException($"exch-dsr.dll is not beside the tests in {AppContext.BaseDirectory}; build tests/Exch.Dsr.Lab.Tests -c {configuration}");
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    private static ProcessStartInfo StartInfo(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["NO_COLOR"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return start;
    }
}
