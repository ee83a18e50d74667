using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Tiling;

/// <summary>
/// What the tiled losses share: the tile being evaluated, two crop scratches, the Gram buffer, and
/// (with <see cref="StyleOptions.NormalizeGradients"/>) the norm scalars.
/// </summary>
internal sealed class TileContext
{
    private readonly ArrayView<float> _features; // owned positions of a tile's activation
    private readonly ArrayView<float> _gradient; // their gradient
    private readonly ArrayView<float> _gram;     // one tile's Gram matrix
    private readonly ArrayView<float> _normScalars; // (taps + 3): a norm per tap, a partial sum, epsilon, 1

    public TileContext(KernelSet kernels, DeviceMemory memory, TilePlan plan)
    {
        Kernels = kernels;
        _features = plan.ScratchLength > 0 ? memory.Floats(plan.ScratchLength).View : default;
        _gradient = plan.ScratchLength > 0 ? memory.Floats(plan.ScratchLength).View : default;
        _gram = plan.GramLength > 0 ? memory.Floats(plan.GramLength).View : default;
        Grid = plan.Grid;
        if (plan.NormalizerFloats > 0)
        {
            int taps = plan.NormalizerFloats - 3;
            var scalars = new float[plan.NormalizerFloats];
            scalars[taps + 1] = Epsilon;
            scalars[taps + 2] = 1f;
            _normScalars = memory.Upload(scalars).View;
        }
    }

    /// <summary>The gradient normaliser's epsilon, as <see cref="Losses.GradientNormalizer"/>'s.</summary>
    public const float Epsilon = 1e-8f;

    public KernelSet Kernels { get; }

    public TileGrid Grid { get; }

    /// <summary>The index in <see cref="TileGrid.Tiles"/> of the tile whose network ran last.</summary>
    public int Tile { get; set; }

    public ArrayView<float> Features(int n) => _features.SubView(0, n);

    public ArrayView<float> Gradient(int n) => _gradient.SubView(0, n);

    public ArrayView<float> Gram(int n) => _gram.SubView(0, n);

    /// <summary>Tap k's norm scalar (1 / (norm + eps) after <see cref="InvertNorms"/>).</summary>
    public ArrayView<float> Norm(int k) => _normScalars.SubView(k, 1);

    public void ClearNorms() => Kernels.Vectors.Fill(_normScalars.SubView(0, _normScalars.Length - 3), 0f);

    /// <summary>norm_k += |raw|_1.</summary>
    public void AddNorm(int k, ArrayView<float> raw)
    {
        var partial = _normScalars.SubView(_normScalars.Length - 3, 1);
        Kernels.Vectors.L1Norm(partial, raw);
        Kernels.Vectors.Scalar(Norm(k), Norm(k), ScalarOp.Add, partial);
    }

    /// <summary>Every norm becomes 1 / (norm + eps), the factor <see cref="AddOwned"/> applies.</summary>
    public void InvertNorms()
    {
        var epsilon = _normScalars.SubView(_normScalars.Length - 2, 1);
        var one = _normScalars.SubView(_normScalars.Length - 1, 1);
        for (int k = 0; k < _normScalars.Length - 3; k++)
        {
            Kernels.Vectors.Scalar(Norm(k), Norm(k), ScalarOp.Add, epsilon);
            Kernels.Vectors.Scalar(Norm(k), one, ScalarOp.Divide, Norm(k));
        }
    }

    /// <summary>
    /// Adds <paramref name="gradient"/> (compact, the owned window's) into the window of the tile's activation
    /// gradient, scaled by weight / (norm_k + eps) when normalising (k &gt;= 0), as it is otherwise. The features
    /// scratch is free by then and holds the scaled copy.
    /// </summary>
    public void AddOwned(ArrayView<float> dActivation, ArrayView<float> gradient, WindowShape window,
        int normIndex, float weight)
    {
        if (normIndex < 0)
        {
            Kernels.Window.Add(dActivation, gradient, window);
            return;
        }
        var scaled = Features(window.Length);
        Kernels.Vectors.Fill(scaled, 0f);
        Kernels.Vectors.AxpyByScalar(scaled, Norm(normIndex), weight, gradient);
        Kernels.Window.Add(dActivation, scaled, window);
    }
}

/// <summary>
/// The owned positions of one loss layer in every tile of a grid: each tile's window of its activation, in strips
/// of rows (<see cref="TilePlan.Strips"/>), each cropped and processed on its own.
/// </summary>
internal abstract class TiledLoss : ILossTap
{
    private readonly Strip[][] _strips; // per tile

    protected TiledLoss(string layer, TileContext context, ChwShape tileActivation, ChwShape wholeActivation,
        int stride, int normIndex)
    {
        Layer = layer;
        Context = context;
        Whole = wholeActivation;
        TileActivation = tileActivation;
        Stride = stride;
        NormIndex = normIndex;
        int index = 0;
        _strips = context.Grid.Tiles
            .Select(t => TilePlan.Strips(context.Grid, t, stride, tileActivation)
                .Select(w => new Strip(w, index++)).ToArray())
            .ToArray();
        StripCount = index;
    }

    /// <summary>One strip of a tile's owned window, and its number among all tiles' strips (in grid order).</summary>
    protected readonly record struct Strip(WindowShape Window, int Index);

    /// <inheritdoc/>
    public string Layer { get; }

    protected TileContext Context { get; }

    protected KernelSet Kernels => Context.Kernels;

    /// <summary>The whole image's activation at this layer (N = its length normalises the losses).</summary>
    protected ChwShape Whole { get; }

    /// <summary>The tile network's activation at this layer.</summary>
    protected ChwShape TileActivation { get; }

    /// <summary>The layer's stride in pixels.</summary>
    protected int Stride { get; }

    /// <summary>This tap's norm scalar in the context; -1 when gradients are not normalised.</summary>
    protected int NormIndex { get; }

    /// <summary>Strips of all tiles.</summary>
    protected int StripCount { get; }

    /// <summary>The strips of tile t's owned window (none when it owns nothing at this layer).</summary>
    protected Strip[] Strips(int t) => _strips[t];

    /// <summary>The strips of every tile, in grid order.</summary>
    protected IEnumerable<Strip> AllStrips => _strips.SelectMany(s => s);

    /// <summary>Nothing: a tiled loss is summed by the objective between the passes.</summary>
    public void Forward(DeviceTensor activation)
    {
    }

    /// <summary>Adds the loss's gradient at the current tile's owned positions (zero elsewhere).</summary>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        foreach (var strip in Strips(Context.Tile))
        {
            var gradient = Context.Gradient(strip.Window.Length);
            RawGradient(gradient, Crop(activation, strip.Window), strip, NormIndex >= 0);
            Context.AddOwned(dActivation, gradient, strip.Window, NormIndex, LossWeight);
        }
    }

    /// <summary>Adds the L1 norm of the raw gradient at the current tile's owned positions to this tap's.</summary>
    public void AddNorm(DeviceTensor activation)
    {
        foreach (var strip in Strips(Context.Tile))
        {
            var gradient = Context.Gradient(strip.Window.Length);
            RawGradient(gradient, Crop(activation, strip.Window), strip, raw: true);
            Context.AddNorm(NormIndex, gradient);
        }
    }

    /// <summary>The weight of the term (applied after normalisation when normalising).</summary>
    protected abstract float LossWeight { get; }

    /// <summary>
    /// Writes the gradient at a strip's positions into <paramref name="gradient"/>: the loss's own (weighted), or
    /// with <paramref name="raw"/> the weight-1 gradient the normaliser divides.
    /// </summary>
    protected abstract void RawGradient(ArrayView<float> gradient, ArrayView<float> features, Strip strip, bool raw);

    /// <summary>The positions of a strip of the activation, compact: cropped into the features scratch.</summary>
    protected ArrayView<float> Crop(DeviceTensor activation, WindowShape window)
    {
        var features = Context.Features(window.Length);
        Kernels.Window.Crop(features, activation.View, window);
        return features;
    }
}

/// <summary>
/// Content loss on one layer over tiles: <c>w_c * sum_tiles sum_owned (F - T)^2 / N</c>, N the whole
/// layer's length, which is SPEC.md's mean. The target T is kept compact, strip after strip of each tile's
/// owned window, so it has exactly the whole layer's length.
/// </summary>
internal sealed class TiledContentLoss : TiledLoss
{
    private readonly ArrayView<float>[] _targets; // per strip: its part of F_l(content)
    private readonly ArrayView<float> _loss;
    private readonly float _weight;

    public TiledContentLoss(string layer, TileContext context, ChwShape tileActivation, ChwShape wholeActivation,
        int stride, DeviceMemory memory, ArrayView<float> loss, float weight, int normIndex)
        : base(layer, context, tileActivation, wholeActivation, stride, normIndex)
    {
        _loss = loss;
        _weight = weight;
        var all = memory.Floats(wholeActivation.Length).View;
        _targets = new ArrayView<float>[StripCount];
        long offset = 0;
        foreach (var strip in AllStrips)
        {
            _targets[strip.Index] = all.SubView(offset, strip.Window.Length);
            offset += strip.Window.Length;
        }
    }

    protected override float LossWeight => _weight;

    /// <summary>A strip's share of N, by which the mean over its positions is weighted.</summary>
    private float Share(Strip strip) => (float)((double)strip.Window.Length / Whole.Length);

    /// <summary>Records the current tile's owned part of the target from a forward pass of the content image.</summary>
    public void CaptureTarget(DeviceTensor activation)
    {
        foreach (var strip in Strips(Context.Tile))
            Kernels.Window.Crop(_targets[strip.Index], activation.View, strip.Window);
    }

    /// <summary>Adds the current tile's part of the loss.</summary>
    public void AddLoss(DeviceTensor activation)
    {
        foreach (var strip in Strips(Context.Tile))
        {
            Kernels.Mse.Forward(_loss, Crop(activation, strip.Window), _targets[strip.Index], _weight * Share(strip),
                accumulate: true);
        }
    }

    /// <summary>
    /// 2 w (F - T) / N (w = 1 raw): the MSE gradient over the strip is 2 w' (F - T) / n, w' = w n / N.
    /// </summary>
    protected override void RawGradient(ArrayView<float> gradient, ArrayView<float> features, Strip strip,
        bool raw) =>
        Kernels.Mse.Backward(gradient, features, _targets[strip.Index], (raw ? 1f : _weight) * Share(strip),
            accumulate: false);
}

/// <summary>
/// Style loss on one layer over tiles: <c>G = sum_tiles F_owned F_owned^T / N</c> (N the whole layer's
/// length) is the whole image's Gram matrix; the loss and <c>dG</c> follow from it once every tile has been
/// seen, and each tile's gradient is <c>(dG + dG^T) F_owned / N</c>.
/// </summary>
/// <remarks>
/// With a region's guide T (SPEC.md, "Regions") the same sums give the guided Gram: each owned strip of F is
/// weighted by its strip of T before its Gram is added, the scale is the whole guide's
/// <c>s = 1 / (C * sum_p T[p]^2)</c> instead of 1/N, and the gradient is <c>s (dG + dG^T)(F o T^2)</c> at the
/// strip's positions, as <see cref="Losses.StyleLoss"/> computes it over the whole image. The weighting is
/// done in place on the cropped features, which are a copy.
/// </remarks>
internal sealed class TiledStyleLoss : TiledLoss
{
    private readonly ArrayView<float> _target; // (C, C) A_l
    private readonly ArrayView<float> _gram;   // (C, C) G_l(x), summed over the tiles
    private readonly ArrayView<float> _dGram;  // (C, C)
    private readonly ArrayView<float>[]? _guides; // per strip, its positions of the guide (null: unguided)
    private readonly ArrayView<float> _loss;
    private readonly float _weight;
    private readonly float _scale;

    /// <summary>
    /// A term on <paramref name="layer"/>; <paramref name="guide"/> is null, or the region's guide at this layer
    /// over the whole image (its height x width, as <see cref="RegionGuides.ToFloat"/> gives it).
    /// </summary>
    public TiledStyleLoss(string layer, TileContext context, ChwShape tileActivation, ChwShape wholeActivation,
        int stride, DeviceMemory memory, ArrayView<float> target, ArrayView<float> loss, float weight, int normIndex,
        float[]? guide = null)
        : base(layer, context, tileActivation, wholeActivation, stride, normIndex)
    {
        int length = wholeActivation.Channels * wholeActivation.Channels;
        _target = target;
        _gram = memory.Floats(length).View;
        _dGram = memory.Floats(length).View;
        _loss = loss;
        _weight = weight;
        _scale = guide is null ? Losses.StyleLoss.GramScale(Whole) : RegionGuides.GramScale(Whole.Channels, guide);
        if (guide is not null)
        {
            var all = memory.Upload(TilePlan.InStripOrder(guide, Whole, Context.Grid, Stride, TileActivation)).View;
            _guides = new ArrayView<float>[StripCount];
            long offset = 0;
            foreach (var strip in AllStrips)
            {
                long positions = (long)strip.Window.Height * strip.Window.Width;
                _guides[strip.Index] = all.SubView(offset, positions);
                offset += positions;
            }
        }
    }

    protected override float LossWeight => _weight;

    /// <summary>Whether the term has a Gram to compare: false when its guide is zero everywhere.</summary>
    public bool HasMass => _scale != 0;

    public void ClearGram() => Kernels.Vectors.Fill(_gram, 0f);

    /// <summary>Adds the current tile's owned positions' part of G.</summary>
    public void AddGram(DeviceTensor activation)
    {
        foreach (var strip in Strips(Context.Tile))
        {
            var features = Guided(Crop(activation, strip.Window), strip, squared: false);
            AddGram(Kernels, Context.Gram(_gram.IntLength), _gram, features, strip.Window, _scale, 1f);
        }
    }

    /// <summary>The loss from the summed G, and dG (of the weighted loss, or of weight 1 when normalising).</summary>
    public void Finish()
    {
        Kernels.Mse.Forward(_loss, _gram, _target, _weight, accumulate: true);
        Kernels.Mse.Backward(_dGram, _gram, _target, NormIndex >= 0 ? 1f : _weight, accumulate: false);
    }

    /// <summary>(dG + dG^T) F / N at the strip's positions (dG already of the weighted loss, or raw); guided,
    /// s (dG + dG^T)(F o T^2).</summary>
    protected override void RawGradient(ArrayView<float> gradient, ArrayView<float> features, Strip strip,
        bool raw) =>
        Kernels.Gram.Backward(gradient, _dGram, Guided(features, strip, squared: true), Shape(strip), _scale,
            accumulate: false);

    private static GramShape Shape(Strip strip) =>
        new(strip.Window.Tensor.Channels, strip.Window.Height * strip.Window.Width);

    /// <summary>The cropped features of a strip weighted in place by its guide (squared: by T^2); unguided, as
    /// they are.</summary>
    private ArrayView<float> Guided(ArrayView<float> features, Strip strip, bool squared)
    {
        if (_guides is not null)
            Kernels.Guide.Forward(features, features, _guides[strip.Index], Shape(strip), squared);
        return features;
    }

    /// <summary>
    /// sum += factor * scale * F F^T for the positions <paramref name="features"/> (compact, the shape of
    /// <paramref name="window"/>), through <paramref name="scratch"/> (C*C): how both the objective's G and the
    /// style targets are summed over tiles.
    /// </summary>
    public static void AddGram(KernelSet kernels, ArrayView<float> scratch, ArrayView<float> sum,
        ArrayView<float> features, WindowShape window, float scale, float factor)
    {
        var shape = new GramShape(window.Tensor.Channels, window.Height * window.Width);
        kernels.Gram.Forward(scratch, features, shape, scale);
        kernels.Vectors.Axpy(sum, factor, scratch);
    }
}
