using System.Globalization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>
/// The run's own device vectors at one scale, each the size of x (n floats): what the run allocates around the
/// objective. The one place their bytes are summed; each optimizer states its own layout
/// (<see cref="LbfgsOptimizer.RequiredBytes"/>, <see cref="AdamOptimizer.RequiredBytes"/>).
/// </summary>
/// <param name="X">x itself.</param>
/// <param name="Average">With <c>--average-decay</c>, the average of the iterates.</param>
/// <param name="Previous">In a coarse-to-fine run, what the previous scale hands over while this one is built
/// (its image and Adam's moments). That scale is smaller: its bytes are bounded here by this scale's.</param>
/// <param name="Optimizer">The optimizer's vectors: the gradient, scratch, and L-BFGS's history (2 per curvature
/// pair) or Adam's moments.</param>
internal sealed record RunVectors(long X, long Average, long Previous, long Optimizer)
{
    /// <summary>Everything but the optimizer's state.</summary>
    public long ImageSized => X + Average + Previous;

    /// <summary>All of them.</summary>
    public long Total => ImageSized + Optimizer;

    /// <summary>The vectors of a run with <paramref name="o"/>'s optimizer, average and scales, for an x of
    /// <paramref name="n"/> floats.</summary>
    public static RunVectors Of(RunOptions o, int n)
    {
        long x = sizeof(float) * (long)n;
        long adam = AdamOptimizer.RequiredBytes(n);
        return new RunVectors(x,
            o.AverageDecay > 0 ? IterateAverage.RequiredBytes(n) : 0,
            o.MultiScale ? x + (o.Optimizer == OptimizerKind.Adam ? adam : 0) : 0,
            o.Optimizer == OptimizerKind.Lbfgs ? LbfgsOptimizer.RequiredBytes(n, o.Lbfgs.HistorySize) : adam);
    }
}

/// <summary>A run's device bytes at one scale, by part (<c>--dry-run</c> prints them).</summary>
/// <param name="Weights">The network's weights on the device (and transposed copies where a GPU kernel reads
/// them so).</param>
/// <param name="Tile">One network's activations, masks and gradient buffers: the whole image's when untiled, one
/// tile's (with its input and the buffers of the positions it owns) when tiled; or, when that is more, what a
/// style image's network holds while it captures the targets.</param>
/// <param name="ImageSized">x, the average of the iterates, in a coarse-to-fine run what the previous scale
/// hands over while this one is built, and luminance-only the grey network input and its gradient.</param>
/// <param name="Optimizer">The optimizer's vectors (<see cref="RunVectors.Optimizer"/>).</param>
/// <param name="Targets">The content targets (the content layers' activations over the whole image) and the
/// style Gram targets.</param>
/// <param name="Loss">The loss scalars, each style layer's G and dG, the gradient normaliser's buffers.</param>
internal sealed record PlannedBytes(long Weights, long Tile, long ImageSized, long Optimizer, long Targets, long Loss)
{
    /// <summary>Everything the scale holds at its peak.</summary>
    public long Total => Weights + Tile + ImageSized + Optimizer + Targets + Loss;

    /// <summary>The objective's bytes and the run's vectors around it, by part. The peak beyond what the objective
    /// holds comes from a network capturing targets: network memory too, gone when the objective's own network is
    /// built.</summary>
    public static PlannedBytes Of(ObjectiveMemory objective, RunVectors vectors) => new(objective.Weights,
        objective.Network + objective.Total - objective.Held, vectors.ImageSized + objective.Input,
        vectors.Optimizer, objective.Targets, objective.LossBuffers);
}

/// <summary>How one scale will be evaluated, and what it will hold.</summary>
/// <param name="Scale">The scale's size and iterations.</param>
/// <param name="Index">Its position in the run, from 0.</param>
/// <param name="Objective">The objective at this scale: the image's and the style images' shapes, the tiles,
/// the networks and their bytes.</param>
/// <param name="Bytes">Its device bytes by part.</param>
/// <param name="WholeBytes">What the scale would need untiled (<see cref="long.MaxValue"/>: a tensor past 2^31
/// elements), so a plan can say why it tiles.</param>
/// <param name="Label"><c>scale 3/5 256x192</c> in a coarse-to-fine run, null in a plain run.</param>
internal sealed record ScalePlan(Scale Scale, int Index, ObjectivePlan Objective, PlannedBytes Bytes, long WholeBytes,
    string? Label)
{
    /// <summary>The image's (3, H, W) there.</summary>
    public ChwShape Shape => Objective.Input;

    /// <summary>The tiles, or null when the scale is evaluated whole.</summary>
    public TileGrid? Tiles => Objective.Tiles?.Grid;

    /// <summary>An evaluation's arithmetic relative to an untiled one (1 when untiled): a tiled evaluation
    /// recomputes each tile's halo and runs the forward pass twice.</summary>
    public double RelativeTime => Objective.Tiles?.RelativeTime ?? 1;

    /// <summary>What the progress lines say before the iteration: <see cref="Label"/>, and the tiles when the scale
    /// is tiled (<c>scale 3/5 2048x1536, 3x2 tiles</c>, or <c>3x2 tiles</c> in a plain run).</summary>
    public string? ProgressLabel
    {
        get
        {
            string? tiles = Tiles is { } t ? $"{t.Rows}x{t.Columns} tiles" : null;
            return Label is null ? tiles : tiles is null ? Label : $"{Label}, {tiles}";
        }
    }
}

/// <summary>
/// What a run will do, made once before anything is allocated (<see cref="RunPlanner"/>) and read by every step
/// after it: the loss, every scale's sizes, tiles and bytes, the limit they were planned against, and notes for the
/// user. <c>--dry-run</c> prints it (<see cref="Print"/>).
/// </summary>
/// <param name="Loss">The loss: a content run or a texture, its layers and weights, luminance-only or not.</param>
/// <param name="Scales">Every scale, smallest first.</param>
/// <param name="Limit">The device bytes it was planned against.</param>
/// <param name="Notes">What the user should know about the plan.</param>
internal sealed record RunPlan(LossPlan Loss, IReadOnlyList<ScalePlan> Scales, MemoryLimit Limit,
    IReadOnlyList<string> Notes)
{
    /// <summary>
    /// The plan as <c>--dry-run</c> prints it: per scale the image, the tiles, the bytes by part, the total against
    /// the limit and the time per evaluation relative to untiled.
    /// </summary>
    public void Print(RunOptions o, TextWriter output)
    {
        string optimizer = o.Optimizer == OptimizerKind.Lbfgs
            ? $"L-BFGS history {o.Lbfgs.HistorySize}"
            : "Adam";
        output.WriteLine($"Plan for {Loss.Architecture.Name} ({optimizer}), limit {Limit}:");
        foreach (var s in Scales)
        {
            string tiles = s.Tiles is { } t
                ? $"{t.Rows}x{t.Columns} tiles, core {t.Core} px, halo {t.Halo} px " +
                  $"(each tile {t.LargestTile.Width}x{t.LargestTile.Height})"
                : "untiled";
            output.WriteLine($"scale {s.Index + 1}/{Scales.Count}: {s.Shape.Width}x{s.Shape.Height}, " +
                             $"{s.Scale.Iterations} iterations, {tiles}");
            if (s.Tiles is not null) output.WriteLine($"tiled because {WhyTiled(s, o)}");
            var b = s.Bytes;
            TextTable.Write(output, ["part", "bytes"],
            [
                ["weights", DeviceList.FormatBytes(b.Weights)],
                [s.Tiles is null ? "activations and gradients" : "one tile's activations and gradients",
                    DeviceList.FormatBytes(b.Tile)],
                ["image-sized buffers", DeviceList.FormatBytes(b.ImageSized)],
                ["optimizer state", DeviceList.FormatBytes(b.Optimizer)],
                ["targets", DeviceList.FormatBytes(b.Targets)],
                ["loss buffers", DeviceList.FormatBytes(b.Loss)],
                ["total", $"{DeviceList.FormatBytes(b.Total)} of {DeviceList.FormatBytes(Limit.Bytes)}"],
            ]);
            if (s.Tiles is not null)
            {
                string times = s.RelativeTime.ToString("0.00", CultureInfo.InvariantCulture);
                output.WriteLine($"time per evaluation: about {times}x untiled (by arithmetic: the halos, and a " +
                                 "second forward pass)");
            }
        }
    }

    /// <summary>Why a scale is tiled: --tile-size asked, the whole image is over the limit, or a whole tensor
    /// would pass the kernels' int indices.</summary>
    private string WhyTiled(ScalePlan s, RunOptions o) =>
        s.WholeBytes == long.MaxValue
            ? "whole, a tensor would have more than 2^31 elements, which the kernels cannot index"
            : s.WholeBytes > Limit.Bytes
                ? $"whole it would need {DeviceList.FormatBytes(s.WholeBytes)}, more than the limit"
                : $"--tile-size {o.TileSize} asks for it (whole it would need {DeviceList.FormatBytes(s.WholeBytes)})";
}
