using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

public sealed class VlanTagTests
{
    [Test]
    public void The_tag_goes_back_between_the_source_mac_and_the_ethertype()
    {
        byte[] tagged = LabFrames.Tagged(7, tci: 0xA00A);
        byte[] untagged = [.. tagged.AsSpan(0, 12), .. tagged.AsSpan(16)]; // what veth leaves in the frame bytes
        byte[] buffer = [0xEE, 0xEE, 0xEE, 0xEE, .. untagged];             // with the ring's 4 reserved bytes in front

        VlanTag.InsertInPlace(buffer, VlanTag.Ieee8021QTpid, 0xA00A);

        Assert.That(buffer, Is.EqualTo(tagged));
    }
}
