using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Interop;

/// <summary>A file descriptor (socket, eventfd, namespace file) closed exactly once, after its last user released it.</summary>
internal sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor()
        : base(-1, ownsHandle: true)
    {
    }

    public SafeFileDescriptor(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor number; only meaningful while a reference is held.</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}

/// <summary>An mmap'ed region, unmapped after its last user released it.</summary>
internal sealed class SafeMappedMemory : SafeHandle
{
    public SafeMappedMemory(nint address, nuint length)
        : base(Libc.MAP_FAILED, ownsHandle: true)
    {
        Length = length;
        SetHandle(address);
    }

    public nuint Length { get; }

    public override bool IsInvalid => handle == Libc.MAP_FAILED || handle == 0;

    protected override bool ReleaseHandle() => Libc.Munmap(handle, Length) == 0;
}

/// <summary>Memory from NativeMemory.AlignedAlloc, freed after its last user released it.</summary>
internal sealed unsafe class SafeNativeMemory : SafeHandle
{
    public SafeNativeMemory(nuint length, nuint alignment)
        : base(0, ownsHandle: true)
    {
        SetHandle((nint)NativeMemory.AlignedAlloc(length, alignment));
        Length = length;
    }

    public nuint Length { get; }

    public byte* Pointer => (byte*)handle;

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
