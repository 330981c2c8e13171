using System.Globalization;
using System.Runtime.InteropServices;
using Exch.Dsr.Capture.Memory;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Memory;

public sealed class HugePagesTests
{
    [TestCase("always [madvise] never", "madvise")]
    [TestCase("[always] madvise never", "always")]
    [TestCase("always madvise [never]\n", "never")]
    [TestCase("no brackets here", null)]
    [TestCase("[]", null)]
    public void The_selected_mode_is_the_bracketed_word(string text, string? mode) =>
        Assert.That(HugePages.SelectedMode(text), Is.EqualTo(mode));

    [Test]
    public void The_start_up_check_warns_when_huge_pages_are_off_and_says_how_to_turn_them_on()
    {
        StartupCheck off = InterfaceChecks.CheckHugePages("always madvise [never]");
        StartupCheck asked = InterfaceChecks.CheckHugePages("always [madvise] never");
        StartupCheck unknown = InterfaceChecks.CheckHugePages(null);

        Assert.That((off.Status, off.Remedy), Is.EqualTo((CheckStatus.Warning, "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled")));
        Assert.That(asked.Status, Is.EqualTo(CheckStatus.Ok), asked.Message);
        Assert.That(unknown.Status, Is.EqualTo(CheckStatus.Unknown));
    }

    [Test]
    public void A_requested_table_is_backed_by_huge_pages_once_written()
    {
        string? mode = File.Exists(HugePages.SettingPath) ? HugePages.SelectedMode(File.ReadAllText(HugePages.SettingPath)) : null;
        if (mode is not ("always" or "madvise"))
        {
            Assert.Ignore($"transparent huge pages are '{mode ?? "unavailable"}' on this machine ({HugePages.SettingPath})");
        }

        // Like the engine's connection slots: a pinned managed array, asked for before it is first written.
        byte[] table = GC.AllocateArray<byte>(16 << 20, pinned: true);
        nint address = Marshal.UnsafeAddrOfPinnedArrayElement(table, 0);
        Assert.That(HugePages.Request(address, (nuint)table.Length), Is.True, "madvise(MADV_HUGEPAGE)");
        for (int i = 0; i < table.Length; i += 4096)
        {
            table[i] = 1;
        }

        long hugeKb = HugeKilobytesWithin(address, address + table.Length);
        Assert.That(hugeKb, Is.GreaterThanOrEqualTo(2048), "at least one 2 MiB page of the 16 MiB is huge");
        GC.KeepAlive(table);
    }

    [Test]
    public void A_range_without_a_whole_huge_page_is_not_asked_for() =>
        Assert.That(HugePages.Request(HugePages.Size + 4096, HugePages.Size - 8192), Is.False);

    /// <summary>AnonHugePages of the mappings of /proc/self/smaps that lie inside [start, end).</summary>
    private static long HugeKilobytesWithin(nint start, nint end)
    {
        long total = 0;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && long.TryParse(line[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long from)
                && long.TryParse(line[(dash + 1)..space], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long to))
            {
                inside = from >= start && to <= end;
            }
            else if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
            {
                total += long.Parse(line["AnonHugePages:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}
