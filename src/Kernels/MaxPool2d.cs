using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, H x W input size, OH = floor(H/2), OW = floor(W/2) output size.
//   input  : (C, H, W)    input[(c*H + y)*W + x]
//   output : (C, OH, OW)  output[(c*OH + oy)*OW + ox] = max of input window rows 2oy..2oy+1, cols 2ox..2ox+1
//   argmax : (C, OH, OW)  flat input index of the element that won each window
// On an odd H or W the last input row or column belongs to no window (floor), as in PyTorch.

/// <summary>
/// Max pooling with a 2x2 window and stride 2 (VGG's pooling), forward and backward.
/// </summary>
/// <remarks>
/// Forward records, per output element, the flat index of the input element that won its window
/// (the first of equal values, in row-major order). Backward routes each output gradient to that
/// input element: <c>dIn[i] = dOut[o]</c> where <c>argmax[o] == i</c>, 0 elsewhere. The windows do
/// not overlap, so each input element has at most one window and backward can be a gather: one
/// thread per input element, no atomics, every element written (backward writes, it does not
/// accumulate).
/// </remarks>
public sealed class MaxPool2d
{
    /// <summary>Window size and stride.</summary>
    public const int Window = 2;

    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ChwShape> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ChwShape> _backward;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    public MaxPool2d(Accelerator accelerator)
    {
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ChwShape>(ForwardKernel);
        _backward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ChwShape>(BackwardKernel);
    }

    /// <summary>The output shape for an input of shape <paramref name="input"/> (floor on odd sizes).</summary>
    public static ChwShape OutputShape(ChwShape input) => new(input.Channels, input.Height / Window, input.Width / Window);

    /// <summary>output = window maxima of input, argmax = where they came from; writes both.</summary>
    public void Forward(ArrayView<float> output, ArrayView<int> argmax, ArrayView<float> input, ChwShape inputShape)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        Require.Length(input, inputShape.Length, nameof(input));
        _forward(outShape.Length, output, argmax, input, inputShape);
    }

    /// <summary>dInput[argmax[o]] = dOutput[o], every other element 0; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<int> argmax, ChwShape inputShape)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        _backward(inputShape.Length, dInput, dOutput, argmax, inputShape);
    }

    internal static ChwShape CheckedOutputShape(ChwShape inputShape)
    {
        inputShape.Validate("pooling input");
        if (inputShape.Height < Window || inputShape.Width < Window)
            throw new ArgumentException($"2x2 pooling needs an input of at least 2x2 pixels, got {inputShape}.");
        return OutputShape(inputShape);
    }

    /// <summary>One thread per output element: scan the 2x2 window, keep the first maximum.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<int> argmax,
        ArrayView<float> input, ChwShape s)
    {
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int ox = index % outW;
        int oy = index / outW % outH;
        int c = index / (outW * outH);

        int best = s.Index(c, oy * Window, ox * Window);
        float bestValue = input[best];
        for (int dy = 0; dy < Window; dy++)
        {
            for (int dx = 0; dx < Window; dx++)
            {
                int i = s.Index(c, oy * Window + dy, ox * Window + dx);
                if (input[i] > bestValue)
                {
                    bestValue = input[i];
                    best = i;
                }
            }
        }
        output[index] = bestValue;
        argmax[index] = best;
    }

    /// <summary>One thread per input element: take the window's gradient if this element won it.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<int> argmax, ChwShape s)
    {
        int x = index % s.Width;
        int y = index / s.Width % s.Height;
        int c = index / (s.Width * s.Height);
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int oy = y / Window;
        int ox = x / Window;

        float gradient = 0f;
        if (oy < outH && ox < outW) // the last row/column of an odd-sized input is in no window
        {
            int o = (c * outH + oy) * outW + ox;
            if (argmax[o] == index) gradient = dOutput[o];
        }
        dInput[index] = gradient;
    }

    /// <summary>CPU reference of <see cref="Forward"/>; argmax holds flat input indices.</summary>
    public static void ForwardReference(double[] output, int[] argmax, double[] input, ChwShape s)
    {
        var o = OutputShape(s);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            int best = -1;
            for (int dy = 0; dy < Window; dy++)
            for (int dx = 0; dx < Window; dx++)
            {
                int i = s.Index(c, Window * oy + dy, Window * ox + dx);
                if (best < 0 || input[i] > input[best]) best = i; // strict '>': the first maximum wins
            }
            output[o.Index(c, oy, ox)] = input[best];
            argmax[o.Index(c, oy, ox)] = best;
        }
    }

    /// <summary>CPU reference of <see cref="Backward"/>: scatter each output gradient to its winner.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, int[] argmax, ChwShape s)
    {
        Array.Clear(dInput);
        for (int o = 0; o < OutputShape(s).Length; o++)
            dInput[argmax[o]] += dOutput[o];
    }
}
