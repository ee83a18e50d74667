using ILGPU;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// One region's style loss on one layer (SPEC.md, "Regions"): <c>w * mean((G^r_l(x) - A^r_l)^2)</c>
/// with the guided Gram <c>G^r_l = (F o T)(F o T)^T / (C * sum_p T[p]^2)</c>, T the region's guide at
/// this layer's resolution and A^r_l the guided Gram of the region's style image.
/// </summary>
/// <remarks>
/// Forward multiplies the features by T into a scratch buffer the taps share (they run one after
/// another) and forms the Gram of that. Backward needs no multiply backward:
/// <c>dF = T o (s (dG + dG^T)(F o T)) = s (dG + dG^T)(F o T^2)</c>, so it multiplies by T^2 into the
/// same scratch and lets <see cref="Gram.Backward"/> accumulate into the activation's gradient, as
/// <see cref="StyleLoss"/> does with F itself (see <see cref="GuideMultiply"/>).
/// </remarks>
public sealed class GuidedStyleLoss : ILossTap
{
    private readonly KernelSet _kernels;
    private readonly ArrayView<float> _target;   // (C, C) A^r_l
    private readonly ArrayView<float> _guide;    // (H*W) T^r_l
    private readonly ArrayView<float> _guided;   // (C, H*W) shared scratch: F o T, then F o T^2
    private readonly ArrayView<float> _gram;     // (C, C) G^r_l(x), kept from forward for backward
    private readonly ArrayView<float> _dGram;    // (C, C)
    private readonly ArrayView<float> _loss;     // (1) the region's style-loss scalar it adds to
    private readonly GramShape _shape;
    private readonly float _scale;
    private readonly float _weight;
    private readonly GradientNormalizer? _normalizer;

    /// <summary>
    /// A tap on <paramref name="layer"/> (activation shape <paramref name="activation"/>) weighting
    /// its features by <paramref name="guide"/>; <paramref name="scale"/> is
    /// <see cref="RegionGuides.GramScale"/> of that guide; <paramref name="scratch"/> holds at least
    /// the activation's length.
    /// </summary>
    public GuidedStyleLoss(string layer, ChwShape activation, KernelSet kernels, DeviceMemory memory,
        ArrayView<float> target, ArrayView<float> guide, float scale, ArrayView<float> scratch,
        ArrayView<float> loss, float weight, GradientNormalizer? normalizer)
    {
        Layer = layer;
        _kernels = kernels;
        _shape = GramShape.Of(activation);
        _target = target;
        _guide = guide;
        _scale = scale;
        _guided = scratch.SubView(0, activation.Length);
        _gram = memory.Floats(_shape.GramLength).View;
        _dGram = memory.Floats(_shape.GramLength).View;
        _loss = loss;
        _weight = weight;
        _normalizer = normalizer;
    }

    /// <inheritdoc/>
    public string Layer { get; }

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation)
    {
        _kernels.Guide.Forward(_guided, activation.View, _guide, _shape, squared: false);
        _kernels.Gram.Forward(_gram, _guided, _shape, _scale);
        _kernels.Mse.Forward(_loss, _gram, _target, _weight, accumulate: true);
    }

    /// <inheritdoc/>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        _kernels.Guide.Forward(_guided, activation.View, _guide, _shape, squared: true);
        if (_normalizer is null)
        {
            _kernels.Mse.Backward(_dGram, _gram, _target, _weight, accumulate: false);
            _kernels.Gram.Backward(dActivation, _dGram, _guided, _shape, _scale, accumulate: true);
            return;
        }
        var raw = _normalizer.Scratch(dActivation.Length);
        _kernels.Mse.Backward(_dGram, _gram, _target, 1f, accumulate: false);
        _kernels.Gram.Backward(raw, _dGram, _guided, _shape, _scale, accumulate: false);
        _normalizer.AddNormalized(dActivation, raw, _weight);
    }
}
