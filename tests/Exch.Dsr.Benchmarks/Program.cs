using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Exch.Dsr.Benchmarks;

// exch-dsr benchmarks. Modes:
//   (default)                       BenchmarkDotNet: dotnet run -c Release --project tests/Exch.Dsr.Benchmarks -- --filter '*'
//   --memory                        bytes per persistence / connection entry at 1,000,000 entries
//   --make-capture PATH N [CLIENTS] a synthetic capture for replay-vs-tcprewrite.sh
// After a BenchmarkDotNet run every benchmark is held to its allocation budget (0 bytes per frame / per pick);
// the exit code is 1 if one is over, so CI can fail on it.
switch (args)
{
    case ["--memory", ..]:
        return MemoryReport.Run();
    case ["--make-capture", var path, var count, .. var rest]:
        return CaptureMaker.Run(path, long.Parse(count), rest is [var clients, ..] ? int.Parse(clients) : 50_000);
}

var hasJob = args.Any(a => a is "--job" or "-j");
IConfig config = DefaultConfig.Instance
    .AddDiagnoser(MemoryDiagnoser.Default)
    // Artifacts (logs, generated projects, reports) go to the temp directory, never into the repository.
    .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "exch-dsr-benchmarks"))
    .WithOption(ConfigOptions.JoinSummary, true);
if (!hasJob)
{
    // A short but real job for a shared 2-vCPU machine: 3 warm-up and 10 measured iterations, one process each.
    config = config.AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithId("exch-dsr"));
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
return AllocationBudget.Check(summaries);

/// <summary>Every benchmark here measures the packet path (or a piece of it), whose budget is zero bytes per operation.</summary>
internal static class AllocationBudget
{
    public static int Check(IEnumerable<Summary> summaries)
    {
        var failed = 0;
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var perOperation = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            var name = report.BenchmarkCase.DisplayInfo;
            if (!report.Success || perOperation is null)
            {
                Console.WriteLine($"allocation budget: {name}: no result");
                failed++;
            }
            else if (perOperation > 0)
            {
                Console.WriteLine($"allocation budget: {name}: {perOperation} B/op, budget 0 B/op: OVER");
                failed++;
            }
            else
            {
                Console.WriteLine($"allocation budget: {name}: 0 B/op: ok");
            }
        }

        return failed == 0 ? 0 : 1;
    }
}
