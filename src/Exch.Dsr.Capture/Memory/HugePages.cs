using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.Memory;

/// <summary>
/// Transparent huge pages for the forwarding engine's connection table. At a million clients every lookup reads a
/// random line of a 128 MiB table: with 4 KiB pages it also misses the TLB and walks the page tables (on a virtual
/// machine, the guest's and the host's), with 2 MiB pages the whole table is 64 TLB entries. On the lab VM a known
/// client's frame at a million clients took 81-90 ns with them against 90-121 ns without (RESULTS.md §4).
/// </summary>
public static class HugePages
{
    /// <summary>The huge page size on x86-64.</summary>
    public const int Size = 2 << 20;

    /// <summary>The kernel's system-wide setting: <c>always</c>, <c>madvise</c> (only where asked) or <c>never</c>.</summary>
    public const string SettingPath = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>
    /// Asks the kernel to back the whole 2 MiB pages inside [<paramref name="address"/>, + <paramref name="length"/>)
    /// with huge pages (<c>madvise(MADV_HUGEPAGE)</c>). Call it before the memory is first written: a page already
    /// faulted in stays small until the kernel's background collapse gets to it. False when the range holds no whole
    /// huge page or the kernel refused (built without transparent huge pages); the memory works either way.
    /// </summary>
    public static bool Request(nint address, nuint length)
    {
        nint start = (address + Size - 1) & ~(nint)(Size - 1);
        nint end = (address + (nint)length) & ~(nint)(Size - 1);
        return end > start && Libc.Madvise(start, (nuint)(end - start), Libc.MADV_HUGEPAGE) == 0;
    }

    /// <summary>The selected word of <paramref name="settingText"/> (<c>always [madvise] never</c> → <c>madvise</c>), or null.</summary>
    public static string? SelectedMode(string settingText)
    {
        int open = settingText.IndexOf('[', StringComparison.Ordinal);
        int close = open < 0 ? -1 : settingText.IndexOf(']', open + 1);
        return close > open + 1 ? settingText[(open + 1)..close] : null;
    }
}
