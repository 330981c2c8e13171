using System.Net;
using System.Net.NetworkInformation;

namespace Exch.Dsr.Health;

/// <summary>
/// Whether an address is one of this host's now, read from the interfaces at most once a second. With
/// <c>own-vips = false</c> in an active/passive pair keepalived moves the VIP onto and off this appliance while the
/// checks run, and a DSR-path probe must not be sent to a VIP the host itself holds: the host's local route would take
/// it, and nothing of the host listens there.
/// </summary>
internal sealed class LocalAddresses(TimeProvider timeProvider, Func<IReadOnlySet<IPAddress>>? read = null)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    private readonly Func<IReadOnlySet<IPAddress>> _read = read ?? ReadInterfaces;
    private Reading? _latest;

    /// <param name="fresh">Read the interfaces now, whatever the age of the last reading.</param>
    public bool Contains(IPAddress address, bool fresh = false)
    {
        var now = timeProvider.GetTimestamp();
        var latest = Volatile.Read(ref _latest);
        if (fresh || latest is null || timeProvider.GetElapsedTime(latest.At, now) >= MaxAge)
        {
            latest = new Reading(now, _read());
            Volatile.Write(ref _latest, latest);
        }

        return latest.Addresses.Contains(address);
    }

    private static HashSet<IPAddress> ReadInterfaces() =>
        NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address).ToHashSet();

    private sealed record Reading(long At, IReadOnlySet<IPAddress> Addresses);
}
