using System.Text.Json;
using System.Text.Json.Serialization;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>One row of the report: the losses at one iteration of the <c>--print-every</c> schedule.
/// In a coarse-to-fine run, <see cref="Scale"/> is the 0-based scale and the iteration counts within it;
/// a plain run leaves the key out. With masks, <see cref="Regions"/> is each region's style loss (in the
/// order of the masks; they sum to <c>style</c>); without, the key is left out.</summary>
internal sealed record IterationRecord(
    [property: JsonPropertyName("iteration")] int Iteration,
    [property: JsonPropertyName("total")] double Total,
    [property: JsonPropertyName("content")] double Content,
    [property: JsonPropertyName("style")] double Style,
    [property: JsonPropertyName("tv")] double Tv,
    [property: JsonPropertyName("ms")] double Ms,
    [property: JsonPropertyName("scale"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    int? Scale = null,
    [property: JsonPropertyName("regions"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<double>? Regions = null);

/// <summary>The four losses of SPEC.md at one point, and with masks each region's style loss.</summary>
internal sealed record LossRecord(
    [property: JsonPropertyName("total")] double Total,
    [property: JsonPropertyName("content")] double Content,
    [property: JsonPropertyName("style")] double Style,
    [property: JsonPropertyName("tv")] double Tv,
    [property: JsonPropertyName("regions"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<double>? Regions = null);

/// <summary>How a tiled scale was evaluated (SPEC.md, "Extensions": tiling changes no other key): the grid
/// [rows, columns], the side of a tile's core and its halo, in pixels.</summary>
internal sealed record TileRecord(
    [property: JsonPropertyName("grid")] int[] Grid,
    [property: JsonPropertyName("core")] int Core,
    [property: JsonPropertyName("halo")] int Halo)
{
    /// <summary>The record of a scale's tiles; null when the scale is evaluated whole.</summary>
    public static TileRecord? Of(TileGrid? tiles) =>
        tiles is { } t ? new TileRecord([t.Rows, t.Columns], t.Core, t.Halo) : null;
}

/// <summary>One scale of a coarse-to-fine run (SPEC.md, "Extensions"): its image size [H, W], the
/// iterations it ran, its seconds (setup included) and the losses at its last iteration; <c>tiles</c> only when
/// the scale was tiled.</summary>
internal sealed record ScaleRecord(
    [property: JsonPropertyName("size")] int[] Size,
    [property: JsonPropertyName("iterations")] int Iterations,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("final")] LossRecord Final,
    [property: JsonPropertyName("tiles"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    TileRecord? Tiles = null);

/// <summary>The <c>--report</c> JSON of SPEC.md ("What a run reports"), plus <c>stop</c>: how the
/// optimization ended ("iterations done", "converged", "non-finite loss", "interrupted"); a
/// coarse-to-fine run adds <see cref="Scales"/> (SPEC.md, "Extensions"), and a tiled plain run
/// <see cref="Tiles"/>.</summary>
internal sealed record RunReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("size")] int[] Size,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("iterations")] IReadOnlyList<IterationRecord> Iterations,
    [property: JsonPropertyName("peak_device_bytes")] long PeakDeviceBytes,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("stop")] string Stop,
    [property: JsonPropertyName("scales"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<ScaleRecord>? Scales = null,
    [property: JsonPropertyName("tiles"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    TileRecord? Tiles = null)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>How the optimization ended, as <c>stop</c> says it, from its last step, the last scale's
    /// iterations and whether it was interrupted.</summary>
    public static string Outcome(OptimizerStep last, int iterations, bool interrupted) =>
        interrupted ? "interrupted"
        : last.Stop == StopReason.NonFinite ? "non-finite loss"
        : last.Iteration >= iterations || last.Stop == StopReason.MaxIterations ? "iterations done"
        : "converged";

    /// <summary>Writes the report to a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public void SaveAtomically(string path)
    {
        string full = FileIdentity.OutputPath(path); // where the checks looked
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
