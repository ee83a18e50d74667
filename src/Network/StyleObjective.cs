using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Network;

/// <summary>A preprocessed image, <c>(3, H, W)</c>, ready for the network.</summary>
public sealed record NetworkImage(float[] Data, ChwShape Shape);

/// <summary>The loss terms of one evaluation, read back to the host.</summary>
/// <param name="Total">L.</param>
/// <param name="Content">L_c.</param>
/// <param name="Style">L_s (with regions, the sum of <paramref name="Regions"/>).</param>
/// <param name="TotalVariation">L_tv.</param>
/// <param name="Regions">With regions, each region's style loss in region order; otherwise null.</param>
public readonly record struct LossBreakdown(float Total, float Content, float Style, float TotalVariation,
    IReadOnlyList<float>? Regions = null);

/// <summary>
/// The function style transfer minimizes, <c>x -&gt; (L(x), dL/dx)</c> on the device, with
/// <c>L = L_c + L_s + L_tv</c> exactly as SPEC.md defines them.
/// </summary>
/// <remarks>
/// Building it captures the targets once: the content image is forwarded to record
/// <c>F_l(content)</c> on the content layers, and each style image (through a temporary network of
/// its own size) to accumulate the blended Gram targets <c>A_l = sum_k b_k G_l(style_k)</c>.
/// Then every evaluation is one forward and one backward pass over buffers allocated here, with the
/// losses summed into device scalars; nothing is read back unless <see cref="ReadLosses"/> is called.
/// </remarks>
public sealed partial class StyleObjective : IObjective, IDisposable
{
    private readonly KernelSet _kernels;
    private readonly VggNetwork? _network;
    private readonly TiledObjective? _tiled; // with a tile grid of more than one tile (then no _network)
    private readonly Func<string, ChwShape>? _wholeShape; // the whole image's activations, when tiled
    private readonly Tape _tape = new();
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scalars; // (4 + R) total, content, style, tv, regions'
    private readonly LossWeights _weights;

    /// <summary>Builds the network for <paramref name="content"/>'s size and captures every target.</summary>
    /// <param name="kernels">The kernels.</param>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image (and so x's shape).</param>
    /// <param name="styles">The style images.</param>
    /// <param name="options">The loss settings.</param>
    /// <param name="tileCore">Null: untiled. Otherwise the core of a tile in pixels: the image is evaluated
    /// through a network the size of one tile (<see cref="TileGrid.For"/>, <see cref="TilePlan"/>), with the
    /// same loss and gradient; a core that covers the image leaves it untiled.</param>
    /// <param name="regions">Null, or one region per style image: the style loss is then the sum over
    /// regions of guided Gram losses (SPEC.md, "Regions"), and the blend weights must be left out; tiled or
    /// not, the same losses and gradient.</param>
    /// <exception cref="StyleSetupException">Unknown layers, mismatched weights, an image too small, ...</exception>
    public StyleObjective(KernelSet kernels, VggWeights weights, NetworkImage content,
        IReadOnlyList<NetworkImage> styles, StyleOptions options, int? tileCore = null, StyleRegions? regions = null)
    {
        _kernels = kernels;
        Shape = content.Shape;
        Preprocessing = Preprocessing.FromName(weights.Preprocess);
        _weights = options.ResolveWeights(Preprocessing);
        Memory = new DeviceMemory(kernels.Accelerator);
        try
        {
            options.CheckLayers(weights.Architecture);
            var layerWeights = options.StyleLayerWeights ?? options.StyleLayers.Select(_ => 1f).ToList();
            if (layerWeights.Count != options.StyleLayers.Count)
                throw new StyleSetupException($"There are {options.StyleLayers.Count} style layers but " +
                                              $"{layerWeights.Count} style layer weights.");
            CheckRegions(regions, content, styles, options);
            var blend = NormalizedBlend(options.StyleBlendWeights, styles.Count);

            var contentLayers = _weights.Content != 0 ? options.ContentLayers : [];
            var styleLayers = _weights.Style != 0 ? options.StyleLayers : [];
            if (styleLayers.Count > 0 && styles.Count == 0)
                throw new StyleSetupException("The style loss needs at least one style image.");

            _regionCount = regions?.Count ?? 0;
            _scalars = Memory.Floats(4 + _regionCount);
            var used = contentLayers.Concat(styleLayers).ToList();
            if (used.Count == 0) return; // only total variation: no network needed
            var blendedLayers = regions is null ? styleLayers : []; // with regions, each has its own targets

            var plan = tileCore is { } core
                ? TilePlan.Build(weights, content.Shape, styles.Select(s => s.Shape).ToList(), options, kernels.Choice,
                    core, regions?.Layout)
                : null;
            if (plan is not null)
            {
                var styleWeights = styleLayers
                    .Select(l => _weights.Style * layerWeights[options.StyleLayers.ToList().IndexOf(l)]).ToList();
                List<ArrayView<float>> styleLosses = regions is null
                    ? [_scalars.View.SubView(2, 1)]
                    : Enumerable.Range(0, regions.Count)
                        .Select(r => (ArrayView<float>)_scalars.View.SubView(4 + r, 1)).ToList();
                _tiled = new TiledObjective(kernels, Memory, weights, content, styles, blend, plan, _weights.Content,
                    styleWeights, options.Pooling, _scalars.View.SubView(1, 1), styleLosses, regions);
                _omittedRegionTerms.AddRange(_tiled.OmittedRegionTerms.Select(t => RegionTerm(t.Region, t.Layer)));
                _wholeShape = l => TilePlan.LayerShape(weights, l, content.Shape.Height, content.Shape.Width);
                return;
            }

            // Style targets first: A_l = sum_k b_k G_l(style_k), each style image forwarded once
            // through a temporary network of its own size, freed before the main network exists,
            // so that the peak is the larger of the two networks, not their sum.
            var styleTargets = blendedLayers.Select(l => Memory.Floats(GramLength(weights, l))).ToList();
            foreach (var target in styleTargets) kernels.Vectors.Fill(target.View, 0f);
            for (int k = 0; k < styles.Count && blendedLayers.Count > 0; k++)
            {
                using var scope = Memory.Scope();
                var styleNetwork = BuildNetwork(kernels, Memory, weights, styles[k].Shape,
                    blendedLayers, options.Pooling);
                var input = Memory.Upload(styles[k].Data);
                styleNetwork.Forward(input.View, new Tape());
                for (int i = 0; i < blendedLayers.Count; i++)
                {
                    var activation = styleNetwork.Activation(blendedLayers[i]);
                    var gram = Memory.Floats(GramShape.Of(activation.Shape).GramLength);
                    kernels.Gram.Forward(gram.View, activation.View, GramShape.Of(activation.Shape),
                        StyleLoss.GramScale(activation.Shape));
                    kernels.Vectors.Axpy(styleTargets[i].View, blend[k], gram.View);
                }
                kernels.Accelerator.Synchronize(); // the scope frees the style network's buffers next
            }
            var regionTargets = regions is null || styleLayers.Count == 0
                ? null
                : CaptureRegionTargets(kernels, weights, styles, styleLayers, options.Pooling, regions);

            _network = BuildNetwork(kernels, Memory, weights, content.Shape, used, options.Pooling);
            int largest = used.Max(n => _network.OutputShape(n).Length); // the largest gradient a tap normalizes
            var normalizer = options.NormalizeGradients ? new GradientNormalizer(kernels, Memory, largest) : null;

            // Content targets: F_l(content), from the network this objective will use.
            var contentTargets = contentLayers.Select(l => Memory.Floats(_network.Activation(l).Shape.Length)).ToList();
            using (Memory.Scope())
            {
                var input = Memory.Upload(content.Data);
                _network.Forward(input.View, _tape);
                for (int i = 0; i < contentLayers.Count; i++)
                    kernels.Vectors.Copy(contentTargets[i].View, _network.Activation(contentLayers[i]).View);
                kernels.Accelerator.Synchronize();
            }

            var contentLoss = _scalars.View.SubView(1, 1);
            var styleLoss = _scalars.View.SubView(2, 1);
            for (int i = 0; i < contentLayers.Count; i++)
                _network.AddTap(new ContentLoss(contentLayers[i], kernels, contentTargets[i].View, contentLoss,
                    _weights.Content, normalizer));
            for (int i = 0; i < blendedLayers.Count; i++)
            {
                var shape = _network.Activation(blendedLayers[i]).Shape;
                float weight = _weights.Style * layerWeights[options.StyleLayers.ToList().IndexOf(blendedLayers[i])];
                _network.AddTap(new StyleLoss(blendedLayers[i], shape, kernels, Memory, styleTargets[i].View,
                    styleLoss, weight, normalizer));
            }
            if (regionTargets is not null)
            {
                var regionWeights = styleLayers.Select(l => _weights.Style * layerWeights[
                    options.StyleLayers.ToList().IndexOf(l)]).ToList();
                AddRegionTaps(kernels, weights, styleLayers, regionWeights, regions!, regionTargets, normalizer);
            }
            kernels.Accelerator.Synchronize();
        }
        catch
        {
            Memory.Dispose();
            throw;
        }
    }

    /// <summary>The shape of x, <c>(3, H, W)</c>.</summary>
    public ChwShape Shape { get; }

    /// <inheritdoc/>
    public int Length => Shape.Length;

    /// <summary>The preprocessing convention of the weights (and so of x).</summary>
    public Preprocessing Preprocessing { get; }

    /// <summary>The loss weights in force (the defaults for the convention where none were given).</summary>
    public LossWeights Weights => _weights;

    /// <summary>Every device buffer of the objective: allocation count and peak bytes.</summary>
    public DeviceMemory Memory { get; }

    /// <summary>The shape of a ReLU output the network computes.</summary>
    public ChwShape ActivationShape(string reluName) => _wholeShape?.Invoke(reluName) ??
        (_network ?? throw new InvalidOperationException("No network: only total variation is optimized."))
            .OutputShape(reluName);

    /// <summary>The network's layers, in order (empty when only total variation is optimized; tiled: the tile
    /// network's).</summary>
    public IEnumerable<string> LayerNames => _tiled?.LayerNames ?? _network?.LayerNames ?? [];

    /// <summary>Whether the image is evaluated tile by tile (a <c>tileCore</c> smaller than the image).</summary>
    public bool IsTiled => _tiled is not null;

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss) =>
        Evaluate(x, gradient, loss, profiler: null);

    /// <summary>
    /// <see cref="Evaluate(ArrayView{float}, ArrayView{float}, ArrayView{float})"/> with every piece
    /// (each layer's forward and backward, each loss tap, the sums) marked on <paramref name="profiler"/>
    /// for device-side timing (the bench command).
    /// </summary>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss, LayerProfiler? profiler)
    {
        Require.Length(x, Shape.Length, nameof(x));
        Require.Length(gradient, Shape.Length, nameof(gradient));
        Require.Length(loss, 1, nameof(loss));
        var vectors = _kernels.Vectors;
        var total = _scalars.View.SubView(0, 1);
        var tv = _scalars.View.SubView(3, 1);
        profiler?.Mark("clear");
        vectors.Fill(_scalars.View, 0f);

        if (_tiled is not null)
        {
            _tiled.Evaluate(x, gradient, profiler); // the same loss and gradient, a tile at a time
        }
        else if (_network is not null)
        {
            _tape.Clear();
            _network.Forward(x, _tape, profiler);        // content and style taps add their losses here
            _network.Backward(_tape, gradient, profiler); // and their gradients here
        }
        else
        {
            vectors.Fill(gradient, 0f);
        }

        if (_weights.TotalVariation != 0)
        {
            profiler?.Mark("total variation");
            _kernels.TotalVariation.Forward(tv, x, Shape, _weights.TotalVariation, accumulate: true);
            _kernels.TotalVariation.Backward(gradient, x, Shape, _weights.TotalVariation, accumulate: true);
        }

        profiler?.Mark("loss sum");
        SumRegionLosses();
        vectors.Scalar(total, _scalars.View.SubView(1, 1), ScalarOp.Add, _scalars.View.SubView(2, 1));
        vectors.Scalar(total, total, ScalarOp.Add, tv);
        vectors.Copy(loss, total);
        profiler?.Mark("host, between evaluations");
    }

    /// <summary>Waits for the device and reads the last evaluation's loss terms (one small copy).</summary>
    public LossBreakdown ReadLosses()
    {
        _kernels.Accelerator.Synchronize();
        var values = _scalars.GetAsArray1D();
        return new LossBreakdown(values[0], values[1], values[2], values[3], _regionCount == 0 ? null : values[4..]);
    }

    /// <inheritdoc/>
    public void Dispose() => Memory.Dispose();

    /// <summary>Entries of the Gram matrix of a ReLU layer: C x C, C being its conv's output channels.</summary>
    internal static int GramLength(VggWeights weights, string reluName)
    {
        int channels = weights[weights.Architecture.ConvName(reluName)].OutChannels;
        return channels * channels;
    }

    /// <summary>A network up to the deepest of <paramref name="tapped"/>, keeping exactly those outputs.</summary>
    private static VggNetwork BuildNetwork(KernelSet kernels, DeviceMemory memory, VggWeights weights, ChwShape shape,
        IReadOnlyList<string> tapped, Pooling pooling)
    {
        try
        {
            string deepest = weights.Architecture.Deepest(tapped);
            return new VggNetwork(kernels, memory, weights, shape.Height, shape.Width, deepest, pooling, tapped);
        }
        catch (ArgumentException e)
        {
            throw new StyleSetupException(e.Message);
        }
    }

    private static float[] NormalizedBlend(IReadOnlyList<float>? raw, int styles)
    {
        if (raw is null) return Enumerable.Repeat(1f / Math.Max(styles, 1), styles).ToArray();
        if (raw.Count != styles)
            throw new StyleSetupException($"There are {styles} style images but {raw.Count} blend weights.");
        if (raw.Any(w => w < 0 || !float.IsFinite(w)) || raw.Sum() <= 0)
            throw new StyleSetupException("Style blend weights must be non-negative numbers with a positive sum.");
        float sum = raw.Sum();
        return raw.Select(w => w / sum).ToArray();
    }
}
