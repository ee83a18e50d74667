using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;
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
/// one channel, with the run's TV weight: the inner <see cref="StyleObjective"/> runs without it.</para>
/// </remarks>
public sealed class LuminanceObjective : IObjective, IDisposable
{
    private readonly KernelSet _kernels;
    private readonly StyleObjective _inner;
    private readonly ReplicateParameters _replication;
    private readonly float _tvWeight;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _x;        // (3, H, W) the grey network input
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gradient; // (3, H, W) dL/dx
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _tv;       // (1) L_tv(y)

    /// <summary>Builds the inner objective on grey images and the buffers of the replication.</summary>
    /// <param name="kernels">The loaded kernels.</param>
    /// <param name="weights">The VGG weights.</param>
    /// <param name="content">The content's luminance as a grey network input (3, H, W).</param>
    /// <param name="styles">Each style's (matched) luminance as a grey network input.</param>
    /// <param name="options">The loss; its TV weight applies to y.</param>
    /// <param name="tileCore">Passed to the inner <see cref="StyleObjective"/>: its tiled evaluation (null:
    /// whole image).</param>
    /// <param name="regions">The regions of a masked run (null: none), as <see cref="StyleObjective"/> takes them.
    /// </param>
    public LuminanceObjective(KernelSet kernels, VggWeights weights, NetworkImage content,
        IReadOnlyList<NetworkImage> styles, StyleOptions options, int? tileCore = null, StyleRegions? regions = null)
    {
        _kernels = kernels;
        var preprocessing = Preprocessing.FromName(weights.Preprocess);
        var resolved = options.ResolveWeights(preprocessing);
        _tvWeight = resolved.TotalVariation;
        _inner = new StyleObjective(kernels, weights, content, styles, options with { TvWeight = 0 }, tileCore,
            regions);
        Shape = new ChwShape(1, content.Shape.Height, content.Shape.Width);
        _replication = preprocessing.LuminanceReplication(Shape.Length);
        Weights = resolved;
        try
        {
            _x = _inner.Memory.Floats(3L * Shape.Length);
            _gradient = _inner.Memory.Floats(3L * Shape.Length);
            _tv = _inner.Memory.Floats(1);
        }
        catch
        {
            _inner.Dispose();
            throw;
        }
    }

    /// <summary>The shape of y, <c>(1, H, W)</c>.</summary>
    public ChwShape Shape { get; }

    /// <summary>
    /// Device bytes it holds beside its inner objective's, for a network input of <paramref name="network"/>
    /// <c>(3, H, W)</c>: the grey input, its gradient and the TV scalar (the memory plan adds them).
    /// </summary>
    public static long ReplicationBytes(ChwShape network) => sizeof(float) * (2L * network.Length + 1);

    /// <inheritdoc/>
    public int Length => Shape.Length;

    /// <summary>The loss weights in force, the TV weight applying to y.</summary>
    public LossWeights Weights { get; }

    /// <summary>Whether the inner objective evaluates in tiles.</summary>
    public bool IsTiled => _inner.IsTiled;

    /// <summary>The inner objective's <see cref="StyleObjective.OmittedRegionTerms"/>.</summary>
    public IReadOnlyList<string> OmittedRegionTerms => _inner.OmittedRegionTerms;

    /// <summary>Every device buffer (the inner objective's and the replication's).</summary>
    public DeviceMemory Memory => _inner.Memory;

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss)
    {
        Require.Length(x, Shape.Length, nameof(x));
        Require.Length(gradient, Shape.Length, nameof(gradient));
        _kernels.Replicate.Forward(_x.View, x, _replication);
        _inner.Evaluate(_x.View, _gradient.View, loss);
        _kernels.Replicate.Backward(gradient, _gradient.View, _replication);
        _kernels.Vectors.Fill(_tv.View, 0f);
        if (_tvWeight != 0)
        {
            _kernels.TotalVariation.Forward(_tv.View, x, Shape, _tvWeight, accumulate: true);
            _kernels.TotalVariation.Backward(gradient, x, Shape, _tvWeight, accumulate: true);
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
    public void Dispose() => _inner.Dispose();
}
