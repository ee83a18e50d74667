using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>A style-transfer setting that cannot work; the message is one line that says why.</summary>
public sealed class StyleSetupException(string message) : Exception(message);

/// <summary>The weights of the loss terms (SPEC.md's <c>w_c</c>, <c>w_s</c>, <c>w_tv</c>, and video's temporal
/// <c>w_t</c>, which counts only where a video run has the term).</summary>
public sealed record LossWeights(float Content, float Style, float TotalVariation, float Temporal)
{
    /// <summary>The classic tools' defaults, for caffe-convention weights (0-255 scale): neural-style's, and
    /// manuelruder/artistic-videos' temporal weight.</summary>
    public static LossWeights Caffe { get; } = new(5f, 100f, 1e-3f, 1e3f);

    /// <summary>
    /// Defaults for torchvision-convention weights that strike the caffe defaults' balance: with
    /// inputs and features about s = 58 times smaller (<see cref="Preprocessing.TorchvisionScale"/>), the
    /// content loss (squares of features) and the TV loss (squares of pixels) shrink by s^2 and the style
    /// loss (squares of Gram entries, themselves products of features) by s^4, so the weights grow by
    /// the same factors and every term keeps its caffe-convention size.
    /// </summary>
    public static LossWeights Torchvision { get; } = new(
        Caffe.Content * Scale * Scale,
        Caffe.Style * Scale * Scale * Scale * Scale,
        Caffe.TotalVariation * Scale * Scale,
        Caffe.Temporal * Scale * Scale);

    private const float Scale = Preprocessing.TorchvisionScale;

    /// <summary>The defaults for a preprocessing convention (<c>caffe</c> or <c>torchvision</c>).</summary>
    public static LossWeights DefaultsFor(Preprocessing preprocessing) =>
        preprocessing.Convention == PreprocessConvention.Caffe ? Caffe : Torchvision;
}

/// <summary>How the style loss compares a layer's features with the style's (SPEC.md).</summary>
public enum StyleLossKind
{
    /// <summary>Gatys et al.'s Gram matrices, <c>mean((G - A)^2)</c>: the default.</summary>
    Gram,

    /// <summary>
    /// The Wasserstein-2 distance between the features' Gaussians, mean and covariance (crowsonkb's
    /// style-transfer-pytorch; SPEC.md, "Wasserstein-2 style loss").
    /// </summary>
    W2,
}

/// <summary>
/// What a user sets about the loss (SPEC.md's defaults where a value is left out): which layers,
/// how much each term weighs, pooling, gradient normalisation and the blend of several styles.
/// </summary>
public sealed record StyleOptions
{
    /// <summary>ReLU layers whose activations the content loss compares (default <c>relu4_2</c>).</summary>
    public IReadOnlyList<string> ContentLayers { get; init; } = ["relu4_2"];

    /// <summary>ReLU layers whose Gram matrices the style loss compares.</summary>
    public IReadOnlyList<string> StyleLayers { get; init; } = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];

    /// <summary>A weight per style layer, multiplying <see cref="StyleWeight"/> (default 1 each).</summary>
    public IReadOnlyList<float>? StyleLayerWeights { get; init; }

    /// <summary><c>w_c</c>; null means the default for the weights' preprocessing convention.</summary>
    public float? ContentWeight { get; init; }

    /// <summary><c>w_s</c>; null means the default for the weights' preprocessing convention.</summary>
    public float? StyleWeight { get; init; }

    /// <summary><c>w_tv</c>; null means the default for the weights' preprocessing convention.</summary>
    public float? TvWeight { get; init; }

    /// <summary>Video's <c>w_t</c> (squares of pixels, like TV); null means the default for the weights'
    /// preprocessing convention.</summary>
    public float? TemporalWeight { get; init; }

    /// <summary>The style loss: Gram matrices (the default) or Wasserstein-2.</summary>
    public StyleLossKind StyleLoss { get; init; } = StyleLossKind.Gram;

    /// <summary>Pooling between blocks (default max).</summary>
    public Pooling Pooling { get; init; } = Pooling.Max;

    /// <summary>Divide each tap's gradient by its L1 norm (neural-style's <c>-normalize_gradients</c>).</summary>
    public bool NormalizeGradients { get; init; }

    /// <summary>One weight per style image (normalized to sum 1); null means equal weights.</summary>
    public IReadOnlyList<float>? StyleBlendWeights { get; init; }

    /// <summary>
    /// Throws <see cref="StyleSetupException"/> (one line) for a content or style layer that
    /// <paramref name="architecture"/> does not have, or one listed twice.
    /// </summary>
    public void CheckLayers(VggArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        foreach (var (layers, role) in new[] { (ContentLayers, "content"), (StyleLayers, "style") })
        {
            foreach (string layer in layers) architecture.CheckReluName(layer, role);
            if (layers.Distinct().Count() != layers.Count)
                throw new StyleSetupException($"A {role} layer is listed twice: {string.Join(",", layers)}.");
        }
    }

    /// <summary>The loss weights in force for weights of the given convention.</summary>
    public LossWeights ResolveWeights(Preprocessing preprocessing)
    {
        var defaults = LossWeights.DefaultsFor(preprocessing);
        return new LossWeights(
            ContentWeight ?? defaults.Content, StyleWeight ?? defaults.Style, TvWeight ?? defaults.TotalVariation,
            TemporalWeight ?? defaults.Temporal);
    }
}
