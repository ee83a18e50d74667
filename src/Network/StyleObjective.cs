using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Network;

/// <summary>A preprocessed image, <c>(3, H, W)</c>, ready for the network.</summary>
public sealed record NetworkImage(float[] Data, ChwShape Shape);

/// <summary>The loss terms of one evaluation, read back to the host.</summary>
/// <param name="Total">L.</param>
/// <param name="Content">L_c.</param>
/// <param name="Style">L_s (with regions, the sum of <paramref name="Regions"/>).</param>
/// <param name="TotalVariation">L_tv.</param>
/// <param name="Regions">With regions, each region's style loss in region order; otherwise null.</param>
/// <param name="Temporal">Video's L_temporal (0 without the term).</param>
public readonly record struct LossBreakdown(float Total, float Content, float Style, float TotalVariation,
    IReadOnlyList<float>? Regions = null, float Temporal = 0);

/// <summary>
/// The function style transfer minimizes, <c>x -&gt; (L(x), dL/dx)</c> on the device, in every form a run needs:
/// the whole image or tiles, with or without regions, on x or on its luminance. Built by
/// <see cref="StyleObjectives.Create"/>; a run holds one and does not ask which form it is.
/// </summary>
public interface IStyleObjective : IObjective, IDisposable
{
    /// <summary>What it computes and allocates.</summary>
    ObjectivePlan Plan { get; }

    /// <summary>Every device buffer of the objective: allocation count, bytes held and the peak.</summary>
    DeviceMemory Memory { get; }

    /// <summary>The region terms left out because a guide is zero everywhere at that layer, e.g.
    /// <c>region 2 at relu5_1</c>; empty without regions.</summary>
    IReadOnlyList<string> OmittedRegionTerms { get; }

    /// <summary>
    /// <see cref="IObjective.Evaluate"/> with every piece (each layer's forward and backward, each loss tap, the
    /// sums) marked on <paramref name="profiler"/> for device-side timing (the bench command).
    /// </summary>
    void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss, LayerProfiler? profiler);

    /// <summary>Waits for the device and reads the last evaluation's loss terms (one small copy).</summary>
    LossBreakdown ReadLosses();

    /// <summary>
    /// Takes another content image of the planned shape: its content targets replace the old ones, the style
    /// targets and every buffer stay (a batch's next image, a video's next frame, with the same plan).
    /// </summary>
    /// <exception cref="ArgumentException">An image of another shape.</exception>
    /// <exception cref="InvalidOperationException">A plan whose content cannot be replaced
    /// (<see cref="ObjectivePlan.ContentReplaceable"/>).</exception>
    void ReplaceContent(NetworkImage content);

    /// <summary>
    /// Video: the temporal term's target (the previous stylised frame warped to this one, preprocessed, the
    /// network input's shape) and its per-pixel weights (H*W, 1 where the flow is reliable).
    /// </summary>
    /// <exception cref="InvalidOperationException">A loss without the temporal term.</exception>
    void SetTemporalTarget(float[] target, float[] weights);
}

/// <summary>
/// What the whole-image and the tiled objective share: <c>L = L_c + L_s + L_tv</c> exactly as SPEC.md defines
/// them, with the content and style terms' losses summed into device scalars (nothing is read back unless
/// <see cref="ReadLosses"/> is called) and total variation taken on x itself.
/// </summary>
/// <remarks>
/// Building a form captures the targets once: <c>F_l(content)</c> on the content layers, and each style image's
/// (blended) Gram matrices <c>A_l = sum_k b_k G_l(style_k)</c>, or with regions each region's guided ones. Then
/// every evaluation is one pass of the network(s) over buffers allocated when it was built.
/// </remarks>
public abstract class StyleObjective : IStyleObjective
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scalars; // (4 + R [+ 1]) total, content, style, tv,
                                                                     // regions', temporal
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _temporalTarget;  // (3, H, W), with the temporal term
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _temporalWeights; // (H, W)
    private readonly List<string> _omitted = [];
    private readonly PreparedFilters _filters; // the plan's filters, held once for every network built here

    /// <summary>Allocates the loss scalars, the first of the buffers the objective allocates in
    /// <paramref name="memory"/> (which whoever builds it disposes, should building fail). The filters the networks
    /// read prepared are <paramref name="filters"/>, a run's, which hold the plan's already; without them the
    /// objective makes its own, first, in its memory.</summary>
    private protected StyleObjective(KernelSet kernels, ObjectivePlan plan, DeviceMemory memory,
        Weights.VggWeights weights, PreparedFilters? filters)
    {
        Kernels = kernels;
        Plan = plan;
        Memory = memory;
        if (filters is null)
        {
            filters = new PreparedFilters(kernels, weights, memory);
            filters.Hold(plan);
        }
        _filters = filters;
        _scalars = Memory.Floats(4 + RegionCount + (HasTemporal ? 1 : 0));
        if (!HasTemporal) return;
        // No target yet: weights of 0 make the term 0 until the video sets one.
        _temporalTarget = Memory.Floats(plan.Input.Length);
        _temporalWeights = Memory.Floats(plan.Input.PlaneLength);
        kernels.Vectors.Fill(_temporalTarget.View, 0f);
        kernels.Vectors.Fill(_temporalWeights.View, 0f);
    }

    /// <inheritdoc/>
    public ObjectivePlan Plan { get; }

    /// <summary>x's length: the network input's, <c>3*H*W</c>.</summary>
    public int Length => Plan.Input.Length;

    /// <inheritdoc/>
    public DeviceMemory Memory { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> OmittedRegionTerms => _omitted;

    /// <summary>The kernels.</summary>
    private protected KernelSet Kernels { get; }

    /// <summary>L_c's device scalar, which every content term adds to.</summary>
    private protected ArrayView<float> ContentScalar => _scalars.View.SubView(1, 1);

    /// <summary>The device scalar style set <paramref name="set"/> adds to: L_s, or with regions the
    /// region's.</summary>
    private protected ArrayView<float> StyleScalar(int set) =>
        _scalars.View.SubView(RegionCount == 0 ? 2 : 4 + set, 1);

    private int RegionCount => Plan.Loss.Regions?.Count ?? 0;

    private bool HasTemporal => Plan.Loss.Temporal != 0;

    private ArrayView<float> TemporalScalar => _scalars.View.SubView(4 + RegionCount, 1);

    /// <summary>Records a region term left out (region from 0).</summary>
    private protected void Omit(int region, string layer) => _omitted.Add($"region {region + 1} at {layer}");

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss) =>
        Evaluate(x, gradient, loss, profiler: null);

    /// <inheritdoc/>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss, LayerProfiler? profiler)
    {
        Require.Length(x, Length, nameof(x));
        Require.Length(gradient, Length, nameof(gradient));
        Require.Length(loss, 1, nameof(loss));
        var vectors = Kernels.Vectors;
        var total = _scalars.View.SubView(0, 1);
        var tv = _scalars.View.SubView(3, 1);
        profiler?.Mark("clear");
        vectors.Fill(_scalars.View, 0f);

        EvaluateNetwork(x, gradient, profiler); // the content and style terms' losses and gradient

        float tvWeight = Plan.Loss.InputTvWeight;
        if (tvWeight != 0)
        {
            profiler?.Mark("total variation");
            Kernels.TotalVariation.Forward(tv, x, Plan.Input, tvWeight, accumulate: true);
            Kernels.TotalVariation.Backward(gradient, x, Plan.Input, tvWeight, accumulate: true);
        }

        if (HasTemporal)
        {
            // Ruder et al. 2016, eq. (5), on x itself, like total variation: whole or tiled alike.
            profiler?.Mark("temporal");
            Kernels.Temporal.Forward(TemporalScalar, x, _temporalTarget!.View, _temporalWeights!.View, Plan.Input,
                Plan.Loss.Temporal, accumulate: true);
            Kernels.Temporal.Backward(gradient, x, _temporalTarget.View, _temporalWeights.View, Plan.Input,
                Plan.Loss.Temporal, accumulate: true);
        }

        profiler?.Mark("loss sum");
        var style = _scalars.View.SubView(2, 1);
        for (int r = 0; r < RegionCount; r++) vectors.Scalar(style, style, ScalarOp.Add, StyleScalar(r));
        vectors.Scalar(total, ContentScalar, ScalarOp.Add, style);
        vectors.Scalar(total, total, ScalarOp.Add, tv);
        if (HasTemporal) vectors.Scalar(total, total, ScalarOp.Add, TemporalScalar);
        vectors.Copy(loss, total);
        profiler?.Mark("host, between evaluations");
    }

    /// <inheritdoc/>
    public LossBreakdown ReadLosses()
    {
        Kernels.Accelerator.Synchronize();
        var values = _scalars.GetAsArray1D();
        return new LossBreakdown(values[0], values[1], values[2], values[3],
            RegionCount == 0 ? null : values[4..(4 + RegionCount)], HasTemporal ? values[4 + RegionCount] : 0);
    }

    /// <inheritdoc/>
    public void ReplaceContent(NetworkImage content)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (!Plan.ContentReplaceable)
            throw new InvalidOperationException("With regions the targets come from the masks: build a new objective.");
        if (Plan.Loss.Kind == ObjectiveKind.Texture) throw new InvalidOperationException("A texture has no content.");
        if (content.Shape != Plan.Input)
        {
            throw new ArgumentException($"The content image is {content.Shape}, planned {Plan.Input}.",
                nameof(content));
        }
        CaptureContent(content);
    }

    /// <inheritdoc/>
    public void SetTemporalTarget(float[] target, float[] weights)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(weights);
        if (!HasTemporal) throw new InvalidOperationException("This loss has no temporal term.");
        if (target.Length != Plan.Input.Length || weights.Length != Plan.Input.PlaneLength)
            throw new ArgumentException($"The temporal target is not of the planned shape {Plan.Input}.");
        _temporalTarget!.CopyFromCPU(target);
        _temporalWeights!.CopyFromCPU(weights);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Memory.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Writes the gradient of the content and style terms into <paramref name="gradient"/> (zero when there is
    /// none) and adds their losses to their scalars.
    /// </summary>
    private protected abstract void EvaluateNetwork(ArrayView<float> x, ArrayView<float> gradient,
        LayerProfiler? profiler);

    /// <summary>Forwards <paramref name="content"/> (of the planned shape) and keeps its activations at the content
    /// layers as the content targets (<c>F_l(content)</c>), replacing any before.</summary>
    private protected abstract void CaptureContent(NetworkImage content);

    /// <summary>A network for <paramref name="plan"/>; an image too small for it is a setup error.</summary>
    private protected VggNetwork Network(Weights.VggWeights weights, NetworkPlan plan)
    {
        try
        {
            // A style image's network may read filters the objective does not hold: made here, in the caller's scope.
            var filters = ReferenceEquals(plan, Plan.Network) || ReferenceEquals(plan, Plan.Tiles?.Network)
                ? _filters
                : _filters.Beside(plan.Filters(), Memory);
            return new VggNetwork(Kernels, Memory, weights, plan, filters);
        }
        catch (ArgumentException e)
        {
            throw new StyleSetupException(e.Message);
        }
    }
}
