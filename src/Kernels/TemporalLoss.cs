using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: x is the (C, H, W) network input, x[(c*H + i)*W + j]; t the target of the same shape (the previous
// stylised frame warped to this one); m the (H, W) per-pixel weights, m[i*W + j], shared by the C channels
// (1 where the flow is reliable, 0 at disocclusions and motion boundaries); w the temporal weight; D = C*H*W.
// Ruder, Dosovitskiy and Brox 2016, eq. (5): L_temporal = (w/D) * sum_c sum_i sum_j m[i,j] * (x[c,i,j] - t[c,i,j])^2

/// <summary>Term (c, i, j) of the temporal sum: the pixel's weight times its squared difference from the
/// target.</summary>
public readonly struct TemporalSummand(ArrayView<float> x, ArrayView<float> target, ArrayView<float> weights,
    ChwShape shape) : ISummand
{
    private readonly ArrayView<float> _x = x;
    private readonly ArrayView<float> _target = target;
    private readonly ArrayView<float> _weights = weights;
    private readonly int _plane = shape.PlaneLength;

    /// <inheritdoc/>
    public float At(int index)
    {
        float difference = _x[index] - _target[index];
        return _weights[index % _plane] * difference * difference;
    }
}

/// <summary>
/// The short-term temporal consistency loss of video style transfer (Ruder et al. 2016): a weighted mean squared
/// difference between x and the previous stylised frame warped by the optical flow, value and gradient.
/// </summary>
/// <remarks>
/// <para>Differentiating <c>(w/D) m (x - t)^2</c> gives <c>dx[c,i,j] = (2w/D) m[i,j] (x[c,i,j] - t[c,i,j])</c>:
/// each element's gradient is its own term's, so one thread per element needs nothing from its neighbours.
/// Long-term consistency (several previous frames, eq. 7) needs no second kernel: its weights are disjoint (each
/// pixel takes the nearest frame where the flow is reliable), so the host merges the targets into one t and one
/// m first. The value is reduced on the device; value and gradient write, or accumulate when asked.</para>
/// <para>Reading order: the CPU references, kernel 1 (the device sum of <see cref="TemporalSummand"/>, one thread
/// per element for the gradient), kernel 2 (host code, TemporalLoss.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class TemporalLoss
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Reduction _reduction;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
        float, int>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    /// <param name="reduction">The device sums (kernel 1's value).</param>
    public TemporalLoss(Accelerator accelerator, KernelChoice choice, CpuHost host, Reduction reduction)
    {
        _choice = choice;
        _host = host;
        _reduction = reduction;
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, float, int>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>: eq. (5), term by term.</summary>
    public static double ForwardReference(double[] x, double[] target, double[] weights, ChwShape s, double weight)
    {
        double sum = 0;
        for (int c = 0; c < s.Channels; c++)
        for (int i = 0; i < s.Height; i++)
        for (int j = 0; j < s.Width; j++)
        {
            double difference = x[s.Index(c, i, j)] - target[s.Index(c, i, j)];
            sum += weights[i * s.Width + j] * difference * difference;
        }
        return weight / s.Length * sum;
    }

    /// <summary>CPU reference of <see cref="Backward"/>: <c>dx = (2w/D) m (x - t)</c>.</summary>
    public static void BackwardReference(double[] dX, double[] x, double[] target, double[] weights, ChwShape s,
        double weight, bool accumulate)
    {
        if (!accumulate) Array.Clear(dX);
        for (int c = 0; c < s.Channels; c++)
        for (int i = 0; i < s.Height; i++)
        for (int j = 0; j < s.Width; j++)
        {
            int index = s.Index(c, i, j);
            dX[index] += 2 * weight / s.Length * weights[i * s.Width + j] * (x[index] - target[index]);
        }
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per element of x: its own term's gradient.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dX, ArrayView<float> x, ArrayView<float> target,
        ArrayView<float> weights, int plane, float scale, int accumulate)
    {
        float g = scale * weights[index % plane] * (x[index] - target[index]);
        dX[index] = accumulate != 0 ? dX[index] + g : g;
    }

    // ---------------------------------------------------------------- kernel 2: host code (TemporalLoss.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>loss[0] (+)= L_temporal(x) with weight w.</summary>
    public void Forward(ArrayView<float> loss, ArrayView<float> x, ArrayView<float> target, ArrayView<float> weights,
        ChwShape shape, float weight, bool accumulate, KernelVariant variant = KernelVariant.Auto)
    {
        Check(x, target, weights, shape);
        switch (KernelChoice.Resolve(variant, _choice.TemporalLoss()))
        {
            case KernelVariant.PerElement:
                _reduction.Sum(loss, shape.Length, new TemporalSummand(x, target, weights, shape),
                    weight / shape.Length, accumulate);
                break;
            case KernelVariant.Cpu: ForwardCpu(loss, x, target, weights, shape, weight, accumulate); break;
            default: throw KernelChoice.NotOffered("temporal loss", variant);
        }
    }

    /// <summary>dX (+)= dL_temporal/dx.</summary>
    public void Backward(ArrayView<float> dX, ArrayView<float> x, ArrayView<float> target, ArrayView<float> weights,
        ChwShape shape, float weight, bool accumulate, KernelVariant variant = KernelVariant.Auto)
    {
        Check(x, target, weights, shape);
        Require.Length(dX, shape.Length, nameof(dX));
        float scale = 2f * weight / shape.Length;
        switch (KernelChoice.Resolve(variant, _choice.TemporalLoss()))
        {
            case KernelVariant.PerElement:
                _backward.Value(shape.Length, dX, x, target, weights, shape.PlaneLength, scale, accumulate ? 1 : 0);
                break;
            case KernelVariant.Cpu: BackwardCpu(dX, x, target, weights, shape, scale, accumulate); break;
            default: throw KernelChoice.NotOffered("temporal loss", variant);
        }
    }

    private static void Check(ArrayView<float> x, ArrayView<float> target, ArrayView<float> weights, ChwShape shape)
    {
        shape.Validate("temporal-loss input");
        Require.Length(x, shape.Length, nameof(x));
        Require.Length(target, shape.Length, nameof(target));
        Require.Length(weights, shape.PlaneLength, nameof(weights));
    }
}
