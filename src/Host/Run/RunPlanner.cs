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
internal static partial class RunPlanner
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
    /// <param name="temporal">Whether the loss has video's temporal term (<see cref="VideoRun"/>).</param>
    /// <exception cref="StyleSetupException">Unknown layers, loss settings that do not fit the images.</exception>
    public static RunPlan Plan(RunOptions o, IReadOnlyList<Scale> scales, VggWeights weights,
        (int Width, int Height) canvas, IReadOnlyList<(int Width, int Height)> styles, KernelChoice kernels,
        MemoryLimit limit, bool temporal = false)
    {
        var loss = LossPlan.Build(weights, o.Style, styles.Count,
            o.Texture ? ObjectiveKind.Texture : ObjectiveKind.Content, RegionMasks.LayoutOf(o),
            o.ColorControl == ColorControl.LuminanceOnly, temporal);
        var model = new Model(o, loss, weights, canvas, styles, kernels, scales[^1].Iterations);
        CheckImageSizes(model, scales);
        var notes = new List<string>();
        if (CaptureNote(model) is { } capture) notes.Add(capture);

        // The largest (last) scale first: when a run does not fit, that is the scale to name.
        var planned = scales.Select((scale, k) => (scale, k)).Reverse()
            .Select(s => PlanScale(model, s.scale, s.k, scales.Count, limit, notes)).Reverse().ToList();
        return new RunPlan(loss, planned, limit, notes.Distinct().ToList());
    }

    /// <summary>The longer side of the style images at a scale of longer side <paramref name="size"/>:
    /// <c>--style-size</c> at every scale, else <c>--style-scale</c> times the size.</summary>
    private static int StyleSize(RunOptions o, int size) =>
        o.StyleSize ?? (int)Math.Clamp(Math.Round(o.StyleScale * size), 1, int.MaxValue);

    /// <summary>The shape <see cref="ImageResize.ToLongerSide"/> gives an image, without resizing it.</summary>
    private static ChwShape TargetShape((int Width, int Height) image, int longerSide)
    {
        var (width, height) = ImageResize.LongerSideSize(image.Width, image.Height, longerSide);
        return new ChwShape(3, height, width);
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
            throw Refusal(model, scale, limit);

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
                                         $"--tile-size {fits} fits (or leave --tile-size out: auto).",
                    [RunFix.Set("--tile-size", fits), RunFix.Leave("--tile-size", "leave --tile-size out")]);
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
    /// The objective's plan and the run's bytes at any size and tile core, for the images as the run will resample
    /// them: what the planner weighs its choices with. Each plan is made once (a small core over a large image has
    /// many tiles).
    /// </summary>
    private sealed class Model(RunOptions o, LossPlan loss, VggWeights weights, (int Width, int Height) canvas,
        IReadOnlyList<(int Width, int Height)> styles, KernelChoice kernels, int iterations)
    {
        private readonly Dictionary<(int Size, int? Core), ObjectivePlan> _plans = [];

        public RunOptions Options => o;

        public LossPlan Loss => loss;

        /// <summary>The last scale's iterations.</summary>
        public int Iterations => iterations;

        /// <summary>The style images' sizes as decoded.</summary>
        public IReadOnlyList<(int Width, int Height)> Styles => styles;

        /// <summary>The same run with other options (a fix to weigh: another optimizer, style scale, ...).</summary>
        public Model With(RunOptions changed) => new(changed, loss, weights, canvas, styles, kernels, iterations);

        public ChwShape ContentShape(int size) => TargetShape(canvas, size);

        /// <summary>Style image <paramref name="k"/>'s shape at the scale of longer side <paramref name="size"/>.
        /// </summary>
        public ChwShape StyleShape(int k, int size) => TargetShape(styles[k], StyleSize(o, size));

        /// <summary>
        /// What capturing the style targets costs at a scale, in evaluations of the image there: by convolution
        /// FLOPs, each style image's forward pass to the deepest style layer against the image's forward pass and
        /// input gradient (the ratio hardly depends on the size: both grow with the pixels).
        /// </summary>
        public double CaptureEvaluations(int size)
        {
            if (loss.Style.Count == 0) return 0;
            var image = ContentShape(size);
            double evaluation = NetworkPlan.Build(weights, image.Height, image.Width, loss.Pooling, loss.UsedLayers,
                kernels).ConvFlops();
            double forward = NetworkPlan.Build(weights, image.Height, image.Width, loss.Pooling,
                loss.Style.Select(l => l.Name).ToList(), kernels).ConvFlops() / 2.0;
            double stylePixels = Enumerable.Range(0, styles.Count).Sum(k => Pixels(StyleShape(k, size)));
            return forward * stylePixels / Pixels(image) / evaluation;
        }

        /// <summary>
        /// The objective at the scale of longer side <paramref name="size"/>: whole (<paramref name="core"/> null,
        /// or a core whose one tile covers the image) or in tiles of that core.
        /// </summary>
        public ObjectivePlan Objective(int size, int? core)
        {
            if (_plans.TryGetValue((size, core), out var known)) return known;
            var styleShapes = Enumerable.Range(0, styles.Count).Select(k => StyleShape(k, size)).ToList();
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
