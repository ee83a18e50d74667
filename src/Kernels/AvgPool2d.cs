using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, H x W input size, OH = floor(H/2), OW = floor(W/2) output size.
//   input  : (C, H, W)    input[(c*H + y)*W + x]
//   output : (C, OH, OW)  mean of input window rows 2oy..2oy+1, cols 2ox..2ox+1
// On an odd H or W the last input row or column belongs to no window (floor), as in PyTorch.

/// <summary>
/// Average pooling with a 2x2 window and stride 2 (the "avg" pooling option of style transfer),
/// forward and backward.
/// </summary>
/// <remarks>
/// Backward spreads each output gradient evenly over its window: <c>dIn[c,y,x] = dOut[c,y/2,x/2] / 4</c>
/// inside a window and 0 on the unpooled last row or column of an odd-sized input. One thread per
/// input element; backward writes dInput, it does not accumulate.
/// </remarks>
public sealed partial class AvgPool2d
{
    private readonly Accelerator _accelerator;
    private readonly bool _hostCode; // run in host code (AvgPool2d.Cpu.cs)
    private const int Window = MaxPool2d.Window;
    private const float InverseArea = 1f / (Window * Window);

    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ChwShape> _backward;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="hostCode">Run in host code (the CPU variant); by default on the CPU accelerator,
    /// where it is many times faster than the kernels. False runs the kernels anywhere.</param>
    public AvgPool2d(Accelerator accelerator, bool? hostCode = null)
    {
        _accelerator = accelerator;
        _hostCode = CpuHost.Resolve(accelerator, hostCode);
        _forward = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape>(ForwardKernel);
        _backward = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ChwShape>(BackwardKernel);
    }

    /// <summary>output = window means of input; writes output.</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ChwShape inputShape)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(input, inputShape.Length, nameof(input));
        if (_hostCode) ForwardCpu(output, input, inputShape);
        else _forward(outShape.Length, output, input, inputShape);
    }

    /// <summary>dInput = dOutput spread evenly over each window; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape inputShape)
    {
        var outShape = MaxPool2d.CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        if (_hostCode) BackwardCpu(dInput, dOutput, inputShape);
        else _backward(inputShape.Length, dInput, dOutput, inputShape);
    }

    /// <summary>One thread per output element.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int ox = index % outW;
        int oy = index / outW % outH;
        int c = index / (outW * outH);
        int topLeft = s.Index(c, oy * Window, ox * Window);
        float sum = input[topLeft] + input[topLeft + 1] + input[topLeft + s.Width] + input[topLeft + s.Width + 1];
        output[index] = sum * InverseArea;
    }

    /// <summary>One thread per input element.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape s)
    {
        int x = index % s.Width;
        int y = index / s.Width % s.Height;
        int c = index / (s.Width * s.Height);
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int oy = y / Window;
        int ox = x / Window;
        dInput[index] = oy < outH && ox < outW ? dOutput[(c * outH + oy) * outW + ox] * InverseArea : 0f;
    }

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
}
