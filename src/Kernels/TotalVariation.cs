using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: x is the (C, H, W) network input, x[(c*H + i)*W + j]; w the TV weight.
// SPEC.md: L_tv = (w/2) * sum_c sum_{i<H-1} sum_{j<W-1} [ (x[c,i,j] - x[c,i,j+1])^2 + (x[c,i,j] - x[c,i+1,j])^2 ]

/// <summary>Term (c, i, j) of the total-variation sum: both squared differences at a pixel that
/// has a right and a lower neighbour, 0 on the last row and column.</summary>
public readonly struct TotalVariationSummand(ArrayView<float> x, ChwShape shape) : ISummand
{
    private readonly ArrayView<float> _x = x;
    private readonly ChwShape _shape = shape;

    /// <inheritdoc/>
    public float At(int index)
    {
        int j = index % _shape.Width;
        int i = index / _shape.Width % _shape.Height;
        if (i >= _shape.Height - 1 || j >= _shape.Width - 1) return 0f;
        float right = _x[index] - _x[index + 1];
        float down = _x[index] - _x[index + _shape.Width];
        return right * right + down * down;
    }
}

/// <summary>
/// Total-variation loss on the network input (a smoothness prior), value and gradient.
/// </summary>
/// <remarks>
/// <para>Pixel x[c,i,j] appears in up to three terms: as the left/upper pixel of its own term (when
/// i &lt; H-1 and j &lt; W-1), as the right pixel of the term at (i, j-1), and as the lower pixel of
/// the term at (i-1, j). Differentiating <c>(w/2)(a - b)^2</c> gives <c>w(a - b)</c> for a and
/// <c>-w(a - b)</c> for b, so
/// <c>dx[c,i,j] = w * ( [own](2x_ij - x_i,j+1 - x_i+1,j) - [left](x_i,j-1 - x_ij) - [up](x_i-1,j - x_ij) )</c>.
/// The value is reduced on the device; value and gradient write, or accumulate when asked.</para>
/// <para>Reading order: the CPU references, kernel 1 (the device sum of <see cref="TotalVariationSummand"/>,
/// one thread per pixel for the gradient), kernel 2 (host code, TotalVariation.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class TotalVariation
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Reduction _reduction;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape, float, int>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    /// <param name="reduction">The device sums (kernel 1's value).</param>
    public TotalVariation(Accelerator accelerator, KernelChoice choice, CpuHost host, Reduction reduction)
    {
        _choice = choice;
        _host = host;
        _reduction = reduction;
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape, float, int>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>: SPEC.md's formula, term by term.</summary>
    public static double ForwardReference(double[] x, ChwShape s, double weight)
    {
        double sum = 0;
        for (int c = 0; c < s.Channels; c++)
        for (int i = 0; i < s.Height - 1; i++)
        for (int j = 0; j < s.Width - 1; j++)
        {
            double right = x[s.Index(c, i, j)] - x[s.Index(c, i, j + 1)];
            double down = x[s.Index(c, i, j)] - x[s.Index(c, i + 1, j)];
            sum += right * right + down * down;
        }
        return weight / 2 * sum;
    }

    /// <summary>CPU reference of <see cref="Backward"/>: each term sends w(a - b) to a and -w(a - b) to b.</summary>
    public static void BackwardReference(double[] dX, double[] x, ChwShape s, double weight, bool accumulate)
    {
        if (!accumulate) Array.Clear(dX);
        for (int c = 0; c < s.Channels; c++)
        for (int i = 0; i < s.Height - 1; i++)
        for (int j = 0; j < s.Width - 1; j++)
        {
            int here = s.Index(c, i, j), right = s.Index(c, i, j + 1), down = s.Index(c, i + 1, j);
            dX[here] += weight * (x[here] - x[right]);
            dX[right] -= weight * (x[here] - x[right]);
            dX[here] += weight * (x[here] - x[down]);
            dX[down] -= weight * (x[here] - x[down]);
        }
    }

    // ---------------------------------------------------------------- kernel 1: one thread per pixel

    /// <summary>One thread per pixel: the (up to) three terms it appears in, as in the remarks.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dX, ArrayView<float> x, ChwShape s,
        float weight, int accumulate)
    {
        int j = index % s.Width;
        int i = index / s.Width % s.Height;
        bool rowHasTerms = i < s.Height - 1;   // rows i < H-1 hold terms
        bool columnHasTerms = j < s.Width - 1; // columns j < W-1 hold terms
        float v = x[index];
        float g = 0f;
        if (rowHasTerms && columnHasTerms)
            g += 2f * v - x[index + 1] - x[index + s.Width];
        if (rowHasTerms && j > 0)              // right pixel of the term at (i, j-1)
            g -= x[index - 1] - v;
        if (columnHasTerms && i > 0)           // lower pixel of the term at (i-1, j)
            g -= x[index - s.Width] - v;
        g *= weight;
        dX[index] = accumulate != 0 ? dX[index] + g : g;
    }

    // ---------------------------------------------------------------- kernel 2: host code (TotalVariation.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>loss[0] (+)= L_tv(x) with weight w.</summary>
    public void Forward(ArrayView<float> loss, ArrayView<float> x, ChwShape shape, float weight, bool accumulate,
        KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate("total-variation input");
        Require.Length(x, shape.Length, nameof(x));
        switch (KernelChoice.Resolve(variant, _choice.TotalVariation()))
        {
            case KernelVariant.PerElement:
                _reduction.Sum(loss, shape.Length, new TotalVariationSummand(x, shape), weight / 2f, accumulate);
                break;
            case KernelVariant.Cpu: ForwardCpu(loss, x, shape, weight, accumulate); break;
            default: throw KernelChoice.NotOffered("total variation", variant);
        }
    }

    /// <summary>dX (+)= dL_tv/dx.</summary>
    public void Backward(ArrayView<float> dX, ArrayView<float> x, ChwShape shape, float weight, bool accumulate,
        KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate("total-variation input");
        Require.Length(dX, shape.Length, nameof(dX));
        Require.Length(x, shape.Length, nameof(x));
        switch (KernelChoice.Resolve(variant, _choice.TotalVariation()))
        {
            case KernelVariant.PerElement:
                _backward.Value(shape.Length, dX, x, shape, weight, accumulate ? 1 : 0);
                break;
            case KernelVariant.Cpu: BackwardCpu(dX, x, shape, weight, accumulate); break;
            default: throw KernelChoice.NotOffered("total variation", variant);
        }
    }
}
