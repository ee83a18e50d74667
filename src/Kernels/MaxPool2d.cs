using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, H x W input size, OH = floor(H/2), OW = floor(W/2) output size.
//   input  : (C, H, W)    input[(c*H + y)*W + x]
//   output : (C, OH, OW)  output[(c*OH + oy)*OW + ox] = max of input window rows 2oy..2oy+1, cols 2ox..2ox+1
//   argmax : (C, OH, OW)  one byte per window: which of its 4 elements won, dy*2 + dx, or NoWinner
// On an odd H or W the last input row or column belongs to no window (floor), as in PyTorch.

/// <summary>
/// Max pooling with a 2x2 window and stride 2 (VGG's pooling), forward and backward, optionally
/// with the backward of the ReLU below it fused in.
/// </summary>
/// <remarks>
/// <para>Forward records, per output element, which element of its window won (the first of equal
/// values, in row-major order) as one byte, <c>dy*2 + dx</c>: a quarter of the memory of a flat
/// int index. Backward routes each output gradient to that element: <c>dIn[i] = dOut[o]</c> where
/// i won window o, 0 elsewhere. The windows do not overlap, so each input element has at most one
/// window and backward can be a gather: one thread per input element, no atomics, every element
/// written (backward writes, it does not accumulate).</para>
/// <para>Fused ReLU (<c>reluInput</c>): in VGG every pooling reads a ReLU output. The ReLU's
/// backward would zero the gradient wherever its output is 0, and after pooling only the winners
/// carry gradient; a winner is 0 exactly when its whole window is 0. So forward marks such a
/// window <see cref="NoWinner"/>, backward gives it no gradient, and the ReLU layer below needs no
/// mask of its own in backward: neither its output nor a bit mask has to be kept.</para>
/// </remarks>
public sealed partial class MaxPool2d
{
    private readonly Accelerator _accelerator;
    private readonly bool _hostCode; // run in host code (MaxPool2d.Cpu.cs)
    /// <summary>Window size and stride.</summary>
    public const int Window = 2;

    /// <summary>The argmax of a window that passes no gradient (its maximum was 0 under a fused ReLU).</summary>
    public const byte NoWinner = 255;

    private readonly Action<Index1D, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ChwShape, int> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ChwShape> _backward;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="hostCode">Run in host code (the CPU variant); by default on the CPU accelerator,
    /// where it is many times faster than the kernels. False runs the kernels anywhere.</param>
    public MaxPool2d(Accelerator accelerator, bool? hostCode = null)
    {
        _accelerator = accelerator;
        _hostCode = CpuHost.Resolve(accelerator, hostCode);
        _forward = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ChwShape, int>(ForwardKernel);
        _backward = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ChwShape>(BackwardKernel);
    }

    /// <summary>The output shape for an input of shape <paramref name="input"/> (floor on odd sizes).</summary>
    public static ChwShape OutputShape(ChwShape input) =>
        new(input.Channels, input.Height / Window, input.Width / Window);

    /// <summary>
    /// output = window maxima of input, argmax = which element of each window won; writes both.
    /// With <paramref name="reluInput"/> (input is a ReLU output, so never negative), a window whose
    /// maximum is not positive gets <see cref="NoWinner"/>: the ReLU's backward, fused.
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<byte> argmax, ArrayView<float> input,
        ChwShape inputShape, bool reluInput = false)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        Require.Length(input, inputShape.Length, nameof(input));
        if (_hostCode) ForwardCpu(output, argmax, input, inputShape, reluInput);
        else _forward(outShape.Length, output, argmax, input, inputShape, reluInput ? 1 : 0);
    }

    /// <summary>dInput = dOutput at each window's winner, 0 at every other element; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<byte> argmax, ChwShape inputShape)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        if (_hostCode) BackwardCpu(dInput, dOutput, argmax, inputShape);
        else _backward(inputShape.Length, dInput, dOutput, argmax, inputShape);
    }

    internal static ChwShape CheckedOutputShape(ChwShape inputShape)
    {
        inputShape.Validate("pooling input");
        if (inputShape.Height < Window || inputShape.Width < Window)
            throw new ArgumentException($"2x2 pooling needs an input of at least 2x2 pixels, got {inputShape}.");
        return OutputShape(inputShape);
    }

    /// <summary>One thread per output element: scan the 2x2 window, keep the first maximum.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<byte> argmax,
        ArrayView<float> input, ChwShape s, int reluInput)
    {
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int ox = index % outW;
        int oy = index / outW % outH;
        int c = index / (outW * outH);

        int best = 0;
        float bestValue = input[s.Index(c, oy * Window, ox * Window)];
        for (int dy = 0; dy < Window; dy++)
        {
            for (int dx = 0; dx < Window; dx++)
            {
                float value = input[s.Index(c, oy * Window + dy, ox * Window + dx)];
                if (value > bestValue)
                {
                    bestValue = value;
                    best = dy * Window + dx;
                }
            }
        }
        output[index] = bestValue;
        argmax[index] = reluInput != 0 && bestValue <= 0f ? NoWinner : (byte)best;
    }

    /// <summary>One thread per input element: take the window's gradient if this element won it.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<byte> argmax, ChwShape s)
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
            if (argmax[o] == (y - oy * Window) * Window + (x - ox * Window)) gradient = dOutput[o];
        }
        dInput[index] = gradient;
    }

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, byte[] argmax, double[] input,
        ChwShape s, bool reluInput = false)
    {
        var o = OutputShape(s);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            int best = -1;
            for (int w = 0; w < Window * Window; w++)
            {
                double value = input[s.Index(c, Window * oy + w / Window, Window * ox + w % Window)];
                if (best < 0 || value > input[s.Index(c, Window * oy + best / Window, Window * ox + best % Window)])
                    best = w; // strict '>': the first maximum wins
            }
            double max = input[s.Index(c, Window * oy + best / Window, Window * ox + best % Window)];
            output[o.Index(c, oy, ox)] = max;
            argmax[o.Index(c, oy, ox)] = reluInput && max <= 0 ? NoWinner : (byte)best;
        }
    }

    /// <summary>CPU reference of <see cref="Backward"/>: scatter each output gradient to its winner.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, byte[] argmax, ChwShape s)
    {
        Array.Clear(dInput);
        var o = OutputShape(s);
        for (int c = 0; c < o.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            int w = argmax[o.Index(c, oy, ox)];
            if (w == NoWinner) continue;
            dInput[s.Index(c, Window * oy + w / Window, Window * ox + w % Window)] += dOutput[o.Index(c, oy, ox)];
        }
    }
}
