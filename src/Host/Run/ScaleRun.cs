using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>
/// One scale of a run: the content and style images at the scale's size, the loss there (targets
/// recomputed at that size), the image being optimized, its optimizer and, with
/// <c>--average-decay</c>, the average of its iterates. A plain run is a single scale; a
/// coarse-to-fine run builds each scale from the one before.
/// </summary>
/// <remarks>
/// <para>Lifetime: construct (the previous scale finished), <see cref="Start"/>, <see cref="Step"/>
/// until done, <see cref="Finish"/> (the scale's result is then in <see cref="X"/> and the loss's
/// memory is freed), let the next scale take what it needs, then <see cref="Dispose"/>.</para>
/// <para>What carries to the next scale: the result (the average when averaging, which is what the
/// scale writes), enlarged bicubic and clamped to the pixel range, and Adam's state
/// (<see cref="AdamOptimizer.ContinueFrom"/>). L-BFGS starts each scale with an empty history: its
/// curvature pairs are differences of images of the old size and have no meaning at the new one.</para>
/// <para>With <c>--color-control luminance-only</c> the variable is one channel, the luminance
/// (<see cref="LuminanceObjective"/>), at every scale: <see cref="VariableShape"/> is (1, H, W), and the
/// enlargement and Adam's moments carry that one channel.</para>
/// </remarks>
internal sealed class ScaleRun : IDisposable
{
    private readonly RunOptions _options;
    private readonly Preprocessing _preprocessing;
    private IStyleObjective? _objective; // the loss at this size, until Finish
    private IOptimizer? _optimizer;     // after Finish kept only if it is Adam (the next scale takes its state)
    private IterateAverage? _average;   // with --average-decay, until Finish
    private readonly ObjectiveCache? _cache; // a batch's: takes the objective at Finish, for the next image
    private readonly IReadOnlyList<NetworkImage> _styles = []; // the objective's style images, for the cache
    private bool _finished;
    private readonly long _filterBytes; // the run's prepared filters this scale's objective reads (held for it)

    /// <summary>Builds the scale <paramref name="plan"/> describes from the run's images and
    /// <paramref name="weights"/>; <paramref name="previous"/> (finished) is the scale before, or null for the
    /// first. With <paramref name="cache"/> (a batch), the objective comes from it when the last image's serves,
    /// and goes back to it at <see cref="Finish"/>. With the run's <paramref name="filters"/>, the objective reads
    /// the prepared filters from there, made to hold this scale's first (null: it makes its own).</summary>
    public ScaleRun(KernelSet kernels, VggWeights weights, RunImages images, RunOptions o, ScalePlan plan,
        ScaleRun? previous, ObjectiveCache? cache = null, PreparedFilters? filters = null)
    {
        _options = o;
        _cache = cache;
        Plan = plan;
        var objective = plan.Objective;
        _preprocessing = objective.Loss.Preprocessing;
        ContentImage = images.Content is null ? null : Resize(images.Content, objective.Input);
        try
        {
            var styles = images.Styles.Select((s, k) => Resize(s, objective.Styles[k])).ToList();
            var regions = ContentImage is null ? null : images.Masks?.At(ContentImage, styles); // none for a texture
            var networkImages = NetworkImages(styles, regions);
            _styles = networkImages.Styles;
            if (filters is not null)
            {
                if (cache is not null)
                    throw new ArgumentException("A batch's objectives make their own filters.", nameof(filters));
                filters.Hold(objective);
                _filterBytes = filters.Bytes;
            }
            _objective = cache is null
                ? StyleObjectives.Create(objective, kernels, weights, networkImages, filters)
                : cache.Take(objective, kernels, weights, networkImages);
            if (objective.Loss.Temporal != 0) SetTemporalTarget(_objective, images.Temporal);
            X = previous is null ? kernels.Accelerator.Allocate1D(InitialImage(images)) : Enlarge(kernels, previous);
            _optimizer = CreateOptimizer(kernels, _objective, previous);
            if (o.AverageDecay > 0) _average = new IterateAverage(kernels, VariableShape.Length, o.AverageDecay);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>What the scale is: its size, iterations, objective and tiles.</summary>
    public ScalePlan Plan { get; }

    /// <summary>Region terms the loss leaves out at this scale (<see cref="IStyleObjective.OmittedRegionTerms"/>).
    /// </summary>
    public IReadOnlyList<string> OmittedRegionTerms => _objective?.OmittedRegionTerms ?? throw Finished();

    /// <summary>The content image resampled (from its file) to this scale; null for a texture.</summary>
    public RgbImage? ContentImage { get; }

    /// <summary>(3, H, W) of the image at this scale.</summary>
    public ChwShape Shape => Plan.Shape;

    /// <summary>The shape of <see cref="X"/>: <see cref="Shape"/>, or (1, H, W) when only the luminance is
    /// optimized.</summary>
    public ChwShape VariableShape => Plan.Objective.Variable;

    /// <summary>The image being optimized, (3, H, W) preprocessed, or luminance-only its one channel y; after
    /// <see cref="Finish"/>, the scale's result.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> X { get; } = null!;

    /// <summary>Device bytes this scale has held at its peak so far, as allocated (the loss's buffers, the run's
    /// prepared filters it reads, the optimizer, x, the average); read it before <see cref="Finish"/>.</summary>
    public long DeviceBytes => (_objective ?? throw Finished()).Memory.PeakBytes + _filterBytes +
                               Optimizer.DeviceBytes + X.LengthInBytes + (_average?.DeviceBytes ?? 0);

    /// <summary>Device bytes this scale still holds after <see cref="Finish"/>, while the next scale is
    /// built: x, and Adam's state.</summary>
    public long CarriedBytes => X.LengthInBytes + (_optimizer is AdamOptimizer adam ? adam.DeviceBytes : 0);

    /// <summary>Evaluates the starting image (iteration 0) and counts it as the average's first iterate.</summary>
    public OptimizerStep Start() => Track(Optimizer.Start());

    /// <summary>One optimizer iteration; the new iterate joins the average.</summary>
    public OptimizerStep Step() => Track(Optimizer.Step());

    /// <summary>The losses of the last evaluation (the current x).</summary>
    public LossBreakdown ReadLosses() => (_objective ?? throw Finished()).ReadLosses();

    private bool Luminance => Plan.Objective.Loss.Luminance;

    /// <summary>The image this scale would write now (unrounded): the average of the iterates when averaging,
    /// else x; with <c>--color-control post-luminance</c> its luminance in the content's colours, and
    /// luminance-only the optimized luminance with the content's chroma.</summary>
    public FloatRgbImage Render()
    {
        float[] values;
        if (!_finished && _average is { Count: > 0 })
        {
            values = _average.Read();
        }
        else
        {
            X.Accelerator.Synchronize();
            values = X.GetAsArray1D();
        }
        if (Luminance) return Yiq.Recombine(_preprocessing.LuminanceFromNetwork(values), ContentImage!);
        var image = _preprocessing.ToPixels(values, Shape.Width, Shape.Height);
        return _options.ColorControl == ColorControl.PostLuminance
            ? ColorTransfer.KeepOriginalColors(image, ContentImage!)
            : image;
    }

    /// <summary>Ends the scale: its result (the average, when averaging) goes into <see cref="X"/>, and the
    /// loss, the average and an L-BFGS history are freed before the next scale allocates its own.</summary>
    public void Finish()
    {
        if (_finished) return;
        if (_average is { Count: > 0 }) _average.WriteTo(X.View);
        _average?.Dispose();
        _average = null;
        if (_cache is not null && _objective is not null) _cache.Keep(_objective, _styles);
        else _objective?.Dispose();
        _objective = null;
        if (_optimizer is not AdamOptimizer)
        {
            _optimizer?.Dispose();
            _optimizer = null;
        }
        _finished = true;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _average?.Dispose();
        _optimizer?.Dispose();
        _objective?.Dispose();
        X?.Dispose();
    }

    private IOptimizer Optimizer => _finished || _optimizer is null ? throw Finished() : _optimizer;

    private static InvalidOperationException Finished() => new("This scale is finished.");

    /// <summary>The average takes every iterate with a finite loss (a NaN would poison it for good).</summary>
    private OptimizerStep Track(OptimizerStep step)
    {
        if (step.Stop != StopReason.NonFinite) _average?.Add(X.View);
        return step;
    }

    private static RgbImage Resize(RgbImage image, ChwShape shape) =>
        ImageResize.Resize(image, shape.Width, shape.Height);

    /// <summary>The images the objective is built from: the content (none for a texture) and the styles as network
    /// inputs; luminance-only, grey: the content's luminance, and each style's matched to its mean and
    /// deviation.</summary>
    private ObjectiveImages NetworkImages(IReadOnlyList<RgbImage> styles, StyleRegions? regions)
    {
        if (!Luminance)
        {
            return new ObjectiveImages(ContentImage is null ? null : ToNetwork(ContentImage),
                styles.Select(ToNetwork).ToList(), regions);
        }
        var contentLuminance = Yiq.Luminance(ContentImage!);
        var greyStyles = styles.Select(s => Grey(Yiq.MatchMeanAndDeviation(Yiq.Luminance(s), contentLuminance),
            s.Width, s.Height)).ToList();
        return new ObjectiveImages(Grey(contentLuminance, Shape.Width, Shape.Height), greyStyles, regions);
    }

    private NetworkImage ToNetwork(RgbImage image) =>
        new(_preprocessing.ToNetworkInput(image), new ChwShape(3, image.Height, image.Width));

    /// <summary>The network input of a grey image of luminance Y (0-255, one per pixel).</summary>
    private NetworkImage Grey(double[] luminance, int width, int height) =>
        new(_preprocessing.GreyToNetworkInput(luminance), new ChwShape(3, height, width));

    /// <summary>The first scale's starting image: the content, faint noise, <c>--init-image</c> at this size, or
    /// one <see cref="InitPixels"/> makes; luminance-only, its luminance.</summary>
    private float[] InitialImage(RunImages images)
    {
        switch (_options.Init)
        {
            case InitKind.Image:
                var init = Resize(images.Init!, Shape);
                return Luminance
                    ? _preprocessing.LuminanceToNetwork(Yiq.Luminance(init))
                    : _preprocessing.ToNetworkInput(init);
            case InitKind.Random:
                // Faint Gaussian noise around the mean colour; luminance-only, around the mean colour's grey (y = 0).
                var random = new Random(_options.Seed);
                double sigma = _preprocessing.NoiseSigma;
                var noise = new float[VariableShape.Length];
                for (int i = 0; i < noise.Length; i++)
                {
                    noise[i] = (float)(sigma * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()))
                                             * Math.Cos(2 * Math.PI * random.NextDouble()));
                }
                return noise;
            case var made when InitPixels.Makes(made):
                var start = InitPixels.Make(made, Shape.Width, Shape.Height, _options.Seed, images.Styles,
                    _options.Style.StyleBlendWeights);
                if (!Luminance) return _preprocessing.ToNetworkInput(start);
                var p = start.Pixels;
                return _preprocessing.LuminanceToNetwork(Enumerable.Range(0, p.Length / 3)
                    .Select(i => Yiq.Luminance(p[3 * i], p[3 * i + 1], p[3 * i + 2])).ToArray());
            default:
                return Luminance
                    ? _preprocessing.LuminanceToNetwork(Yiq.Luminance(ContentImage!))
                    : _preprocessing.ToNetworkInput(ContentImage!);
        }
    }

    /// <summary>A video frame's temporal target at this scale's size; a first frame (none) weighs every pixel 0, so
    /// the term adds nothing and the frame renders as the main job would.</summary>
    private void SetTemporalTarget(IStyleObjective objective, TemporalTarget? temporal)
    {
        if (temporal is null)
        {
            objective.SetTemporalTarget(new float[Shape.Length], new float[Shape.PlaneLength]);
            return;
        }
        if (temporal.Target.Width != Shape.Width || temporal.Target.Height != Shape.Height)
            throw new ArgumentException($"The temporal target is not {Shape.Width}x{Shape.Height}.");
        objective.SetTemporalTarget(_preprocessing.ToNetworkInput(temporal.Target), temporal.Weights);
    }

    /// <summary>The previous scale's result enlarged to this scale, bicubic, each channel clamped to the
    /// values of black and white there (bicubic overshoots at edges, by up to about 7% of a step).</summary>
    private MemoryBuffer1D<float, Stride1D.Dense> Enlarge(KernelSet kernels, ScaleRun previous)
    {
        var x = kernels.Accelerator.Allocate1D<float>(VariableShape.Length);
        ArrayView<float> to = x.View;
        ArrayView<float> from = previous.X.View;
        var toPlane = new ChwShape(1, Shape.Height, Shape.Width);
        var fromPlane = new ChwShape(1, previous.Shape.Height, previous.Shape.Width);
        for (int c = 0; c < VariableShape.Channels; c++)
        {
            var (low, high) = Luminance ? _preprocessing.LuminanceRange : _preprocessing.ChannelRange(c);
            kernels.Upsample.Forward(to.SubView(c * toPlane.Length, toPlane.Length),
                from.SubView(c * fromPlane.Length, fromPlane.Length), toPlane, fromPlane, UpsampleFilter.Bicubic,
                low, high);
        }
        return x;
    }

    private IOptimizer CreateOptimizer(KernelSet kernels, IObjective objective, ScaleRun? previous)
    {
        var o = _options;
        int iterations = Math.Max(Plan.Scale.Iterations, 1);
        if (o.Optimizer == OptimizerKind.Lbfgs)
        {
            return new LbfgsOptimizer(kernels, objective, X.View, o.Lbfgs with
            {
                MaxIterations = iterations,
                LearningRate = o.LearningRate ?? o.Lbfgs.LearningRate,
            });
        }
        var adam = new AdamOptimizer(kernels, objective, X.View, o.Adam with
        {
            MaxIterations = iterations,
            LearningRate = o.LearningRate ?? _preprocessing.AdamLearningRate(Plan.Objective.Loss.StyleLoss),
        });
        if (previous?._optimizer is AdamOptimizer before)
            adam.ContinueFrom(before, previous.VariableShape, VariableShape);
        return adam;
    }
}
