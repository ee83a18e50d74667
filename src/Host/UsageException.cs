namespace IlgpuStyle.Host;

/// <summary>A problem with the user's input that they can fix; printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
