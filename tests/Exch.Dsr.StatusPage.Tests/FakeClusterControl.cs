using System.Collections.Concurrent;
using Exch.Dsr.Control;

namespace Exch.Dsr.StatusPage.Tests;

/// <summary>
/// A cluster of two services sharing CAS1 and CAS2, whose admin changes act on the status it reports, so a test sees
/// a drain come back as DRAINED. Every call is recorded; <see cref="Failure"/> makes every call throw it.
/// </summary>
internal sealed class FakeClusterControl : IClusterControl
{
    private readonly Lock _lock = new();
    private ClusterStatus _status = Initial();

    public ConcurrentQueue<string> Calls { get; } = new();

    public TableFilter? LastFilter { get; private set; }

    public Exception? Failure { get; set; }

    /// <summary>When set, each call waits for it first (a hung data plane).</summary>
    public TaskCompletionSource? Gate { get; set; }

    public ControlResult ReloadResult { get; set; } = ControlResult.Success("configuration reloaded: no changes");

    public IReadOnlyList<ConnectionRow> Connections { get; set; } =
    [
        new("tcp", "ESTABLISHED", TimeSpan.FromMinutes(14), "192.0.2.7:50123", "10.0.0.10:443", "CAS1", "owa-https"),
        new("tcp", "FIN_WAIT", TimeSpan.FromSeconds(90), "192.0.2.8:50200", "10.0.0.10:443", "CAS2", "owa-https"),
    ];

    public IReadOnlyList<PersistenceRow> Persistence { get; set; } =
    [
        new("owa-https", "192.0.2.7", "CAS1", TimeSpan.FromHours(4), 1),
    ];

    public ClusterStatus Status
    {
        get { lock (_lock) { return _status; } }
    }

    public void Replace(Func<ClusterStatus, ClusterStatus> change)
    {
        lock (_lock)
        {
            _status = change(_status);
        }
    }

    public async Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken)
    {
        await Enter("status", cancellationToken);
        return Status;
    }

    public async Task<IReadOnlyList<ConnectionRow>> ListConnectionsAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        await Enter("connections", cancellationToken);
        LastFilter = filter;
        return Connections;
    }

    public async Task<IReadOnlyList<PersistenceRow>> ListPersistenceAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        await Enter("persistence", cancellationToken);
        LastFilter = filter;
        return Persistence;
    }

    public async Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service, CancellationToken cancellationToken)
    {
        await Enter($"{action} {server} {service ?? "*"}", cancellationToken);
        var state = action switch { AdminAction.Drain => "drained", AdminAction.Disable => "disabled", _ => "up" };
        Change(server, service, m => m with { State = state });
        return ControlResult.Success($"{server} {state} in {service ?? "every service"}");
    }

    public async Task<ControlResult> SetWeightAsync(string server, int weight, string? service, CancellationToken cancellationToken)
    {
        await Enter($"Weight {server} {weight} {service ?? "*"}", cancellationToken);
        Change(server, service, m => m with { Weight = weight });
        return ControlResult.Success($"{server} weight {weight} in {service ?? "every service"}");
    }

    public async Task<ControlResult> ReloadAsync(CancellationToken cancellationToken)
    {
        await Enter("Reload", cancellationToken);
        return ReloadResult;
    }

    private async Task Enter(string call, CancellationToken cancellationToken)
    {
        Calls.Enqueue(call);
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (Failure is { } failure)
        {
            throw failure;
        }
    }

    private void Change(string server, string? service, Func<MemberStatus, MemberStatus> change)
    {
        lock (_lock)
        {
            _status = _status with
            {
                Services = _status.Services.Select(s => service is not null && s.Name != service ? s : s with
                {
                    Members = s.Members.Select(m => m.Server == server ? change(m) : m).ToList(),
                }).ToList(),
            };
        }
    }

    private static ClusterStatus Initial()
    {
        MemberStatus Cas1() => new("CAS1", "10.0.0.11", "02:00:0a:00:00:0b", "up", "up", "https /owa: 200, body has 'utlook'",
            1, 12, 3, 7, 123_456, 98_765_432, 150.5, 2_400_000);
        MemberStatus Cas2() => new("CAS2", "10.0.0.12", null, "unresolved", "down", "https /owa: connection refused (3 of 3)",
            2, 0, 0, 0, 0, 0, 0, 0);
        return new ClusterStatus(
            "eth1",
            "ring",
            "/etc/exch-dsr/exch-dsr.toml",
            new DateTimeOffset(2026, 11, 24, 9, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero),
            [
                new ServiceStatus("owa-https", "tcp", "10.0.0.10", "443", "wlc", TimeSpan.FromHours(4), 7, [Cas1(), Cas2()]),
                new ServiceStatus("smtp", "tcp", "10.0.0.10", "25", "lc", null, 0, [Cas1(), Cas2()]),
            ],
            new DataPlaneTotals(1_000_000, 12, 40, 300, 0, 0, 15));
    }
}
