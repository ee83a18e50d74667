namespace IlgpuStyle.Host;

/// <summary>What <c>ilgpu-style</c> returns to the shell (besides 0, and 130/143 after Ctrl-C or SIGTERM).</summary>
internal static class ExitCodes
{
    /// <summary>A run that completed but found a problem (a failed check, a loss that became NaN, a result that
    /// could not be written).</summary>
    public const int Failed = 1;

    /// <summary>A request that could not be carried out (bad input, no such device).</summary>
    public const int Usage = 2;
}
