namespace Exch.Dsr.Capture.Files;

/// <summary>LINKTYPE_ values from the tcpdump.org registry, as stored in capture files.</summary>
public static class LinkTypes
{
    public const int Ethernet = 1;

    /// <summary>The registry name of a link type (without the LINKTYPE_ prefix), or null for one not in this short list.</summary>
    public static string? NameOf(int linkType) => linkType switch
    {
        0 => "NULL",
        1 => "ETHERNET",
        6 => "IEEE802_5",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        101 => "RAW",
        104 => "C_HDLC",
        105 => "IEEE802_11",
        108 => "LOOP",
        113 => "LINUX_SLL",
        119 => "IEEE802_11_PRISM",
        127 => "IEEE802_11_RADIOTAP",
        192 => "PPI",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        239 => "NFLOG",
        253 => "NETLINK",
        276 => "LINUX_SLL2",
        _ => null,
    };

    internal static string NotEthernet(int linkType)
    {
        string? name = NameOf(linkType);
        string described = name is null ? $"link type {linkType}" : $"link type {linkType} ({name})";
        // The cooked headers are what tcpdump and dumpcap write for "-i any", the usual way to end up here.
        string hint = linkType is 113 or 276
            ? "capture with -i <interface>, not -i any"
            : $"only Ethernet captures (link type {Ethernet}) can be replayed";
        return $"{described} is not Ethernet; {hint}";
    }
}
