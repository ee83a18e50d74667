using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, H x W input size, OH = floor(H/2), OW = floor(W/2) output size.
//   input  : (C, H, W)    input[(c*H + y)*W + x]
//   output : (C, OH, OW)  sqrt(mean of the squares of input window rows 2oy..2oy+1, cols 2ox..2ox+1, + Eps)
// On an odd H or W the last input row or column belongs to no window (floor), as in PyTorch.

/// <summary>
/// L2 pooling with a 2x2 window and stride 2 (the "l2" pooling option, from crowsonkb's style-transfer-pytorch):
/// each window's root mean square, <c>y = sqrt((x0^2 + x1^2 + x2^2 + x3^2) / 4 + Eps)</c>, forward and backward,
/// over max pooling's windows (<see cref="MaxPool2d.WindowCorner"/> and its walks).
/// </summary>
/// <remarks>
/// <para>Between max pooling (the largest feature of a window) and average pooling (all four alike): a window's
/// large features count more than its small ones, and every feature passes some gradient. Backward is
/// <c>dIn[i] = dOut[o] * x_i / (4 y_o)</c> for input element i in window o, and 0 on the unpooled last row or
/// column of an odd-sized input. It reads the input (what forward saves: the ReLU output below the pooling, which
/// the network's plan keeps for it) and takes y again from its window, so nothing of the output has to be kept.
/// One thread per input element; backward writes dInput, it does not accumulate.</para>
/// <para>crowsonkb's l2 is PyTorch's <c>LPPool2d(2, 2)</c>, the root of the window's sum of squares (2 y here,
/// without Eps), which he multiplies by 0.78 (and his average pooling by 2) to keep about max pooling's scale of
/// activations. Here neither is scaled: issue 28 defines L2 pooling as the root of the mean, and average pooling
/// never was scaled.
/// </para>
/// <para>Reading order: the CPU references, kernel 1 (one thread per element), kernel 2 (host code,
/// L2Pool2d.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class L2Pool2d
{
    /// <summary>
    /// The <c>Eps</c> under the root: <c>y = sqrt(mean of squares + Eps)</c>, so that y is never 0. A window whose
    /// features are all 0 is common after a ReLU, and there the gradient <c>x_i / (4 y)</c> would be 0/0, a NaN
    /// that would spread through the whole backward pass; with Eps it is exactly 0 (PyTorch's LPPool2d gives 0
    /// there too, by a ReLU inside it: pytorch/pytorch#6765). 1e-8 puts y at 1e-4 for such a window, far below the
    /// features VGG carries, and changes no bit of a float window whose mean square is 1/4 or more.
    /// </summary>
    public const float Eps = 1e-8f;

    private const int Window = MaxPool2d.Window;
    private const float InverseArea = 1f / (Window * Window);

    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape>> _forward;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChwShape>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public L2Pool2d(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape>(ForwardKernel));
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChwShape>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, double[] input, ChwShape s)
    {
        var o = MaxPool2d.OutputShape(s);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
            output[o.Index(c, oy, ox)] = RootMeanSquare(input, s, c, oy, ox);
    }

    /// <summary>CPU reference of <see cref="Backward"/>: <c>dy/dx_i = x_i / (4 y)</c>, times the window's
    /// gradient.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, double[] input, ChwShape s)
    {
        var o = MaxPool2d.OutputShape(s);
        Array.Clear(dInput);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            double y = RootMeanSquare(input, s, c, oy, ox);
            for (int dy = 0; dy < Window; dy++)
            for (int dx = 0; dx < Window; dx++)
            {
                int i = s.Index(c, Window * oy + dy, Window * ox + dx);
                dInput[i] = dOutput[o.Index(c, oy, ox)] * input[i] / (Window * Window * y);
            }
        }
    }

    /// <summary>The reference's y of window (c, oy, ox).</summary>
    private static double RootMeanSquare(double[] input, ChwShape s, int c, int oy, int ox)
    {
        double sum = 0;
        for (int dy = 0; dy < Window; dy++)
        for (int dx = 0; dx < Window; dx++)
        {
            double v = input[s.Index(c, Window * oy + dy, Window * ox + dx)];
            sum += v * v;
        }
        return Math.Sqrt(sum / (Window * Window) + Eps);
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One window's y from its four elements, as both directions and both variants compute it.</summary>
    internal static float Root(float a, float b, float c, float d) =>
        MathF.Sqrt((a * a + b * b + c * c + d * d) * InverseArea + Eps);

    /// <summary>One input element's gradient: its window's, times <c>x / (4 y)</c>.</summary>
    internal static float Gradient(float dOutput, float x, float y) => dOutput * x * InverseArea / y;

    /// <summary>One thread per output element: the root mean square of its window.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        int topLeft = MaxPool2d.WindowCorner(index, s);
        output[index] = Root(input[topLeft], input[topLeft + 1], input[topLeft + s.Width],
            input[topLeft + s.Width + 1]);
    }

    /// <summary>One thread per input element: y again from its window's four inputs, then its share.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> input, ChwShape s)
    {
        if (!MaxPool2d.InAWindow(index, s))
        {
            dInput[index] = 0f;
            return;
        }
        int o = MaxPool2d.WindowOf(index, s);
        int topLeft = MaxPool2d.WindowCorner(o, s);
        float y = Root(input[topLeft], input[topLeft + 1], input[topLeft + s.Width], input[topLeft + s.Width + 1]);
        dInput[index] = Gradient(dOutput[o], input[index], y);
    }

    // ---------------------------------------------------------------- kernel 2: host code (L2Pool2d.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>output = root mean square of each window of input (plus <see cref="Eps"/>); writes output.
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ChwShape inputShape,
        KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(input, inputShape.Length, nameof(input));
        switch (KernelChoice.Resolve(variant, _choice.L2Pool()))
        {
            case KernelVariant.PerElement: _forward.Value(outShape.Length, output, input, inputShape); break;
            case KernelVariant.Cpu: ForwardCpu(output, input, inputShape); break;
            default: throw KernelChoice.NotOffered("L2 pooling", variant);
        }
    }

    /// <summary>dInput = dOutput * input / (4 y), y each window's output taken again from
    /// <paramref name="input"/> (the forward pass's input); writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> input,
        ChwShape inputShape, KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        Require.Length(input, inputShape.Length, nameof(input));
        switch (KernelChoice.Resolve(variant, _choice.L2Pool()))
        {
            case KernelVariant.PerElement:
                _backward.Value(inputShape.Length, dInput, dOutput, input, inputShape);
                break;
            case KernelVariant.Cpu: BackwardCpu(dInput, dOutput, input, inputShape); break;
            default: throw KernelChoice.NotOffered("L2 pooling", variant);
        }
    }
}
