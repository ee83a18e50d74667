using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// ReLU, <c>y = max(x, 0)</c>, elementwise on a tensor of any shape (n elements).
/// </summary>
/// <remarks>
/// Backward needs only the forward output: <c>dx = y &gt; 0 ? dy : 0</c> (where x = 0 the
/// subgradient 0 is used, as PyTorch does). Both directions may run in place (output aliasing input).
/// </remarks>
public sealed class Relu
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _backward;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    public Relu(Accelerator accelerator)
    {
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ForwardKernel);
        _backward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BackwardKernel);
    }

    /// <summary>output[i] = max(input[i], 0); writes output.</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input)
    {
        Require.Length(input, output.Length, nameof(input));
        if (output.Length > 0) _forward((int)output.Length, output, input);
    }

    /// <summary>dInput[i] = output[i] &gt; 0 ? dOutput[i] : 0; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> output)
    {
        Require.Length(dOutput, dInput.Length, nameof(dOutput));
        Require.Length(output, dInput.Length, nameof(output));
        if (dInput.Length > 0) _backward((int)dInput.Length, dInput, dOutput, output);
    }

    /// <summary>One thread per element.</summary>
    public static void ForwardKernel(Index1D i, ArrayView<float> output, ArrayView<float> input) =>
        output[i] = XMath.Max(input[i], 0f);

    /// <summary>One thread per element; the forward output is the mask.</summary>
    public static void BackwardKernel(Index1D i, ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> output) =>
        dInput[i] = output[i] > 0f ? dOutput[i] : 0f;

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, double[] input)
    {
        for (int i = 0; i < output.Length; i++)
            output[i] = Math.Max(input[i], 0.0);
    }

    /// <summary>CPU reference of <see cref="Backward"/>.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, double[] output)
    {
        for (int i = 0; i < dInput.Length; i++)
            dInput[i] = output[i] > 0 ? dOutput[i] : 0.0;
    }
}
