namespace IlgpuStyle.Weights;

/// <summary>
/// Conversion or download failed. The message is one line that names the file (or URL) and what is
/// wrong, ready to print after "error: "; no stack trace is ever needed to understand it.
/// </summary>
public sealed class ConverterException : Exception
{
    /// <summary>Creates the exception; <paramref name="message"/> is a single line.</summary>
    public ConverterException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the low-level error that revealed the problem.</summary>
    public ConverterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message (required by the exception pattern).</summary>
    public ConverterException()
    {
    }
}

/// <summary>
/// A problem inside a source file, described without the file's name (readers do not know how the
/// user spelled it); <see cref="WeightConverter"/> turns it into a <see cref="ConverterException"/>
/// that starts with the path.
/// </summary>
internal sealed class SourceFormatException(string problem) : Exception(problem)
{
}
