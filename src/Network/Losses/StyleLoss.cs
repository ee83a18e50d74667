using ILGPU;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// Style loss on one layer (SPEC.md): <c>w * mean((G_l(x) - A_l)^2)</c> over the C x C entries,
/// with <c>G_l = F_l F_l^T / N_l</c> (N_l = C*H*W) and A_l the captured (blended) style target.
/// w is the style weight times this layer's weight.
/// </summary>
/// <remarks>
/// Backward chains the two kernels: <c>dG = 2w (G - A) / C^2</c> (MSE backward), then
/// <c>dF += (dG + dG^T) F / N_l</c> (Gram backward, accumulating into the activation's gradient).
/// </remarks>
public sealed class StyleLoss : ILossTap
{
    private readonly KernelSet _kernels;
    private readonly ArrayView<float> _target;   // (C, C) A_l
    private readonly ArrayView<float> _gram;     // (C, C) G_l(x), kept from forward for backward
    private readonly ArrayView<float> _dGram;    // (C, C)
    private readonly ArrayView<float> _loss;     // (1) the style-loss scalar it adds to
    private readonly GramShape _shape;
    private readonly float _scale;
    private readonly float _weight;
    private readonly GradientNormalizer? _normalizer;

    /// <summary>A tap on <paramref name="layer"/> (activation shape <paramref name="activation"/>).</summary>
    public StyleLoss(string layer, ChwShape activation, KernelSet kernels, DeviceMemory memory, ArrayView<float> target,
        ArrayView<float> loss, float weight, GradientNormalizer? normalizer)
    {
        Layer = layer;
        _kernels = kernels;
        _shape = GramShape.Of(activation);
        _scale = 1f / activation.Length;
        _target = target;
        _gram = memory.Floats(_shape.GramLength).View;
        _dGram = memory.Floats(_shape.GramLength).View;
        _loss = loss;
        _weight = weight;
        _normalizer = normalizer;
    }

    /// <inheritdoc/>
    public string Layer { get; }

    /// <summary>The Gram normalisation of SPEC.md for an activation of this shape, <c>1 / (C*H*W)</c>.</summary>
    public static float GramScale(ChwShape activation) => 1f / activation.Length;

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation)
    {
        _kernels.Gram.Forward(_gram, activation.View, _shape, _scale);
        _kernels.Mse.Forward(_loss, _gram, _target, _weight, accumulate: true);
    }

    /// <inheritdoc/>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        if (_normalizer is null)
        {
            _kernels.Mse.Backward(_dGram, _gram, _target, _weight, accumulate: false);
            _kernels.Gram.Backward(dActivation, _dGram, activation.View, _shape, _scale, accumulate: true);
            return;
        }
        var raw = _normalizer.Scratch(dActivation.Length);
        _kernels.Mse.Backward(_dGram, _gram, _target, 1f, accumulate: false);
        _kernels.Gram.Backward(raw, _dGram, activation.View, _shape, _scale, accumulate: false);
        _normalizer.AddNormalized(dActivation, raw, _weight);
    }
}
