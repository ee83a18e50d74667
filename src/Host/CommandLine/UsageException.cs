namespace IlgpuStyle.Host;

/// <summary>A problem with the user's input that they can fix; printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A run that went wrong after it started (a NaN loss, a result that could not be written): printed
/// as one line saying what was and was not saved, exit code 1.
/// </summary>
internal sealed class RunFailedException(string message) : Exception(message);
