namespace Exch.Dsr.Engine.Forwarding;

/// <summary>Table capacities and per-call work budgets of one engine; everything is allocated at construction.</summary>
public sealed record ForwardingEngineOptions
{
    /// <summary>Connection entries (64 bytes each): 1M entries is 64 MiB.</summary>
    public int ConnectionCapacity { get; init; } = 1 << 20;

    public int FragmentCapacity { get; init; } = 4096;

    public TimeSpan FragmentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Connection slots examined for expiry per processed frame.</summary>
    public int ConnectionSweepBudget { get; init; } = 8;

    /// <summary>Persistence entries examined for expiry per processed frame (one service per frame, in turn).</summary>
    public int PersistenceSweepBudget { get; init; } = 4;
}
