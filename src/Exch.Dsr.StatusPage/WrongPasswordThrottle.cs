using System.Net;

namespace Exch.Dsr.StatusPage;

/// <summary>
/// Slows password guessing on the status page: after <see cref="MaxFailures"/> wrong passwords from one address within
/// <see cref="Window"/>, that address is refused without its password being checked until the window has passed.
/// Bounded: at most <see cref="MaxAddresses"/> addresses are tracked (expired ones are dropped first, then the oldest).
/// </summary>
internal sealed class WrongPasswordThrottle(TimeProvider time)
{
    public const int MaxFailures = 5;
    public const int MaxAddresses = 4096;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, (int Failures, DateTimeOffset Since)> _byAddress = [];

    /// <summary>How long <paramref name="address"/> is still refused, or null when it may try.</summary>
    public TimeSpan? Blocked(IPAddress address)
    {
        lock (_lock)
        {
            if (!_byAddress.TryGetValue(address, out var entry))
            {
                return null;
            }

            var left = entry.Since + Window - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                _byAddress.Remove(address);
                return null;
            }

            return entry.Failures >= MaxFailures ? left : null;
        }
    }

    public void Failed(IPAddress address)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_byAddress.TryGetValue(address, out var entry) && entry.Since + Window > now)
            {
                _byAddress[address] = (entry.Failures + 1, entry.Since);
                return;
            }

            if (_byAddress.Count >= MaxAddresses)
            {
                MakeRoom(now);
            }

            _byAddress[address] = (1, now);
        }
    }

    public void Succeeded(IPAddress address)
    {
        lock (_lock)
        {
            _byAddress.Remove(address);
        }
    }

    private void MakeRoom(DateTimeOffset now)
    {
        foreach (var (address, entry) in _byAddress)
        {
            if (entry.Since + Window <= now)
            {
                _byAddress.Remove(address);
            }
        }

        if (_byAddress.Count >= MaxAddresses)
        {
            _byAddress.Remove(_byAddress.MinBy(e => e.Value.Since).Key);
        }
    }
}
