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

    /// <summary>
    /// The defaults of the Wasserstein-2 loss: crowsonkb/style-transfer-pytorch's balance of terms, the same in
    /// both conventions. His content term is the MSE of relu4_2 with weight 0.015 and his style terms the W2
    /// losses with no weight of their own (their layer weights sum to 1, <see cref="W2LayerWeights"/>), which
    /// are ours with <c>w_c = 0.015</c> and <c>w_s = 1</c>. His total variation, weight 2, is a mean over the
    /// [0, 1] image of <c>2 ((dx^2 + dy^2)/3 + (two diagonal differences^2)/12)</c>; for a smooth image a
    /// diagonal difference's square is about <c>dx^2 + dy^2</c>, so it is <c>mean(dx^2 + dy^2)</c>. Ours is
    /// <c>(w_tv/2) sum(dx^2 + dy^2)</c> over x = image / std (torchvision: std^2 about 0.0514), so
    /// <c>w_tv = 2 * 0.0514 / (3 H W)</c>, taken at the default size's 512 x 384 pixels: 1.74e-7. Every term
    /// of both losses scales by the square of the features' scale (a covariance, its root's trace, a squared
    /// difference), so caffe-convention weights keep the balance with the same values.
    /// </summary>
    public static LossWeights W2 { get; } = new(0.015f, 1f, 1.74e-7f, Caffe.Temporal * Scale * Scale);

    /// <summary>
    /// Adam's default step with the W2 loss on the caffe (0-255) scale: crowsonkb's, 0.02 on his image of [0, 1]
    /// pixels (the variable his Adam moves; his network normalises it inside), which is 0.02 * 255 = 5.1 grey
    /// levels, half of neural-style's 10 that the Gram loss keeps (<see cref="Preprocessing.CaffeAdamLearningRate"/>).
    /// Torchvision-convention inputs are that image divided by the channel deviation, so his step there is
    /// 0.02 / 0.226, about 0.088 = 5.1 / 58, which <see cref="Preprocessing.AdamLearningRate"/> gives. The rest
    /// of his Adam stays ours (SPEC.md's, which the peer runs): beta2 0.999 against his 0.99, and the last iterate
    /// written where he writes the average of the iterates (decay 0.99: <c>--average-decay 0.99</c>).
    /// </summary>
    public const double W2CaffeAdamLearningRate = 5.1;

    /// <summary>crowsonkb's style layer weights, 256, 64, 16, 4, 1 for his five layers (each a quarter of the one
    /// before), normalised to sum 1: for <paramref name="layers"/> layers, 4^(layers-1-i) normalised.</summary>
    public static IReadOnlyList<float> W2LayerWeights(int layers)
    {
        var raw = Enumerable.Range(0, layers).Select(i => Math.Pow(4, layers - 1 - i)).ToArray();
        double sum = raw.Sum();
        return raw.Select(w => (float)(w / sum)).ToArray();
    }

    /// <summary>The defaults for a preprocessing convention (<c>caffe</c> or <c>torchvision</c>) and style
    /// loss.</summary>
    public static LossWeights DefaultsFor(Preprocessing preprocessing, StyleLossKind styleLoss = StyleLossKind.Gram)
    {
        if (styleLoss == StyleLossKind.W2)
        {
            return preprocessing.Convention == PreprocessConvention.Caffe ? W2 with { Temporal = Caffe.Temporal }
                : W2;
        }
        return preprocessing.Convention == PreprocessConvention.Caffe ? Caffe : Torchvision;
    }
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

    /// <summary>A weight per style layer, multiplying <see cref="StyleWeight"/> (default 1 each; with the
    /// Wasserstein-2 loss, <see cref="LossWeights.W2LayerWeights"/>).</summary>
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

    /// <summary>The style layer weights in force: the given ones, or the style loss's defaults.</summary>
    public IReadOnlyList<float> ResolveLayerWeights() => StyleLayerWeights
        ?? (StyleLoss == StyleLossKind.W2 ? LossWeights.W2LayerWeights(StyleLayers.Count)
            : StyleLayers.Select(_ => 1f).ToList());

    /// <summary>The loss weights in force for weights of the given convention.</summary>
    public LossWeights ResolveWeights(Preprocessing preprocessing)
    {
        var defaults = LossWeights.DefaultsFor(preprocessing, StyleLoss);
        return new LossWeights(
            ContentWeight ?? defaults.Content, StyleWeight ?? defaults.Style, TvWeight ?? defaults.TotalVariation,
            TemporalWeight ?? defaults.Temporal);
    }
}
