using System.Globalization;
using Exch.Dsr.Control.Interop;

namespace Exch.Dsr.Control;

/// <summary>
/// SIGHUP is how systemd (ExecReload) and operators ask for a reload. A process started with SIGHUP ignored (under
/// <c>nohup</c>, or by a supervisor that ignores it) inherits that, and .NET then never delivers the signal to a
/// <see cref="System.Runtime.InteropServices.PosixSignalRegistration"/>: every reload request would vanish without a
/// word. Like nginx and HAProxy, exch-dsr takes SIGHUP back before registering its handler.
/// </summary>
public static class HangupSignal
{
    /// <summary>
    /// Restores SIGHUP's default disposition if it is ignored (the handler registered next then replaces it).
    /// True when it was ignored. Reads <c>/proc/self/status</c>; false where that cannot be read.
    /// </summary>
    public static bool TakeBackIfIgnored()
    {
        if (!IsIgnored(ReadStatus()))
        {
            return false;
        }

        Libc.Signal(Libc.SIGHUP, Libc.SIG_DFL);
        return true;
    }

    /// <summary>
    /// Whether the <c>SigIgn:</c> line of a <c>/proc/PID/status</c> text (a hexadecimal mask, bit n − 1 for signal
    /// n) has SIGHUP's bit set.
    /// </summary>
    public static bool IsIgnored(string? status)
    {
        foreach (var line in (status ?? string.Empty).Split('\n'))
        {
            if (line.StartsWith("SigIgn:", StringComparison.Ordinal)
                && ulong.TryParse(line.AsSpan("SigIgn:".Length).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask))
            {
                return (mask & (1UL << (Libc.SIGHUP - 1))) != 0;
            }
        }

        return false;
    }

    private static string? ReadStatus()
    {
        try
        {
            return File.ReadAllText("/proc/self/status");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
