using System.Collections.Concurrent;

namespace Exch.Dsr.Control.Tests;

/// <summary>
/// An <see cref="IClusterControl"/> that answers from fixed tables and records every call it gets. Shared with the
/// command-line tests of Exch.Dsr.Tests, which compile this file too.
/// </summary>
internal sealed class FakeClusterControl : IClusterControl
{
    public static readonly DateTimeOffset Started = new(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);

    public ConcurrentQueue<string> Calls { get; } = new();

    public TableFilter? LastFilter { get; private set; }

    /// <summary>When set, every call waits for it first: lets a test hold clients inside the server.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>What reload answers.</summary>
    public ControlResult ReloadResult { get; set; } = ControlResult.Success("configuration reloaded: 4 services, 2 servers");

    public Exception? Throw { get; set; }

    public ClusterStatus Status { get; } = new(
        "eth1",
        "ring",
        "/etc/exch-dsr/exch-dsr.toml",
        Started.AddMinutes(5),
        Started,
        [
            new ServiceStatus("outlook-rpc", "tcp", "10.0.0.100", "135,7575,7576", "wlc", TimeSpan.FromSeconds(300), 2,
            [
                new MemberStatus("CAS1", "10.0.0.11", "02:00:00:00:00:11", "up", "up", "tcp connect ok", 1, 12, 3, 1, 1000, 150_000, 1250, 2_400_000),
                new MemberStatus("CAS2", "10.0.0.12", null, "drained", "down", "tcp: connection refused (3 of 3)", 0, 0, 1, 1, 10, 600, 0, 0),
            ]),
            new ServiceStatus("smtp", "tcp", "10.0.0.100", "25", "lc", null, 0,
            [
                new MemberStatus("CAS1", "10.0.0.11", "02:00:00:00:00:11", "up", null, null, 1, 0, 0, 0, 0, 0, 0, 0),
            ]),
        ],
        new DataPlaneTotals(1010, 3, 7, 20, 0, 0, 16) { ConnectionCapacity = 2_097_152 });

    public IReadOnlyList<ConnectionRow> Connections { get; set; } =
    [
        new("tcp", "ESTABLISHED", TimeSpan.FromSeconds(899), "10.0.0.5:51234", "10.0.0.100:135", "CAS1", "outlook-rpc"),
        new("tcp", "FIN_WAIT", TimeSpan.FromSeconds(61), "10.0.0.6:40000", "10.0.0.100:7575", "CAS2", "outlook-rpc"),
    ];

    public IReadOnlyList<PersistenceRow> Persistence { get; } =
    [
        new("outlook-rpc", "10.0.0.5", "CAS1", TimeSpan.FromSeconds(300), 1),
        new("outlook-rpc", "10.0.0.6", "CAS2", TimeSpan.FromHours(4), 0),
    ];

    public async Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken)
    {
        await EnterAsync("status", cancellationToken);
        return Status;
    }

    public async Task<IReadOnlyList<ConnectionRow>> ListConnectionsAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        await EnterAsync("conns", cancellationToken);
        LastFilter = filter;
        return Connections;
    }

    public async Task<IReadOnlyList<PersistenceRow>> ListPersistenceAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        await EnterAsync("persist", cancellationToken);
        LastFilter = filter;
        return Persistence;
    }

    public async Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service, CancellationToken cancellationToken)
    {
        await EnterAsync($"{action} {server} {service ?? "*"}", cancellationToken);
        return server == "CAS9"
            ? ControlResult.Failure("no server 'CAS9'; servers are CAS1, CAS2")
            : ControlResult.Success($"{server} {action.ToString().ToLowerInvariant().TrimEnd('e')}ed in {service ?? "every service"}");
    }

    public async Task<ControlResult> SetWeightAsync(string server, int weight, string? service, CancellationToken cancellationToken)
    {
        await EnterAsync($"Weight {server} {weight} {service ?? "*"}", cancellationToken);
        return ControlResult.Success($"{server} weight {weight} in {service ?? "every service"}");
    }

    public async Task<ControlResult> ReloadAsync(CancellationToken cancellationToken)
    {
        await EnterAsync("reload", cancellationToken);
        return ReloadResult;
    }

    private async Task EnterAsync(string call, CancellationToken cancellationToken)
    {
        Calls.Enqueue(call);
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (Throw is { } exception)
        {
            throw exception;
        }
    }
}
