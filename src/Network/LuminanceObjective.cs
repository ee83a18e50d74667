using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Network;

/// <summary>
/// Luminance-only transfer's function (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
/// Transfer", section 5.1): the variable is one channel y, the luminance on the network's scale
/// (<see cref="Preprocessing.LuminanceToNetwork"/>), replicated to the network's three input channels as a
/// grey image; <c>L(y) = L_c(x(y)) + L_s(x(y)) + L_tv(y)</c> with x(y) that grey image.
/// </summary>
/// <remarks>
/// <para>The content and style images given are grey too (their luminance, the styles' matched to the
/// content's mean and deviation before they come here), so the style targets hold no colour.</para>
/// <para>The gradient is the chain rule through the replication: <c>dL/dy = sum_c a_c dL/dx[c]</c>
/// (<see cref="ChannelReplicate.Backward"/>; a_c = 1 for caffe). Total variation is taken on y itself,
/// one channel, with the run's TV weight: the inner objective runs without it
/// (<see cref="LossPlan.InputTvWeight"/>).</para>
/// </remarks>
public sealed class LuminanceObjective : IStyleObjective
{
    private readonly KernelSet _kernels;
    private readonly IStyleObjective _inner;
    private readonly ReplicateParameters _replication;
    private readonly float _tvWeight;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _x;        // (3, H, W) the grey network input
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gradient; // (3, H, W) dL/dx
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _tv;       // (1) L_tv(y)

    /// <summary>Wraps the objective on grey images <paramref name="inner"/> (built from the same plan, without
    /// total variation) and allocates the replication's buffers in its memory (which whoever builds it disposes,
    /// should this fail).</summary>
    internal LuminanceObjective(KernelSet kernels, ObjectivePlan plan, IStyleObjective inner)
    {
        _kernels = kernels;
        _inner = inner;
        Plan = plan;
        _tvWeight = plan.Loss.Weights.TotalVariation;
        _replication = plan.Loss.Preprocessing.LuminanceReplication(plan.Variable.Length);
        _x = _inner.Memory.Floats(plan.Input.Length);
        _gradient = _inner.Memory.Floats(plan.Input.Length);
        _tv = _inner.Memory.Floats(1);
    }

    /// <inheritdoc/>
    public ObjectivePlan Plan { get; }

    /// <summary>y's length, <c>H*W</c>.</summary>
    public int Length => Plan.Variable.Length;

    /// <inheritdoc/>
    public IReadOnlyList<string> OmittedRegionTerms => _inner.OmittedRegionTerms;

    /// <summary>Every device buffer (the inner objective's and the replication's).</summary>
    public DeviceMemory Memory => _inner.Memory;

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss) =>
        Evaluate(x, gradient, loss, profiler: null);

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss, LayerProfiler? profiler)
    {
        var shape = Plan.Variable;
        Require.Length(x, shape.Length, nameof(x));
        Require.Length(gradient, shape.Length, nameof(gradient));
        _kernels.Replicate.Forward(_x.View, x, _replication);
        _inner.Evaluate(_x.View, _gradient.View, loss, profiler);
        _kernels.Replicate.Backward(gradient, _gradient.View, _replication);
        _kernels.Vectors.Fill(_tv.View, 0f);
        if (_tvWeight != 0)
        {
            _kernels.TotalVariation.Forward(_tv.View, x, shape, _tvWeight, accumulate: true);
            _kernels.TotalVariation.Backward(gradient, x, shape, _tvWeight, accumulate: true);
            _kernels.Vectors.Scalar(loss, loss, ScalarOp.Add, _tv.View);
        }
    }

    /// <summary>The last evaluation's loss terms, total variation being y's.</summary>
    public LossBreakdown ReadLosses()
    {
        var inner = _inner.ReadLosses();
        float tv = _tv.GetAsArray1D()[0];
        return inner with { Total = inner.Total + tv, TotalVariation = tv };
    }

    /// <inheritdoc/>
    public void ReplaceContent(NetworkImage content) => _inner.ReplaceContent(content);

    /// <inheritdoc/>
    public void SetTemporalTarget(float[] target, float[] weights) => _inner.SetTemporalTarget(target, weights);

    /// <inheritdoc/>
    public void Dispose() => _inner.Dispose();
}
