using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// Makes the <see cref="RunPlan"/>, before anything is allocated: the loss once (<see cref="LossPlan"/>), then for
/// each scale the image's and the style images' sizes and how it is evaluated: whole when it fits in the memory
/// limit, otherwise in tiles (<see cref="TileGrid"/>; the loss and gradient stay exactly the whole image's), with
/// the tile core that fits and costs least (<see cref="ChooseCore"/>: as a rule the largest) or the one
/// <c>--tile-size</c> asks for. It refuses a run whose images are too small for its layers, and one that does not
/// fit even in the smallest tiles, naming the cheapest change that would make it fit.
/// </summary>
/// <remarks>
/// Only what grows with the tile can be tiled away. The image-sized vectors (x, the gradient, the optimizer's
/// state, the average of the iterates) and the content targets stay whole, so L-BFGS's history, two vectors the
/// size of the image per curvature pair, is what limits the largest image; Adam keeps two moments.
/// </remarks>
internal static class RunPlanner
{
    /// <summary>Plans the run; throws a <see cref="UsageException"/> for images too small for the layers, or
    /// naming the cheapest fix when a scale does not fit even in the smallest tiles.</summary>
    /// <param name="o">The run's options (parsed and checked).</param>
    /// <param name="scales">Its scales, smallest first (<see cref="ScaleSchedule.Of"/>).</param>
    /// <param name="weights">The weights, or VGG-19's shapes (<see cref="WeightsLocation.Vgg19Shapes"/>): only their
    /// shapes are read.</param>
    /// <param name="canvas">The size the result has before scaling: the content image's, or the texture's.</param>
    /// <param name="styles">The style images' sizes as decoded.</param>
    /// <param name="kernels">The kernels the run will use (some keep transposed weights).</param>
    /// <param name="limit">The device bytes the run may hold.</param>
    /// <exception cref="StyleSetupException">Unknown layers, loss settings that do not fit the images.</exception>
    public static RunPlan Plan(RunOptions o, IReadOnlyList<Scale> scales, VggWeights weights,
        (int Width, int Height) canvas, IReadOnlyList<(int Width, int Height)> styles, KernelChoice kernels,
        MemoryLimit limit)
    {
        var loss = LossPlan.Build(weights, o.Style, styles.Count,
            o.Texture ? ObjectiveKind.Texture : ObjectiveKind.Content, RegionMasks.LayoutOf(o),
            o.ColorControl == ColorControl.LuminanceOnly);
        CheckImageSizes(o, loss, canvas, styles);
        var notes = new List<string>();
        var model = new Model(o, loss, weights, canvas, styles, kernels);

        // The largest (last) scale first: when a run does not fit, that is the scale to name.
        var planned = scales.Select((scale, k) => (scale, k)).Reverse()
            .Select(s => PlanScale(model, s.scale, s.k, scales.Count, limit, notes)).Reverse().ToList();
        return new RunPlan(loss, planned, limit, notes.Distinct().ToList());
    }

    /// <summary>The longer side of the style images at a scale of longer side <paramref name="size"/>.</summary>
    private static int StyleSize(RunOptions o, int size) => Math.Max(1, (int)Math.Round(o.StyleScale * size));

    /// <summary>The shape <see cref="ImageResize.ToLongerSide"/> gives an image, without resizing it.</summary>
    private static ChwShape TargetShape((int Width, int Height) image, int longerSide)
    {
        var (width, height) = ImageResize.LongerSideSize(image.Width, image.Height, longerSide);
        return new ChwShape(3, height, width);
    }

    /// <summary>
    /// Every image at its final size is large enough for the layers it feeds: each 2x2 pooling halves the image
    /// and needs at least 2x2 pixels, so reaching a layer of stride s needs a shorter side of s pixels (16 for
    /// relu5_1). (The first scale of a coarse-to-fine run is checked when it is built, naming its option.)
    /// </summary>
    private static void CheckImageSizes(RunOptions o, LossPlan loss, (int Width, int Height) canvas,
        IReadOnlyList<(int Width, int Height)> styles)
    {
        if (loss.DeepestLayer is { } deepest)
        {
            CheckLargeEnough(loss.Architecture, TargetShape(canvas, o.Size), deepest,
                o.Texture ? "texture" : "content image", o.Texture ? "--size or --texture-size" : "--size");
        }
        if (loss.Style.Count == 0) return;
        string deepestStyle = loss.Architecture.Deepest(loss.Style.Select(l => l.Name));
        for (int i = 0; i < styles.Count; i++)
        {
            CheckLargeEnough(loss.Architecture, TargetShape(styles[i], StyleSize(o, o.Size)), deepestStyle,
                $"style image '{o.Styles[i]}'", "--size or --style-scale");
        }
    }

    private static void CheckLargeEnough(VggArchitecture architecture, ChwShape shape, string deepest, string what,
        string options)
    {
        int minimum = architecture.Stride(deepest);
        if (Math.Min(shape.Height, shape.Width) >= minimum) return;
        throw new UsageException($"The {what} becomes {shape.Width}x{shape.Height} pixels, too small to reach " +
                                 $"{deepest}: its shorter side must be at least {minimum} pixels. " +
                                 $"Use a larger {options}.");
    }

    private static ScalePlan PlanScale(Model model, Scale scale, int index, int count, MemoryLimit limit,
        List<string> notes)
    {
        var o = model.Options;
        var shape = model.ContentShape(scale.Size);
        int stride = model.Loss.Stride;
        if (o.TileSize is null && model.Fits(scale.Size, null, limit.Bytes))
            return model.Planned(scale, index, count, null);
        // Tiles keep whole-image buffers of their own (the gradient they add up), so the smallest can need more
        // than a whole evaluation: only now, with the whole image over the limit, is it the last resort.
        if (!model.Fits(scale.Size, model.SmallestCore(scale.Size), limit.Bytes))
            throw new UsageException(SmallestTileFix(model, scale, limit));

        if (o.TileSize is { } asked)
        {
            int core = RoundToStride(asked, stride);
            if (core != asked)
            {
                notes.Add($"--tile-size {asked} is not a multiple of {stride} (the stride of " +
                          $"{model.Loss.DeepestLayer}): tiles of {core} px are used.");
            }
            if (!model.Fits(scale.Size, core, limit.Bytes))
            {
                long needs = model.Needs(scale.Size, core);
                int fits = ChooseCore(model, scale.Size, limit.Bytes);
                string what = needs == long.MaxValue
                    ? "makes tensors of more than 2^31 elements, which the kernels cannot index"
                    : $"needs about {DeviceList.FormatBytes(needs)}, more than the limit of {limit}";
                throw new UsageException($"--tile-size {core} at {shape.Width}x{shape.Height} {what}: " +
                                         $"--tile-size {fits} fits (or leave --tile-size out: auto).");
            }
            if (!model.Objective(scale.Size, core).IsTiled)
            {
                notes.Add($"--tile-size {core}: one tile (with its halo) covers the {shape.Width}x{shape.Height} " +
                          "image, so it is evaluated whole.");
            }
            return model.Planned(scale, index, count, core);
        }

        return model.Planned(scale, index, count, ChooseCore(model, scale.Size, limit.Bytes));
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
        int stride = model.Loss.Stride;
        int halo = model.Loss.DeepestLayer is { } deepest ? TileGrid.HaloFor(model.Loss.Architecture, deepest) : 0;
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
            var plan = model.Objective(size, core);
            if (!plan.IsTiled || !model.Fits(size, core, limit)) continue;
            double cost = plan.Tiles!.RelativeTime;
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
    /// The largest size below <paramref name="size"/> whose <paramref name="bytesAt"/> fits
    /// <paramref name="budget"/> (bisection: the bytes grow with the size), or 0 when not even 1 fits.
    /// </summary>
    public static int LargestFittingSize(int size, long budget, Func<int, long> bytesAt)
    {
        ArgumentNullException.ThrowIfNull(bytesAt);
        int low = 0, high = size;
        while (high - low > 1)
        {
            int middle = (low + high) / 2;
            if (bytesAt(middle) <= budget) low = middle; else high = middle;
        }
        return low;
    }

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
        int fitting = LargestFittingSize(scale.Size, limit.Bytes,
            s => model.Vectors(o, s).Total > limit.Bytes ? long.MaxValue : model.Needs(s, model.SmallestCore(s)));
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

        var bytes = model.Bytes(scale.Size, smallest)!;
        string size = $"{shape.Width} x {shape.Height}";
        string where = $"even in the smallest tiles ({smallest} px)";
        string against = $"{where}, {sizeOption} needs about {DeviceList.FormatBytes(needs)}, more than the " +
                         $"limit of {limit}";
        // Only the run's own vectors depend on the optimizer and the average: the objective's bytes stay.
        bool Fits(RunOptions changed) =>
            needs - model.Vectors(o, scale.Size).Total + model.Vectors(changed, scale.Size).Total <= limit.Bytes;
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

    private static string Capitalized(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>
    /// The objective's plan and the run's bytes at any size and tile core, for the images as the run will resample
    /// them: what the planner weighs its choices with. Each plan is made once (a small core over a large image has
    /// many tiles).
    /// </summary>
    private sealed class Model(RunOptions o, LossPlan loss, VggWeights weights, (int Width, int Height) canvas,
        IReadOnlyList<(int Width, int Height)> styles, KernelChoice kernels)
    {
        private readonly Dictionary<(int Size, int? Core), ObjectivePlan> _plans = [];

        public RunOptions Options => o;

        public LossPlan Loss => loss;

        public ChwShape ContentShape(int size) => TargetShape(canvas, size);

        /// <summary>
        /// The objective at the scale of longer side <paramref name="size"/>: whole (<paramref name="core"/> null,
        /// or a core whose one tile covers the image) or in tiles of that core.
        /// </summary>
        public ObjectivePlan Objective(int size, int? core)
        {
            if (_plans.TryGetValue((size, core), out var known)) return known;
            var styleShapes = styles.Select(s => TargetShape(s, StyleSize(o, size))).ToList();
            var plan = ObjectivePlan.Build(loss, weights, kernels, ContentShape(size), styleShapes, core);
            if (core is not null && !plan.IsTiled) plan = Objective(size, null);
            _plans[(size, core)] = plan;
            return plan;
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
            int stride = loss.Stride;
            int sixtyFourth = (Math.Max(shape.Height, shape.Width) + 63) / 64;
            return Math.Max(stride, (sixtyFourth + stride - 1) / stride * stride);
        }

        /// <summary>The run's own vectors at a size, with <paramref name="options"/>' optimizer and average.</summary>
        public RunVectors Vectors(RunOptions options, int size) =>
            RunVectors.Of(options, loss.VariableShape(ContentShape(size)).Length);

        /// <summary>The bytes at a size and core by part; null when a tensor could not be indexed.</summary>
        public PlannedBytes? Bytes(int size, int? core) => Objective(size, core).Memory is { } memory
            ? PlannedBytes.Of(memory, Vectors(o, size))
            : null;

        /// <summary>
        /// The bytes at a size and core, or <see cref="long.MaxValue"/> when a tensor it holds would have more than
        /// 2^31 elements, which no device can run (the kernels index with int), however large its memory.
        /// </summary>
        public long Needs(int size, int? core) => Bytes(size, core)?.Total ?? long.MaxValue;

        /// <summary>Whether the scale at a size and core can run within <paramref name="limit"/> bytes.</summary>
        public bool Fits(int size, int? core, long limit) => Bytes(size, core) is { } bytes && bytes.Total <= limit;

        /// <summary>Scale <paramref name="index"/> of <paramref name="count"/>, evaluated whole
        /// (<paramref name="core"/> null) or in tiles of that core.</summary>
        public ScalePlan Planned(Scale scale, int index, int count, int? core)
        {
            var shape = ContentShape(scale.Size);
            string? label = o.MultiScale ? $"scale {index + 1}/{count} {shape.Width}x{shape.Height}" : null;
            return new ScalePlan(scale, index, Objective(scale.Size, core), Bytes(scale.Size, core)!,
                Needs(scale.Size, null), label);
        }
    }
}
