using ILGPU;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// Content loss on one layer (SPEC.md): <c>w_c * mean((F_l(x) - F_l(content))^2)</c>, added to a
/// device scalar. The target <c>F_l(content)</c> is captured once per run.
/// </summary>
public sealed class ContentLoss : ILossTap
{
    private readonly KernelSet _kernels;
    private readonly ArrayView<float> _target;   // (C, H, W) F_l(content)
    private readonly ArrayView<float> _loss;     // (1) the content-loss scalar it adds to
    private readonly float _weight;
    private readonly GradientNormalizer? _normalizer;

    /// <summary>A tap on <paramref name="layer"/> comparing with <paramref name="target"/>.</summary>
    public ContentLoss(string layer, KernelSet kernels, ArrayView<float> target, ArrayView<float> loss, float weight,
        GradientNormalizer? normalizer)
    {
        Layer = layer;
        _kernels = kernels;
        _target = target;
        _loss = loss;
        _weight = weight;
        _normalizer = normalizer;
    }

    /// <inheritdoc/>
    public string Layer { get; }

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation) =>
        _kernels.Mse.Forward(_loss, activation.View, _target, _weight, accumulate: true);

    /// <inheritdoc/>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        if (_normalizer is null)
        {
            _kernels.Mse.Backward(dActivation, activation.View, _target, _weight, accumulate: true);
            return;
        }
        var raw = _normalizer.Scratch(dActivation.Length);
        _kernels.Mse.Backward(raw, activation.View, _target, 1f, accumulate: false);
        _normalizer.AddNormalized(dActivation, raw, _weight);
    }
}
