namespace Exch.Dsr;

/// <summary>Process exit codes shared by every command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>A run-time failure that is not the user's input (I/O error, missing privilege).</summary>
    public const int Failure = 1;

    /// <summary>Bad arguments, a bad configuration file or a bad input file.</summary>
    public const int Usage = 2;
}
