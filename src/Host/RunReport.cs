using System.Text.Json;
using System.Text.Json.Serialization;

namespace IlgpuStyle.Host;

/// <summary>One row of the report: the losses at one iteration of the <c>--print-every</c> schedule.</summary>
internal sealed record IterationRecord(
    [property: JsonPropertyName("iteration")] int Iteration,
    [property: JsonPropertyName("total")] double Total,
    [property: JsonPropertyName("content")] double Content,
    [property: JsonPropertyName("style")] double Style,
    [property: JsonPropertyName("tv")] double Tv,
    [property: JsonPropertyName("ms")] double Ms);

/// <summary>The <c>--report</c> JSON of SPEC.md ("What a run reports").</summary>
internal sealed record RunReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("size")] int[] Size,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("iterations")] IReadOnlyList<IterationRecord> Iterations,
    [property: JsonPropertyName("peak_device_bytes")] long PeakDeviceBytes,
    [property: JsonPropertyName("seconds")] double Seconds)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the report to a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public void SaveAtomically(string path)
    {
        string full = Path.GetFullPath(path);
        string temp = full + $".{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(this, Indented));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
