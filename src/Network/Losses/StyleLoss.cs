using ILGPU;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>A region's guide at one style layer, as a <see cref="StyleLoss"/> weights its features.</summary>
/// <param name="Values">(H*W) T, the region's guide at the layer's resolution.</param>
/// <param name="Scale">The guided Gram's normalisation, <see cref="RegionGuides.GramScale"/> of the guide.</param>
/// <param name="Scratch">A buffer of at least the activation's length that the guided terms share (they run one
/// after another): F o T, then F o T^2.</param>
public readonly record struct StyleGuide(ArrayView<float> Values, float Scale, ArrayView<float> Scratch);

/// <summary>
/// Style loss on one layer (SPEC.md): <c>w * mean((G_l(x) - A_l)^2)</c> over the C x C entries,
/// with <c>G_l = F_l F_l^T / N_l</c> (N_l = C*H*W) and A_l the captured (blended) style target.
/// w is the style weight times this layer's weight. With a region's guide T (SPEC.md, "Regions") it is
/// that region's term: the guided Gram <c>G^r_l = (F o T)(F o T)^T / (C * sum_p T[p]^2)</c> against the guided
/// Gram of the region's style image; a plain term is a term without a guide.
/// </summary>
/// <remarks>
/// Backward chains the two kernels: <c>dG = 2w (G - A) / C^2</c> (MSE backward), then
/// <c>dF += s (dG + dG^T) F</c> (Gram backward, accumulating into the activation's gradient), s the Gram's
/// normalisation. A guided term needs no multiply backward:
/// <c>dF = T o (s (dG + dG^T)(F o T)) = s (dG + dG^T)(F o T^2)</c>, so forward multiplies F by T and backward by
/// T^2 into the guide's scratch, and the same two kernels do the rest (see <see cref="GuideMultiply"/>).
/// </remarks>
public sealed class StyleLoss : ILossTap
{
    private readonly KernelSet _kernels;
    private readonly ArrayView<float> _target;   // (C, C) A_l
    private readonly ArrayView<float> _gram;     // (C, C) G_l(x), kept from forward for backward
    private readonly ArrayView<float> _dGram;    // (C, C)
    private readonly ArrayView<float> _loss;     // (1) the style-loss scalar it adds to (its region's, guided)
    private readonly GramShape _shape;
    private readonly float _scale;
    private readonly float _weight;
    private readonly GradientNormalizer? _normalizer;
    private readonly StyleGuide? _guide;

    /// <summary>A tap on <paramref name="layer"/> (activation shape <paramref name="activation"/>), weighted by
    /// <paramref name="guide"/> when one is given.</summary>
    public StyleLoss(string layer, ChwShape activation, KernelSet kernels, DeviceMemory memory, ArrayView<float> target,
        ArrayView<float> loss, float weight, GradientNormalizer? normalizer, StyleGuide? guide = null)
    {
        Layer = layer;
        _kernels = kernels;
        _shape = GramShape.Of(activation);
        _scale = guide?.Scale ?? GramScale(activation);
        _target = target;
        _gram = memory.Floats(_shape.GramLength).View;
        _dGram = memory.Floats(_shape.GramLength).View;
        _loss = loss;
        _weight = weight;
        _normalizer = normalizer;
        _guide = guide is { } g ? g with { Scratch = g.Scratch.SubView(0, activation.Length) } : null;
    }

    /// <inheritdoc/>
    public string Layer { get; }

    /// <summary>The Gram normalisation of SPEC.md for an activation of this shape, <c>1 / (C*H*W)</c>.</summary>
    public static float GramScale(ChwShape activation) => 1f / activation.Length;

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation)
    {
        _kernels.Gram.Forward(_gram, Features(activation, squared: false), _shape, _scale);
        _kernels.Mse.Forward(_loss, _gram, _target, _weight, accumulate: true);
    }

    /// <inheritdoc/>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        var features = Features(activation, squared: true);
        if (_normalizer is null)
        {
            _kernels.Mse.Backward(_dGram, _gram, _target, _weight, accumulate: false);
            _kernels.Gram.Backward(dActivation, _dGram, features, _shape, _scale, accumulate: true);
            return;
        }
        var raw = _normalizer.Scratch(dActivation.Length);
        _kernels.Mse.Backward(_dGram, _gram, _target, 1f, accumulate: false);
        _kernels.Gram.Backward(raw, _dGram, features, _shape, _scale, accumulate: false);
        _normalizer.AddNormalized(dActivation, raw, _weight);
    }

    /// <summary>The features the Gram kernels read: F itself, or guided F o T (<paramref name="squared"/>: F o T^2)
    /// in the guide's scratch.</summary>
    private ArrayView<float> Features(DeviceTensor activation, bool squared)
    {
        if (_guide is not { } guide) return activation.View;
        _kernels.Guide.Forward(guide.Scratch, activation.View, guide.Values, _shape, squared);
        return guide.Scratch;
    }
}
