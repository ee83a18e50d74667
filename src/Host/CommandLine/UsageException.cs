namespace IlgpuStyle.Host;

/// <summary>A problem with the user's input that they can fix; printed as one line, exit code 2.</summary>
/// <param name="message">What is wrong and what to do.</param>
/// <param name="fixes">The changes to the command line the message advises, where it names them (the planner's);
/// a test follows each.</param>
internal sealed class UsageException(string message, IReadOnlyList<RunFix>? fixes = null) : Exception(message)
{
    /// <summary>The changes the message advises, each enough on its own; empty when it names none.</summary>
    public IReadOnlyList<RunFix> Fixes { get; } = fixes ?? [];
}

/// <summary>
/// A run that went wrong after it started (a NaN loss, a result that could not be written): printed
/// as one line saying what was and was not saved, exit code 1.
/// </summary>
internal sealed class RunFailedException(string message) : Exception(message);
