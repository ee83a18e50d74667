using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, H x W input size, OH = floor(H/2), OW = floor(W/2) output size.
//   input  : (C, H, W)    input[(c*H + y)*W + x]
//   output : (C, OH, OW)  mean of input window rows 2oy..2oy+1, cols 2ox..2ox+1
// On an odd H or W the last input row or column belongs to no window (floor), as in PyTorch.

/// <summary>
/// Average pooling with a 2x2 window and stride 2 (the "avg" pooling option of style transfer),
/// forward and backward, over max pooling's windows (<see cref="MaxPool2d.WindowCorner"/> and its walks).
/// </summary>
/// <remarks>
/// <para>Backward spreads each output gradient evenly over its window: <c>dIn[c,y,x] = dOut[c,y/2,x/2] / 4</c>
/// inside a window and 0 on the unpooled last row or column of an odd-sized input. One thread per
/// input element; backward writes dInput, it does not accumulate.</para>
/// <para>Reading order: the CPU references, kernel 1 (one thread per element), kernel 2 (host code,
/// AvgPool2d.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class AvgPool2d
{
    private const int Window = MaxPool2d.Window;
    private const float InverseArea = 1f / (Window * Window);

    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape>> _forward;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public AvgPool2d(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape>(ForwardKernel));
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, double[] input, ChwShape s)
    {
        var o = MaxPool2d.OutputShape(s);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            double sum = 0;
            for (int dy = 0; dy < Window; dy++)
            for (int dx = 0; dx < Window; dx++)
                sum += input[s.Index(c, Window * oy + dy, Window * ox + dx)];
            output[o.Index(c, oy, ox)] = sum / (Window * Window);
        }
    }

    /// <summary>CPU reference of <see cref="Backward"/>: the transpose of the forward sum.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, ChwShape s)
    {
        var o = MaxPool2d.OutputShape(s);
        Array.Clear(dInput);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        for (int dy = 0; dy < Window; dy++)
        for (int dx = 0; dx < Window; dx++)
            dInput[s.Index(c, Window * oy + dy, Window * ox + dx)] += dOutput[o.Index(c, oy, ox)] / (Window * Window);
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per output element: the mean of its window.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        int topLeft = MaxPool2d.WindowCorner(index, s);
        float sum = input[topLeft] + input[topLeft + 1] + input[topLeft + s.Width] + input[topLeft + s.Width + 1];
        output[index] = sum * InverseArea;
    }

    /// <summary>One thread per input element: a quarter of its window's gradient.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape s)
    {
        dInput[index] = MaxPool2d.InAWindow(index, s) ? dOutput[MaxPool2d.WindowOf(index, s)] * InverseArea : 0f;
    }

    // ---------------------------------------------------------------- kernel 2: host code (AvgPool2d.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>output = window means of input; writes output.</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ChwShape inputShape,
        KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(input, inputShape.Length, nameof(input));
        switch (KernelChoice.Resolve(variant, _choice.AvgPool()))
        {
            case KernelVariant.PerElement: _forward.Value(outShape.Length, output, input, inputShape); break;
            case KernelVariant.Cpu: ForwardCpu(output, input, inputShape); break;
            default: throw KernelChoice.NotOffered("average pooling", variant);
        }
    }

    /// <summary>dInput = dOutput spread evenly over each window; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape inputShape,
        KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        switch (KernelChoice.Resolve(variant, _choice.AvgPool()))
        {
            case KernelVariant.PerElement: _backward.Value(inputShape.Length, dInput, dOutput, inputShape); break;
            case KernelVariant.Cpu: BackwardCpu(dInput, dOutput, inputShape); break;
            default: throw KernelChoice.NotOffered("average pooling", variant);
        }
    }
}
