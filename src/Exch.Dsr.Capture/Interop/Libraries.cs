using System.Reflection;
using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

/// <summary>
/// Logical names of the native libraries this assembly binds to, and the one resolver that maps them to sonames.
/// </summary>
/// <remarks>
/// An assembly can register only one <see cref="DllImportResolver"/>, so both libraries go through this class.
/// Every P/Invoke class calls <see cref="EnsureResolver"/> from its static constructor, which runs before the first
/// import of that class is bound.
/// </remarks>
internal static class Libraries
{
    /// <summary>glibc. The bare name "libc.so" is a linker script on Debian, so the soname is spelled out.</summary>
    public const string Libc = "libc";

    /// <summary>libpcap, from the Debian package libpcap0.8 (soname libpcap.so.0.8, a link to libpcap.so.1.x).</summary>
    public const string LibPcap = "libpcap";

    /// <summary>The Debian package to name when libpcap cannot be loaded.</summary>
    public const string LibPcapPackage = "libpcap0.8";

    private static readonly string[] s_libcNames = ["libc.so.6", "libc.so"];
    private static readonly string[] s_libPcapNames = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

    private static int s_registered;

    public static void EnsureResolver()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(Libraries).Assembly, Resolve);
        }
    }

    /// <summary>Loads libpcap by its known sonames; false (with the names tried) when none is installed.</summary>
    public static bool TryLoadLibPcap(out nint handle, out string tried)
    {
        foreach (string name in s_libPcapNames)
        {
            if (NativeLibrary.TryLoad(name, out handle))
            {
                tried = name;
                return true;
            }
        }

        handle = 0;
        tried = string.Join(", ", s_libPcapNames);
        return false;
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string[]? candidates = libraryName switch
        {
            Libc => s_libcNames,
            LibPcap => s_libPcapNames,
            _ => null,
        };
        if (candidates is null)
        {
            return 0; // not ours: default probing
        }

        foreach (string name in candidates)
        {
            if (NativeLibrary.TryLoad(name, out nint handle))
            {
                return handle;
            }
        }

        if (libraryName == LibPcap)
        {
            throw new DllNotFoundException(
                $"libpcap is not installed (tried {string.Join(", ", s_libPcapNames)}); install the Debian package {LibPcapPackage}: apt-get install {LibPcapPackage}");
        }

        return 0;
    }
}
