using System.Diagnostics;
using System.Globalization;
using System.Text;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.Health.Probes;

/// <summary>
/// Runs <c>program</c> without a shell: the command line is split into arguments first (whitespace separates,
/// single or double quotes group, backslash escapes inside double quotes), then %h, %p and %v are substituted in
/// each argument, so an address can never split or inject one. Without <c>expect</c>, exit code 0 means healthy;
/// with it, healthy means its standard output contains <c>expect</c> (Piranha's nanny, whose OWA script echoes OK),
/// whatever the exit code. On timeout the whole process tree is killed, so a hung script cannot pile up.
/// </summary>
internal sealed class ExecProbe : IHealthProbe
{
    /// <summary>Standard output kept for the expect match; the rest is read and dropped so the program never blocks.</summary>
    internal const int MaxOutputBytes = 64 * 1024;

    private readonly HealthCheckConfig _check;
    private readonly IReadOnlyList<string> _arguments;

    public ExecProbe(HealthCheckConfig check)
    {
        _check = check;
        _arguments = Split(check.Program ?? throw new ArgumentException("an exec check needs a program", nameof(check)));
        if (_arguments.Count == 0)
        {
            throw new ArgumentException("an exec check needs a program", nameof(check));
        }
    }

    public async ValueTask<ProbeResult> ProbeAsync(ProbeTarget target, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(Substitute(_arguments[0], target))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in _arguments.Skip(1))
        {
            startInfo.ArgumentList.Add(Substitute(argument, target));
        }

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new ProbeResult(false, $"cannot start: {ex.Message}");
        }

        process.StandardInput.Close();
        // Both pipes are drained so a chatty program never blocks on a full pipe; only stdout's start is kept.
        var output = new BoundedOutput(MaxOutputBytes);
        var drainOut = output.ReadAsync(process.StandardOutput.BaseStream);
        var drainErr = process.StandardError.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(_check.Timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return new ProbeResult(false, $"timed out after {HealthProbes.FormatDuration(_check.Timeout)}");
        }
        finally
        {
            // The pipes end when the last holder exits; a grandchild keeping them open must not hold the probe.
            await Task.WhenAny(Task.WhenAll(drainOut, drainErr), Task.Delay(100, CancellationToken.None)).ConfigureAwait(false);
        }

        var exitCode = string.Create(CultureInfo.InvariantCulture, $"exit code {process.ExitCode}");
        if (string.IsNullOrEmpty(_check.Expect))
        {
            return new ProbeResult(process.ExitCode == 0, exitCode);
        }

        return output.Text().Contains(_check.Expect, StringComparison.Ordinal)
            ? new ProbeResult(true, $"output has '{_check.Expect}'")
            : new ProbeResult(false, $"output lacks '{_check.Expect}' ({exitCode})");
    }

    private static string Substitute(string argument, ProbeTarget target) => argument
        .Replace("%h", target.Address.ToString(), StringComparison.Ordinal)
        .Replace("%p", target.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("%v", target.Vip.ToString(), StringComparison.Ordinal);

    internal static IReadOnlyList<string> Split(string commandLine)
    {
        var arguments = new List<string>();
        var current = new StringBuilder();
        var inArgument = false;
        var quote = '\0';
        for (var i = 0; i < commandLine.Length; i++)
        {
            var c = commandLine[i];
            if (quote == '\0' && char.IsWhiteSpace(c))
            {
                if (inArgument)
                {
                    arguments.Add(current.ToString());
                    current.Clear();
                    inArgument = false;
                }

                continue;
            }

            inArgument = true;
            if (quote == '\0' && c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == quote)
            {
                quote = '\0';
            }
            else if (c == '\\' && quote == '"' && i + 1 < commandLine.Length && commandLine[i + 1] is '"' or '\\')
            {
                current.Append(commandLine[++i]);
            }
            else
            {
                current.Append(c);
            }
        }

        if (inArgument)
        {
            arguments.Add(current.ToString());
        }

        return arguments;
    }
}

/// <summary>
/// The first bytes of a stream, kept while the rest is read and dropped. The text can be taken while a reader still
/// runs (a grandchild holding the pipe open), hence the lock.
/// </summary>
internal sealed class BoundedOutput(int limit)
{
    private readonly byte[] _kept = new byte[limit];
    private readonly Lock _lock = new();
    private int _length;

    public async Task ReadAsync(Stream stream)
    {
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
        {
            lock (_lock)
            {
                var take = Math.Min(read, _kept.Length - _length);
                buffer.AsSpan(0, take).CopyTo(_kept.AsSpan(_length));
                _length += take;
            }
        }
    }

    /// <summary>Latin-1 keeps every byte one char, so no match is lost to a bad UTF-8 sequence.</summary>
    public string Text()
    {
        lock (_lock)
        {
            return Encoding.Latin1.GetString(_kept, 0, _length);
        }
    }
}
