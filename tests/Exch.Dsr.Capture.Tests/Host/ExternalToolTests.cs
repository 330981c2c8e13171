using System.Diagnostics;
using Exch.Dsr.Capture.Host;

namespace Exch.Dsr.Capture.Tests.Host;

public sealed class ExternalToolTests
{
    private static readonly TimeSpan Ample = TimeSpan.FromSeconds(10);

    [Test]
    public void A_tool_is_found_on_the_path_and_a_missing_one_is_not()
    {
        Assert.That(ExternalTool.Find("sh"), Does.StartWith("/").And.EndWith("/sh"));
        Assert.That(ExternalTool.Find("exch-dsr-no-such-tool"), Is.Null);
    }

    [Test]
    public void Its_exit_code_output_errors_and_input_come_back_apart()
    {
        var run = ExternalTool.Run(ExternalTool.Find("sh")!, ["-c", "cat; echo said >&2; exit 3"], Ample, "typed\n");

        Assert.That(run, Is.EqualTo(new ToolRun(3, "typed\n", "said\n", TimedOut: false, StartError: null)));
        Assert.That(run.Succeeded, Is.False);
        Assert.That(ExternalTool.Run(ExternalTool.Find("sh")!, ["-c", "true"], Ample).Succeeded, Is.True);
    }

    [Test]
    public void One_that_does_not_finish_in_time_is_killed()
    {
        var clock = Stopwatch.StartNew();
        var run = ExternalTool.Run(ExternalTool.Find("sleep")!, ["30"], TimeSpan.FromMilliseconds(200));

        Assert.That((run.TimedOut, run.Succeeded), Is.EqualTo((true, false)));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "not waited for");
    }

    [Test]
    public void A_file_that_cannot_be_run_says_why()
    {
        var file = Path.GetTempFileName();
        try
        {
            var run = ExternalTool.Run(file, [], Ample);

            Assert.That(run.StartError, Is.Not.Null.And.Not.Empty);
            Assert.That((run.TimedOut, run.Succeeded), Is.EqualTo((false, false)));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
