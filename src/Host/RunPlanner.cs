using System.Globalization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>A run's device bytes at one scale, by part (<c>--dry-run</c> prints them).</summary>
/// <param name="Weights">The network's weights on the device (and transposed copies where a GPU kernel reads
/// them so).</param>
/// <param name="Tile">One network's activations, masks and gradient buffers: the whole image's when untiled, one
/// tile's (with its input and the buffers of the positions it owns) when tiled; or, when that is more, what a
/// style image's network holds while it captures the targets.</param>
/// <param name="ImageSized">x, the average of the iterates, and in a coarse-to-fine run what the previous scale
/// hands over while this one is built (its image and Adam's moments).</param>
/// <param name="Optimizer">The optimizer's vectors, each the size of the image: the gradient, scratch, and
/// L-BFGS's history (2 per curvature pair) or Adam's moments.</param>
/// <param name="Targets">The content targets (the content layers' activations over the whole image) and the
/// style Gram targets.</param>
/// <param name="Loss">The loss scalars, each style layer's G and dG, the gradient normaliser's buffers.</param>
internal sealed record PlannedBytes(long Weights, long Tile, long ImageSized, long Optimizer, long Targets, long Loss)
{
    /// <summary>Everything the scale holds at its peak.</summary>
    public long Total => Weights + Tile + ImageSized + Optimizer + Targets + Loss;
}

/// <summary>How one scale will be evaluated, and what it will hold.</summary>
/// <param name="Scale">The scale's size and iterations.</param>
/// <param name="Shape">The image's (3, H, W) there.</param>
/// <param name="Tiles">The tiles, or null when the scale is evaluated whole.</param>
/// <param name="Bytes">Its device bytes by part.</param>
/// <param name="RelativeTime">An evaluation's arithmetic relative to an untiled one (1 when untiled): a tiled
/// evaluation recomputes each tile's halo and runs the forward pass twice.</param>
/// <param name="WholeBytes">What the scale would need untiled (<see cref="long.MaxValue"/>: a tensor past 2^31
/// elements), so a plan can say why it tiles.</param>
internal sealed record ScalePlan(Scale Scale, ChwShape Shape, TileGrid? Tiles, PlannedBytes Bytes,
    double RelativeTime, long WholeBytes);

/// <summary>Every scale's plan, the limit it was made against, and notes for the user.</summary>
internal sealed record RunPlan(IReadOnlyList<ScalePlan> Scales, MemoryLimit Limit, IReadOnlyList<string> Notes);

/// <summary>
/// Decides, before anything is allocated, how each scale of a run is evaluated: whole when it fits in the memory
/// limit, otherwise in tiles (<see cref="TileGrid"/>; the loss and gradient stay exactly the whole image's), with
/// the tile core that fits and costs least (<see cref="ChooseCore"/>: as a rule the largest) or the one
/// <c>--tile-size</c> asks for; and refuses a run that does not fit even in the smallest tiles, naming the
/// cheapest change that would make it fit.
/// </summary>
/// <remarks>
/// Only what grows with the tile can be tiled away. The image-sized vectors (x, the gradient, the optimizer's
/// state, the average of the iterates) and the content targets stay whole, so L-BFGS's history, two vectors the
/// size of the image per curvature pair, is what limits the largest image; Adam keeps two moments.
/// </remarks>
internal static class RunPlanner
{
    /// <summary>Plans every scale of <paramref name="scales"/>; throws a <see cref="UsageException"/> naming the
    /// cheapest fix when a scale does not fit even in the smallest tiles.</summary>
    /// <param name="o">The run's options.</param>
    /// <param name="scales">Its scales, smallest first.</param>
    /// <param name="weights">The weights, or VGG-19's shapes (<see cref="Vgg19Shapes"/>).</param>
    /// <param name="canvas">The size the result has before scaling: the content image's, or the texture's.</param>
    /// <param name="styles">The style images as decoded.</param>
    /// <param name="kernels">The kernels the run will use (some keep transposed weights).</param>
    /// <param name="limit">The device bytes the run may hold.</param>
    public static RunPlan Plan(RunOptions o, IReadOnlyList<Scale> scales, VggWeights weights,
        (int Width, int Height) canvas, IReadOnlyList<RgbImage> styles, KernelChoice kernels, MemoryLimit limit)
    {
        var notes = new List<string>();
        var model = new Model(o, weights, canvas, styles, kernels);

        // The largest (last) scale first: when a run does not fit, that is the scale to name.
        var planned = scales.Reverse().Select(scale => PlanScale(model, scale, limit, notes)).Reverse().ToList();
        return new RunPlan(planned, limit, notes.Distinct().ToList());
    }

    private static ScalePlan PlanScale(Model model, Scale scale, MemoryLimit limit, List<string> notes)
    {
        var o = model.Options;
        var shape = model.ContentShape(scale.Size);
        int stride = model.Stride;
        if (o.TileSize is null && model.Needs(scale.Size, null) <= limit.Bytes) return model.Planned(scale, null);
        // Tiles keep whole-image buffers of their own (the gradient they add up), so the smallest can need more
        // than a whole evaluation: only now, with the whole image over the limit, is it the last resort.
        if (model.Needs(scale.Size, model.SmallestCore(scale.Size)) > limit.Bytes)
            throw new UsageException(SmallestTileFix(model, scale, limit));

        if (o.TileSize is { } asked)
        {
            int core = RoundToStride(asked, stride);
            if (core != asked)
            {
                notes.Add($"--tile-size {asked} is not a multiple of {stride} (the stride of {model.DeepestLayer}): " +
                          $"tiles of {core} px are used.");
            }
            long needs = model.Needs(scale.Size, core);
            if (needs > limit.Bytes)
            {
                int fits = ChooseCore(model, scale.Size, limit.Bytes);
                string what = needs == long.MaxValue
                    ? "makes tensors of more than 2^31 elements, which the kernels cannot index"
                    : $"needs about {DeviceList.FormatBytes(needs)}, more than the limit of {limit}";
                throw new UsageException($"--tile-size {core} at {shape.Width}x{shape.Height} {what}: " +
                                         $"--tile-size {fits} fits (or leave --tile-size out: auto).");
            }
            if (model.Grid(scale.Size, core) is null)
            {
                notes.Add($"--tile-size {core}: one tile (with its halo) covers the {shape.Width}x{shape.Height} " +
                          "image, so it is evaluated whole.");
            }
            return model.Planned(scale, core);
        }

        return model.Planned(scale, ChooseCore(model, scale.Size, limit.Bytes));
    }

    /// <summary>
    /// Among the tile cores that fit <paramref name="limit"/> (multiples of the stride from
    /// <see cref="Model.SmallestCore"/>, which must fit, checked before, to below the image's longer side), the one
    /// whose evaluation does the least arithmetic, and of
    /// those the largest. Tiles repeat their halos and add a forward pass, so larger cores are cheaper as a rule,
    /// but not always: all tiles take the largest region, so a core that leaves a thin last row or column costs a
    /// whole row or column of tiles, and a smaller core that divides the image evenly can be cheaper. Every core is
    /// tried (the bytes do not always grow with the core either).
    /// </summary>
    private static int ChooseCore(Model model, int size, long limit)
    {
        var shape = model.ContentShape(size);
        int stride = model.Stride;
        int halo = model.Halo(size);
        int smallest = model.SmallestCore(size);
        int best = smallest;
        double bestCost = double.MaxValue;
        for (int core = (Math.Max(shape.Height, shape.Width) - 1) / stride * stride; core >= smallest; core -= stride)
        {
            // Along a cut axis every region is at least core + halo long while cores are at most core + stride,
            // so a tiled evaluation does at least (core + halo) / (core + stride) of the untiled arithmetic: below
            // the core where that exceeds the cheapest found (with 10% to spare for the poolings' rounding), no
            // smaller core can win, and those are the many-tile plans that are slow to work out.
            if ((core + halo) / (double)(core + stride) > bestCost * 1.1) break;
            if (model.Grid(size, core) is null || model.Needs(size, core) > limit) continue;
            double cost = model.RelativeTime(size, core);
            if (cost >= bestCost * (1 - 1e-9)) continue; // from the largest down: a tie keeps the larger core
            best = core;
            bestCost = cost;
        }
        return best;
    }

    /// <summary><paramref name="side"/> rounded to the nearest multiple of <paramref name="stride"/>, at least one
    /// stride.</summary>
    public static int RoundToStride(int side, int stride) =>
        (int)Math.Clamp((long)Math.Round(side / (double)stride, MidpointRounding.AwayFromZero) * stride, stride,
            int.MaxValue / stride * stride);

    /// <summary>
    /// The message for a scale that does not fit even in the smallest tiles: what it needs, against what, and the
    /// cheapest change that fits, tried in order of how little it changes the result: a shorter L-BFGS history (or
    /// Adam), no average of the iterates, a smaller image, more memory.
    /// </summary>
    private static string SmallestTileFix(Model model, Scale scale, MemoryLimit limit)
    {
        var o = model.Options;
        var shape = model.ContentShape(scale.Size);
        int smallest = model.SmallestCore(scale.Size);
        long needs = model.Needs(scale.Size, smallest);
        // The run's own vectors alone rule out most sizes without planning their tiles.
        int fitting = MemoryEstimate.LargestFittingSize(scale.Size, limit.Bytes,
            s => model.RunVectorBytes(o, s) > limit.Bytes ? long.MaxValue : model.Needs(s, model.SmallestCore(s)));
        // A texture's size is --texture-size at the last scale; at another scale, or without it, --size.
        string sizeOption = o.Texture && o.TextureSize is { } t && scale.Size == o.Size
            ? $"--texture-size {t.Width}x{t.Height}"
            : $"--size {scale.Size}";
        string smaller = fitting >= 16 ? $"--size {fitting} fits" : "not even a 16-pixel image fits";
        if (needs == long.MaxValue)
        {
            return $"{sizeOption} makes tensors of more than 2^31 elements, which the kernels cannot index: " +
                   $"{smaller} in {limit}.";
        }

        var bytes = model.Bytes(scale.Size, smallest);
        string size = $"{shape.Width} x {shape.Height}";
        string where = $"even in the smallest tiles ({smallest} px)";
        string against = $"{where}, {sizeOption} needs about {DeviceList.FormatBytes(needs)}, more than the " +
                         $"limit of {limit}";
        // Only the run's own vectors depend on the optimizer and the average: the objective's bytes stay.
        bool Fits(RunOptions changed) =>
            needs - model.RunVectorBytes(o, scale.Size) + model.RunVectorBytes(changed, scale.Size) <= limit.Bytes;
        if (o.Optimizer == OptimizerKind.Lbfgs)
        {
            int history = o.Lbfgs.HistorySize;
            var fixes = new List<string>();
            if (Fits(o with { Optimizer = OptimizerKind.Adam })) fixes.Add("--optimizer adam");
            int shorter = Enumerable.Range(1, history - 1).Reverse()
                .FirstOrDefault(h => Fits(o with { Lbfgs = o.Lbfgs with { HistorySize = h } }));
            if (shorter > 0) fixes.Add($"--lbfgs-history {shorter}");
            if (fixes.Count > 0)
            {
                return $"L-BFGS history {history} at {size} needs {DeviceList.FormatBytes(bytes.Optimizer)} of " +
                       $"image-sized vectors, and the run {DeviceList.FormatBytes(needs)} {where}, more than the " +
                       $"limit of {limit}: use {string.Join(" or ", fixes)}.";
            }
        }
        if (o.AverageDecay > 0 && Fits(o with { AverageDecay = 0 }))
            return $"{Capitalized(against)}: leave out --average-decay (its average is one more image-sized vector).";
        return $"{Capitalized(against)}, of which the image-sized buffers, optimizer state and targets need " +
               $"{DeviceList.FormatBytes(bytes.Total - bytes.Tile - bytes.Weights)}: " +
               (fitting >= 16 ? $"use --size {fitting} or raise --max-memory." : $"{smaller}; raise --max-memory.");
    }

    /// <summary>Why a scale is tiled: --tile-size asked, the whole image is over the limit, or a whole tensor
    /// would pass the kernels' int indices.</summary>
    private static string WhyTiled(ScalePlan s, RunOptions o, MemoryLimit limit) =>
        s.WholeBytes == long.MaxValue
            ? "whole, a tensor would have more than 2^31 elements, which the kernels cannot index"
            : s.WholeBytes > limit.Bytes
                ? $"whole it would need {DeviceList.FormatBytes(s.WholeBytes)}, more than the limit"
                : $"--tile-size {o.TileSize} asks for it (whole it would need {DeviceList.FormatBytes(s.WholeBytes)})";

    private static string Capitalized(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>
    /// The plan as <c>--dry-run</c> prints it: per scale the image, the tiles, the bytes by part, the total against
    /// the limit and the time per evaluation relative to untiled.
    /// </summary>
    public static void Print(RunPlan plan, RunOptions o, VggWeights weights, TextWriter output)
    {
        string optimizer = o.Optimizer == OptimizerKind.Lbfgs
            ? $"L-BFGS history {o.Lbfgs.HistorySize}"
            : "Adam";
        output.WriteLine($"Plan for {weights.Architecture.Name} ({optimizer}), limit {plan.Limit}:");
        for (int k = 0; k < plan.Scales.Count; k++)
        {
            var s = plan.Scales[k];
            string tiles = s.Tiles is { } t
                ? $"{t.Rows}x{t.Columns} tiles, core {t.Core} px, halo {t.Halo} px " +
                  $"(each tile {t.LargestTile.Width}x{t.LargestTile.Height})"
                : "untiled";
            output.WriteLine($"scale {k + 1}/{plan.Scales.Count}: {s.Shape.Width}x{s.Shape.Height}, " +
                             $"{s.Scale.Iterations} iterations, {tiles}");
            if (s.Tiles is not null) output.WriteLine($"tiled because {WhyTiled(s, o, plan.Limit)}");
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
                ["total", $"{DeviceList.FormatBytes(b.Total)} of {DeviceList.FormatBytes(plan.Limit.Bytes)}"],
            ]);
            if (s.Tiles is not null)
            {
                string times = s.RelativeTime.ToString("0.00", CultureInfo.InvariantCulture);
                output.WriteLine($"time per evaluation: about {times}x untiled (by arithmetic: the halos, and a " +
                                 "second forward pass)");
            }
        }
    }

    /// <summary>
    /// VGG-19's layer shapes with zero weights, for planning a run whose default weights are not downloaded yet:
    /// the plan needs shapes only. Layers of one shape share one array (19 MB instead of 548 MB).
    /// </summary>
    public static VggWeights Vgg19Shapes()
    {
        var architecture = VggArchitecture.Vgg19;
        var arrays = new Dictionary<long, float[]>();
        float[] Zeros(long length) => arrays.TryGetValue(length, out var a) ? a : arrays[length] = new float[length];
        var tensors = new List<NamedTensor>();
        int inChannels = 3;
        foreach (string name in architecture.ConvNames)
        {
            int outChannels = VggArchitecture.BlockChannels[architecture.Block(name) - 1];
            tensors.Add(new NamedTensor(name + ".weight", [outChannels, inChannels, 3, 3],
                Zeros(9L * outChannels * inChannels)));
            tensors.Add(new NamedTensor(name + ".bias", [outChannels], Zeros(outChannels)));
            inChannels = outChannels;
        }
        var metadata = new Dictionary<string, string> { ["arch"] = "vgg19", ["preprocess"] = "torchvision" };
        return VggWeights.FromTensors(tensors, metadata, "VGG-19's shapes");
    }

    /// <summary>
    /// What a scale needs, from shapes alone: the engine's estimate of the objective (<see cref="MemoryEstimate"/>)
    /// and the run's own buffers around it, for the images at each scale's size as the run will resample them.
    /// </summary>
    private sealed class Model(RunOptions o, VggWeights weights, (int Width, int Height) canvas,
        IReadOnlyList<RgbImage> styles, KernelChoice kernels)
    {
        public RunOptions Options => o;

        /// <summary>The deepest layer any loss reads, whose stride the tiles' origins follow.</summary>
        public string DeepestLayer => weights.Architecture.Deepest(o.Style.ContentLayers.Concat(o.Style.StyleLayers));

        private readonly Dictionary<(int Size, int Core), TilePlan?> _tilePlans = [];

        /// <summary>The regions' masks, as the objective lays them out (null: no regions).</summary>
        private RegionLayout? Regions => RegionMasks.LayoutOf(o);
        private readonly Dictionary<int, bool> _wholeImageIndexable = [];

        public ChwShape ContentShape(int size) => StyleRun.TargetShape(canvas, size);

        private List<ChwShape> StyleShapes(int size) =>
            styles.Select(s => StyleRun.TargetShape((s.Width, s.Height), StyleRun.StyleSize(o, size))).ToList();

        /// <summary>The tiles at the scale of longer side <paramref name="size"/>; null when no network runs (only
        /// total variation) or one tile covers the image.</summary>
        public TileGrid? Grid(int size, int core)
        {
            var shape = ContentShape(size);
            var grid = TileGrid.ForObjective(weights, o.Style, shape.Height, shape.Width, core);
            return grid is { IsSingle: false } ? grid : null;
        }

        /// <summary>
        /// The smallest core the planner tries: the stride, or a 64th of the image's longer side when that is more.
        /// Smaller tiles would each recompute a halo many times their core (80 px around a core of at most 1/64 of
        /// the side) for little memory: the image-sized buffers dominate long before, and a plan of 4,000 tiles and
        /// more takes long to work out.
        /// </summary>
        public int SmallestCore(int size)
        {
            var shape = ContentShape(size);
            int sixtyFourth = (Math.Max(shape.Height, shape.Width) + 63) / 64;
            return Math.Max(Stride, (sixtyFourth + Stride - 1) / Stride * Stride);
        }

        /// <summary>The deepest used layer's stride: every core is a multiple of it.</summary>
        public int Stride => TileGrid.MinimumCore(weights.Architecture, [.. o.Style.ContentLayers,
            .. o.Style.StyleLayers]);

        /// <summary>The scale evaluated whole (<paramref name="core"/> null) or in tiles of that core (whole when
        /// one tile covers the image).</summary>
        public ScalePlan Planned(Scale scale, int? core)
        {
            var shape = ContentShape(scale.Size);
            long whole = Needs(scale.Size, null);
            if (core is { } c && Grid(scale.Size, c) is { } grid)
                return new ScalePlan(scale, shape, grid, Bytes(scale.Size, c), RelativeTime(scale.Size, c), whole);
            return new ScalePlan(scale, shape, null, Bytes(scale.Size, null), 1, whole);
        }

        /// <summary>
        /// The bytes the scale of longer side <paramref name="size"/> needs with tile core <paramref name="core"/>
        /// (null: untiled), or <see cref="long.MaxValue"/> when a tensor it holds would have more than 2^31 elements,
        /// which no device can run (the kernels index with int), however large its memory: untiled, any activation;
        /// tiled, the whole image's tensors (<see cref="MemoryEstimate.RunBytes"/>) and every tile's activations.
        /// </summary>
        public long Needs(int size, int? core)
        {
            var tiles = core is { } c ? TilePlanAt(size, c) : null;
            if (tiles is null)
            {
                bool fits = MemoryEstimate.RunBytes(weights, ContentShape(size), StyleShapes(size), o.Style, kernels,
                    _ => 0, regions: Regions) != long.MaxValue;
                return fits ? Bytes(size, null).Total : long.MaxValue;
            }
            var tileInputs = tiles.Styles.Select(s => s.Grid.LargestTile).Append(tiles.Grid.LargestTile);
            if (!WholeImageIndexable(size, tiles.Grid.Core)
                || tileInputs.Any(t => MemoryEstimate.LargestActivation(weights, t) > int.MaxValue))
                return long.MaxValue;
            return Bytes(size, core).Total;
        }

        /// <summary>
        /// Whether the whole image's tensors of a tiled run (x, the content targets) can be indexed: the same for
        /// every core, so asked of <see cref="MemoryEstimate.RunBytes"/> once per size, with the tiles of the core
        /// at hand.
        /// </summary>
        private bool WholeImageIndexable(int size, int core)
        {
            if (_wholeImageIndexable.TryGetValue(size, out bool known)) return known;
            bool indexable = MemoryEstimate.RunBytes(weights, ContentShape(size), StyleShapes(size), o.Style,
                kernels, _ => 0, core, Regions) != long.MaxValue;
            _wholeImageIndexable[size] = indexable;
            return indexable;
        }

        /// <summary>The tiled objective's plan for tiles of <paramref name="core"/> (null: one tile covers the
        /// image), built once per size and core: a small core over a large image has many tiles.</summary>
        private TilePlan? TilePlanAt(int size, int core)
        {
            if (_tilePlans.TryGetValue((size, core), out var known)) return known;
            var plan = Grid(size, core) is null ? null
                : TilePlan.Build(weights, ContentShape(size), StyleShapes(size), o.Style, kernels, core, Regions);
            _tilePlans[(size, core)] = plan;
            return plan;
        }

        /// <summary>The bytes of what the run allocates around the objective, with <paramref name="options"/>'
        /// optimizer and average: x, the optimizer's vectors, the average, what the previous scale hands over.
        /// </summary>
        public long RunVectorBytes(RunOptions options, int size)
        {
            int n = VariableLength(options, ContentShape(size));
            return sizeof(float) * (long)n + StyleRun.ScaleBytes(options, n) + StyleRun.OptimizerBytes(options, n);
        }

        /// <summary>Floats in x for a network input of <paramref name="shape"/>: one channel with luminance-only,
        /// three otherwise.</summary>
        private static int VariableLength(RunOptions options, ChwShape shape) =>
            options.ColorControl == ColorControl.LuminanceOnly ? shape.PlaneLength : shape.Length;

        /// <summary>The bytes at the scale of longer side <paramref name="size"/> with tile core
        /// <paramref name="core"/> (null: untiled), by part: the objective's as <see cref="MemoryEstimate"/> plans
        /// them, and the run's own buffers around it.</summary>
        public PlannedBytes Bytes(int size, int? core)
        {
            var shape = ContentShape(size);
            var tiles = core is { } c ? TilePlanAt(size, c) : null;
            var objective = tiles?.Memory() ?? MemoryEstimate.Objective(weights, shape, StyleShapes(size), o.Style,
                kernels, regions: Regions);
            // Luminance-only optimizes y, (1, H, W), through the style objective on (3, H, W): the replication
            // holds that input and its gradient beside the objective's buffers.
            int n = VariableLength(o, shape);
            long replication = o.ColorControl == ColorControl.LuminanceOnly
                ? LuminanceObjective.ReplicationBytes(shape)
                : 0;
            long held = objective.Held + replication;
            // The peak beyond what the objective holds comes from a style image's network capturing its targets:
            // network memory too, and gone when the objective's own network is built.
            long network = objective.Network + Math.Max(objective.Total, held) - held;
            long run = sizeof(float) * (long)n + StyleRun.ScaleBytes(o, n); // x, the average, the previous scale
            return new PlannedBytes(objective.Weights, network, run + replication, StyleRun.OptimizerBytes(o, n),
                objective.Targets, objective.LossBuffers);
        }

        /// <summary>The arithmetic of a tiled evaluation relative to an untiled one (<see cref="TilePlan"/>).</summary>
        public double RelativeTime(int size, int core) => TilePlanAt(size, core)?.RelativeTime ?? 1;

        /// <summary>Pixels of context around each core (<see cref="TileGrid.Halo"/>).</summary>
        public int Halo(int size)
        {
            var shape = ContentShape(size);
            return TileGrid.ForObjective(weights, o.Style, shape.Height, shape.Width, Stride)?.Halo ?? 0;
        }
    }
}
