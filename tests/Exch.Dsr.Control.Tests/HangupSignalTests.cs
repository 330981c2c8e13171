namespace Exch.Dsr.Control.Tests;

public sealed class HangupSignalTests
{
    [TestCase("SigIgn:\t0000000000000001", true, TestName = "nohup: SIGHUP's bit (bit 0) set")]
    [TestCase("SigIgn:\t0000000000001006", false, TestName = "SIGINT, SIGQUIT and SIGPIPE ignored, SIGHUP not")]
    [TestCase("SigIgn:\t0000000000000000", false, TestName = "nothing ignored")]
    [TestCase("SigIgn:\tzz", false, TestName = "an unreadable mask")]
    [TestCase("", false, TestName = "no SigIgn line")]
    public void ReadsSighupFromTheIgnoredMask(string line, bool ignored)
    {
        var status = $"Name:\texch-dsr\nState:\tS (sleeping)\nSigBlk:\t0000000000000001\n{line}\nSigCgt:\t0000000000000000\n";
        Assert.That(HangupSignal.IsIgnored(status), Is.EqualTo(ignored));
    }
}
