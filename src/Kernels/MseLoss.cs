using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: n elements of two tensors of any shape, a (the variable) and b (a constant target); w a weight.
//   a, b, dA : (n)    loss : (1), a device scalar

/// <summary>Term i of a squared-error sum, (a_i - b_i)^2.</summary>
public readonly struct SquaredDifferenceSummand(ArrayView<float> a, ArrayView<float> b) : ISummand
{
    private readonly ArrayView<float> _a = a;
    private readonly ArrayView<float> _b = b;

    /// <inheritdoc/>
    public float At(int index)
    {
        float d = _a[index] - _b[index];
        return d * d;
    }
}

/// <summary>
/// Weighted mean squared error between two tensors of n elements, <c>L = w * mean((a - b)^2)</c>,
/// and its gradient with respect to a, <c>dL/da = 2w (a - b) / n</c>. b is a constant target.
/// </summary>
/// <remarks>
/// <para>The content loss is this on a ReLU output; the style loss is this on a Gram matrix (SPEC.md).
/// The loss value is reduced on the device into a one-element view (see <see cref="Reduction"/>);
/// with <c>accumulate</c> it is added to what the view holds, so that several loss terms can sum
/// into one device scalar. The gradient likewise writes or accumulates.</para>
/// <para>Reading order: the CPU references, kernel 1 (the device sum of <see cref="SquaredDifferenceSummand"/>,
/// one thread per element for the gradient), kernel 2 (host code, MseLoss.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class MseLoss
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Reduction _reduction;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    /// <param name="reduction">The device sums (kernel 1's loss value).</param>
    public MseLoss(Accelerator accelerator, KernelChoice choice, CpuHost host, Reduction reduction)
    {
        _choice = choice;
        _host = host;
        _reduction = reduction;
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>: w * mean((a - b)^2).</summary>
    public static double ForwardReference(double[] a, double[] b, double weight)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += (a[i] - b[i]) * (a[i] - b[i]);
        return weight * sum / a.Length;
    }

    /// <summary>CPU reference of <see cref="Backward"/>.</summary>
    public static void BackwardReference(double[] dA, double[] a, double[] b, double weight, bool accumulate)
    {
        for (int i = 0; i < a.Length; i++)
            dA[i] = (accumulate ? dA[i] : 0) + 2 * weight * (a[i] - b[i]) / a.Length;
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per element: dA[i] (+)= factor * (a[i] - b[i]), factor = 2w/n.</summary>
    public static void BackwardKernel(Index1D i, ArrayView<float> dA, ArrayView<float> a, ArrayView<float> b,
        float factor, int accumulate)
    {
        float gradient = factor * (a[i] - b[i]);
        dA[i] = accumulate != 0 ? dA[i] + gradient : gradient;
    }

    // ---------------------------------------------------------------- kernel 2: host code (MseLoss.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>loss[0] (+)= weight * mean((a - b)^2).</summary>
    public void Forward(ArrayView<float> loss, ArrayView<float> a, ArrayView<float> b, float weight, bool accumulate,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(b, a.Length, nameof(b));
        if (a.Length == 0) throw new ArgumentException("The mean of an empty tensor is undefined.", nameof(a));
        switch (KernelChoice.Resolve(variant, _choice.Mse()))
        {
            case KernelVariant.PerElement:
                _reduction.Sum(loss, (int)a.Length, new SquaredDifferenceSummand(a, b), weight / a.Length, accumulate);
                break;
            case KernelVariant.Cpu: ForwardCpu(loss, a, b, weight, accumulate); break;
            default: throw KernelChoice.NotOffered("mean squared error", variant);
        }
    }

    /// <summary>dA (+)= 2 * weight * (a - b) / n.</summary>
    public void Backward(ArrayView<float> dA, ArrayView<float> a, ArrayView<float> b, float weight, bool accumulate,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(a, dA.Length, nameof(a));
        Require.Length(b, dA.Length, nameof(b));
        if (dA.Length == 0) throw new ArgumentException("The mean of an empty tensor is undefined.", nameof(a));
        switch (KernelChoice.Resolve(variant, _choice.Mse()))
        {
            case KernelVariant.PerElement:
                _backward.Value((int)dA.Length, dA, a, b, 2f * weight / dA.Length, accumulate ? 1 : 0);
                break;
            case KernelVariant.Cpu: BackwardCpu(dA, a, b, weight, accumulate); break;
            default: throw KernelChoice.NotOffered("mean squared error", variant);
        }
    }
}
