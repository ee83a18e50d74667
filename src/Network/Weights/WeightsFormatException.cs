namespace IlgpuStyle.Network.Weights;

/// <summary>
/// A weights file is missing, malformed, or does not describe a VGG network this project can run.
/// The message is one line that names the file and the problem, so a console can print it as is.
/// </summary>
public sealed class WeightsFormatException : Exception
{
    /// <summary>Creates the exception; <paramref name="message"/> is a single line.</summary>
    public WeightsFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the low-level error that revealed the problem.</summary>
    public WeightsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message (required by the exception pattern).</summary>
    public WeightsFormatException()
    {
    }
}
