using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>What an objective is asked to match.</summary>
public enum ObjectiveKind
{
    /// <summary>A content image and style images: <c>L = L_c + L_s + L_tv</c>.</summary>
    Content,

    /// <summary>
    /// Style images alone, a texture (Gatys et al. 2015): <c>L = L_s + L_tv</c>. There is no content image, so no
    /// content layer and nothing forwarded for one; x alone gives the network its size.
    /// </summary>
    Texture,
}

/// <summary>One layer a loss term reads.</summary>
/// <param name="Name">The ReLU layer, e.g. <c>relu4_2</c>.</param>
/// <param name="Weight">The term's weight: <c>w_c</c> for a content layer, <c>w_s</c> times the layer's own weight
/// for a style layer.</param>
/// <param name="Channels">C, its activation's channels (the conv's output channels).</param>
/// <param name="Stride">Input pixels per position, <see cref="VggArchitecture.Stride"/>.</param>
public sealed record LossLayer(string Name, float Weight, int Channels, int Stride)
{
    /// <summary>Entries of the layer's Gram matrix, <c>C*C</c>.</summary>
    public int GramLength => Channels * Channels;
}

/// <summary>
/// The loss of a run, decided once from the options and the weights' shapes, whatever the image's size: which
/// layers carry a term and with what weight, the blend of the style images, the regions' layout. Every size of the
/// run (<see cref="ObjectivePlan"/>) and every form of the objective reads it; nothing decides again.
/// </summary>
/// <remarks>
/// A term exists only when its weight is not 0: a content weight of 0 (or a texture) means no content layer, a
/// style weight of 0 no style layer. A style weight with no style image is refused, not silently dropped.
/// </remarks>
public sealed class LossPlan
{
    private LossPlan(ObjectiveKind kind, VggArchitecture architecture, Preprocessing preprocessing,
        LossWeights weights, IReadOnlyList<LossLayer> content, IReadOnlyList<LossLayer> style,
        IReadOnlyList<float> blend, StyleOptions options, RegionLayout? regions, bool luminance, float temporal)
    {
        Temporal = temporal;
        Kind = kind;
        Architecture = architecture;
        Preprocessing = preprocessing;
        Weights = weights;
        Content = content;
        Style = style;
        Blend = blend;
        Pooling = options.Pooling;
        StyleLoss = options.StyleLoss;
        Normalize = options.NormalizeGradients;
        Regions = regions;
        Luminance = luminance;
        UsedLayers = content.Concat(style).Select(l => l.Name).ToList();
        DeepestLayer = UsedLayers.Count == 0 ? null : architecture.Deepest(UsedLayers);
    }

    /// <summary>A content run or a texture.</summary>
    public ObjectiveKind Kind { get; }

    /// <summary>VGG-19 or VGG-16.</summary>
    public VggArchitecture Architecture { get; }

    /// <summary>The input convention of the weights (and so of x).</summary>
    public Preprocessing Preprocessing { get; }

    /// <summary>The loss weights in force: the convention's defaults where none were given; a texture's content
    /// weight is 0. The TV weight applies to x (luminance-only: to its one channel y).</summary>
    public LossWeights Weights { get; }

    /// <summary>The content layers, each with <c>w_c</c>; none when the content weight is 0 or for a
    /// texture.</summary>
    public IReadOnlyList<LossLayer> Content { get; }

    /// <summary>The style layers, each with <c>w_s</c> times its layer weight; none when the style weight is
    /// 0.</summary>
    public IReadOnlyList<LossLayer> Style { get; }

    /// <summary>Video's temporal term's weight <c>w_t</c> (Ruder et al. 2016), on the network input; 0 when the run
    /// has no such term (every run but a video's).</summary>
    public float Temporal { get; }

    /// <summary>The layers the network keeps (content, then style): the ones a loss reads.</summary>
    public IReadOnlyList<string> UsedLayers { get; }

    /// <summary>The deepest used layer, where the network stops; null when none is used (only total
    /// variation: no network).</summary>
    public string? DeepestLayer { get; }

    /// <summary>Each style image's blend weight <c>b_k</c>, normalised to sum 1 (equal when none were
    /// given).</summary>
    public IReadOnlyList<float> Blend { get; }

    /// <summary>Gram matrices or Wasserstein-2 on every style layer.</summary>
    public StyleLossKind StyleLoss { get; }

    /// <summary>The pooling between blocks.</summary>
    public Pooling Pooling { get; }

    /// <summary>Whether each tap's gradient is divided by its L1 norm.</summary>
    public bool Normalize { get; }

    /// <summary>The regions' layout (one region per style image), or null: one blended style loss.</summary>
    public RegionLayout? Regions { get; }

    /// <summary>Sets of style terms, each with its targets and its loss scalar: one per region, or the one blended
    /// set.</summary>
    public int StyleSets => Regions?.Count ?? 1;

    /// <summary>Whether x is one channel, the luminance, replicated to the network's three
    /// (<see cref="LuminanceObjective"/>).</summary>
    public bool Luminance { get; }

    /// <summary>The shape of x for a network input of <paramref name="input"/> <c>(3, H, W)</c>: the input's,
    /// or <c>(1, H, W)</c> when only the luminance is optimized.</summary>
    public ChwShape VariableShape(ChwShape input) =>
        Luminance ? new ChwShape(1, input.Height, input.Width) : input;

    /// <summary>The style images the loss blends (or paints one per region).</summary>
    public int StyleCount => Blend.Count;

    /// <summary>
    /// The stride of the deepest used layer: tiles' cores and regions start at multiples of it (1 when no layer
    /// is used).
    /// </summary>
    public int Stride => DeepestLayer is null ? 1 : Architecture.Stride(DeepestLayer);

    /// <summary>
    /// The TV weight on the network's input: the run's, except luminance-only, where total variation is taken on y
    /// by <see cref="LuminanceObjective"/> instead.
    /// </summary>
    public float InputTvWeight => Luminance ? 0 : Weights.TotalVariation;

    /// <summary>
    /// The loss of <paramref name="options"/> for weights of these shapes and <paramref name="styleCount"/> style
    /// images.
    /// </summary>
    /// <param name="weights">The weights (their architecture, channels and convention; their values are not
    /// read).</param>
    /// <param name="options">The loss settings.</param>
    /// <param name="styleCount">The style images.</param>
    /// <param name="kind">A content run or a texture.</param>
    /// <param name="regions">Null, or one region per style image: the style loss is then the sum over regions of
    /// guided Gram losses (SPEC.md, "Regions"), and the blend weights must be left out.</param>
    /// <param name="luminance">Whether x is the luminance alone (<see cref="LuminanceObjective"/>).</param>
    /// <param name="temporal">Whether the loss has video's temporal term, with <paramref name="options"/>'
    /// weight.</param>
    /// <exception cref="StyleSetupException">Unknown or repeated layers, weights that do not match the layers or
    /// the images, a style loss without a style image, a temporal term without a content image or on the
    /// luminance.</exception>
    public static LossPlan Build(VggWeights weights, StyleOptions options, int styleCount,
        ObjectiveKind kind = ObjectiveKind.Content, RegionLayout? regions = null, bool luminance = false,
        bool temporal = false)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        var architecture = weights.Architecture;
        options.CheckLayers(architecture);
        var layerWeights = options.ResolveLayerWeights();
        if (layerWeights.Count != options.StyleLayers.Count)
        {
            throw new StyleSetupException($"There are {options.StyleLayers.Count} style layers but " +
                                          $"{layerWeights.Count} style layer weights.");
        }
        CheckRegions(regions, styleCount, options, kind);
        var blend = NormalizedBlend(options.StyleBlendWeights, styleCount);

        var preprocessing = Preprocessing.FromName(weights.Preprocess);
        var resolved = options.ResolveWeights(preprocessing);
        if (kind == ObjectiveKind.Texture) resolved = resolved with { Content = 0 };
        LossLayer Layer(string name, float weight) => new(name, weight,
            weights[architecture.ConvName(name)].OutChannels, architecture.Stride(name));
        var content = resolved.Content == 0 ? []
            : options.ContentLayers.Select(l => Layer(l, resolved.Content)).ToList();
        var style = resolved.Style == 0 ? []
            : options.StyleLayers.Select((l, i) => Layer(l, resolved.Style * layerWeights[i])).ToList();
        if (style.Count > 0 && styleCount == 0)
            throw new StyleSetupException("The style loss needs at least one style image.");
        if (temporal && (kind == ObjectiveKind.Texture || luminance))
        {
            throw new StyleSetupException(kind == ObjectiveKind.Texture
                ? "A texture has no frames to keep consistent." : "Video keeps colour frames consistent: " +
                  "--color-control luminance-only cannot be used with it.");
        }
        return new LossPlan(kind, architecture, preprocessing, resolved, content, style, blend, options, regions,
            luminance, temporal ? resolved.Temporal : 0);
    }

    /// <summary>
    /// Whether <paramref name="other"/> is the same loss: the same terms on the same layers with the same weights,
    /// blend, pooling, normalisation, regions' layout, kind and variable. Two plans made from the same options and
    /// weights are the same; an objective built for one serves the other.
    /// </summary>
    public bool SameAs(LossPlan other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Kind == other.Kind && Architecture.Name == other.Architecture.Name
            && Preprocessing.Convention == other.Preprocessing.Convention && Weights == other.Weights
            && Content.SequenceEqual(other.Content) && Style.SequenceEqual(other.Style)
            && Blend.SequenceEqual(other.Blend) && Pooling == other.Pooling && Normalize == other.Normalize
            && StyleLoss == other.StyleLoss
            && (Regions is null ? other.Regions is null
                : other.Regions is not null && Regions.StyleGuided.SequenceEqual(other.Regions.StyleGuided))
            && Luminance == other.Luminance && Temporal.Equals(other.Temporal);
    }

    /// <summary>
    /// Refuses a tiled evaluation of a loss that cannot be tiled: the Wasserstein-2 loss's roots need a layer's
    /// moments over the whole image before any tile's gradient, which the tiles' one pass does not give.
    /// </summary>
    /// <exception cref="StyleSetupException">A Wasserstein-2 loss.</exception>
    public void CheckTiled()
    {
        if (StyleLoss == StyleLossKind.W2 && Style.Count > 0)
        {
            throw new StyleSetupException("--style-loss w2 cannot be evaluated in tiles: give a smaller --size, " +
                                          "more device memory, or --style-loss gram.");
        }
    }

    private static void CheckRegions(RegionLayout? regions, int styleCount, StyleOptions options, ObjectiveKind kind)
    {
        if (regions is null) return;
        if (options.StyleLoss == StyleLossKind.W2)
            throw new StyleSetupException("--style-loss w2 has no regions: use --style-loss gram with masks.");
        if (kind == ObjectiveKind.Texture)
            throw new StyleSetupException("A texture has no content image to divide into regions.");
        if (regions.Count != styleCount)
        {
            throw new StyleSetupException($"There are {styleCount} style images but {regions.Count} regions: " +
                                          "each region is painted in its own style image.");
        }
        if (options.StyleBlendWeights is not null)
            throw new StyleSetupException("Style blend weights mean nothing with regions: each paints its own style.");
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
