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
/// with the backward of the ReLU below it fused in. The windows' geometry is written here once,
/// for both poolings (<see cref="AvgPool2d"/> reads the same windows).
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
/// <para>Reading order: the windows, the CPU references, kernel 1 (one thread per element), kernel 2
/// (host code, MaxPool2d.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class MaxPool2d
{
    /// <summary>Window size and stride.</summary>
    public const int Window = 2;

    /// <summary>The argmax of a window that passes no gradient (its maximum was 0 under a fused ReLU).</summary>
    public const byte NoWinner = 255;

    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ChwShape, int>> _forward;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ChwShape>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public MaxPool2d(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ChwShape, int>(ForwardKernel));
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ChwShape>(BackwardKernel));
    }

    // ---------------------------------------------------------------- the windows (both poolings)

    /// <summary>The output shape for an input of shape <paramref name="input"/> (floor on odd sizes).</summary>
    public static ChwShape OutputShape(ChwShape input) =>
        new(input.Channels, input.Height / Window, input.Width / Window);

    /// <summary>The output shape, after refusing an input that has no window (the launchers' check).</summary>
    internal static ChwShape CheckedOutputShape(ChwShape inputShape)
    {
        inputShape.Validate("pooling input");
        if (inputShape.Height < Window || inputShape.Width < Window)
            throw new ArgumentException($"2x2 pooling needs an input of at least 2x2 pixels, got {inputShape}.");
        return OutputShape(inputShape);
    }

    /// <summary>The input index of the top-left element of output element <paramref name="o"/>'s window.</summary>
    internal static int WindowCorner(int o, ChwShape s)
    {
        int outW = s.Width / Window;
        int outH = s.Height / Window;
        int ox = o % outW;
        int oy = o / outW % outH;
        int c = o / (outW * outH);
        return s.Index(c, oy * Window, ox * Window);
    }

    /// <summary>
    /// Whether input element <paramref name="i"/> is in a window: the last row or column of an odd-sized
    /// input is in none. (A bool, not a -1 from <see cref="WindowOf"/>: ILGPU's OpenCL C writes a negative
    /// int constant as its unsigned bits, 4294967295, which PoCL warns about.)
    /// </summary>
    internal static bool InAWindow(int i, ChwShape s) =>
        i / s.Width % s.Height < s.Height / Window * Window && i % s.Width < s.Width / Window * Window;

    /// <summary>The output element whose window holds input element <paramref name="i"/>, which is in one
    /// (<see cref="InAWindow"/>).</summary>
    internal static int WindowOf(int i, ChwShape s)
    {
        int x = i % s.Width;
        int y = i / s.Width % s.Height;
        int c = i / (s.Width * s.Height);
        return (c * (s.Height / Window) + y / Window) * (s.Width / Window) + x / Window;
    }

    /// <summary>Where input element <paramref name="i"/> sits in its window: dy*2 + dx, as argmax counts.</summary>
    internal static int PlaceInWindow(int i, ChwShape s) =>
        i / s.Width % s.Height % Window * Window + i % s.Width % Window;

    /// <summary>
    /// Host code's walk over the output rows: <paramref name="body"/>(o, top) for each output row (c, oy) on
    /// every core, with o the flat index of the row's first output and top that of its windows' top input row.
    /// </summary>
    internal static void ForOutputRows(CpuHost host, ChwShape s, Action<long, long> body)
    {
        var o = OutputShape(s);
        host.ForRows(o.Channels, o.Height,
            (row, c, oy) => body((long)row * o.Width, ((long)c * s.Height + oy * Window) * s.Width));
    }

    /// <summary>
    /// Host code's walk over the input rows: <paramref name="body"/>(i, o, dy) for each input row (c, y) on
    /// every core, with i the flat index of the row's first element, o that of the output row its windows
    /// make (-1 for the last row of an odd-sized input, in no window) and dy = 2 (y mod 2), the row's part
    /// of a place in a window.
    /// </summary>
    internal static void ForInputRows(CpuHost host, ChwShape s, Action<long, long, int> body)
    {
        var o = OutputShape(s);
        host.ForRows(s.Channels, s.Height, (row, c, y) =>
        {
            int oy = y / Window;
            body((long)row * s.Width, oy < o.Height ? ((long)c * o.Height + oy) * o.Width : -1,
                (y - oy * Window) * Window);
        });
    }

    // ---------------------------------------------------------------- CPU references

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

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per output element: scan the 2x2 window, keep the first maximum.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<byte> argmax,
        ArrayView<float> input, ChwShape s, int reluInput)
    {
        int corner = WindowCorner(index, s);
        int best = 0;
        float bestValue = input[corner];
        for (int dy = 0; dy < Window; dy++)
        {
            for (int dx = 0; dx < Window; dx++)
            {
                float value = input[corner + dy * s.Width + dx];
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
        dInput[index] = InAWindow(index, s) && argmax[WindowOf(index, s)] == PlaceInWindow(index, s)
            ? dOutput[WindowOf(index, s)]
            : 0f;
    }

    // ---------------------------------------------------------------- kernel 2: host code (MaxPool2d.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>
    /// output = window maxima of input, argmax = which element of each window won; writes both.
    /// With <paramref name="reluInput"/> (input is a ReLU output, so never negative), a window whose
    /// maximum is not positive gets <see cref="NoWinner"/>: the ReLU's backward, fused.
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<byte> argmax, ArrayView<float> input,
        ChwShape inputShape, bool reluInput = false, KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(output, outShape.Length, nameof(output));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        Require.Length(input, inputShape.Length, nameof(input));
        switch (KernelChoice.Resolve(variant, _choice.MaxPool()))
        {
            case KernelVariant.PerElement:
                _forward.Value(outShape.Length, output, argmax, input, inputShape, reluInput ? 1 : 0);
                break;
            case KernelVariant.Cpu: ForwardCpu(output, argmax, input, inputShape, reluInput); break;
            default: throw KernelChoice.NotOffered("max pooling", variant);
        }
    }

    /// <summary>dInput = dOutput at each window's winner, 0 at every other element; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<byte> argmax, ChwShape inputShape,
        KernelVariant variant = KernelVariant.Auto)
    {
        var outShape = CheckedOutputShape(inputShape);
        Require.Length(dInput, inputShape.Length, nameof(dInput));
        Require.Length(dOutput, outShape.Length, nameof(dOutput));
        Require.Length(argmax, outShape.Length, nameof(argmax));
        switch (KernelChoice.Resolve(variant, _choice.MaxPool()))
        {
            case KernelVariant.PerElement:
                _backward.Value(inputShape.Length, dInput, dOutput, argmax, inputShape);
                break;
            case KernelVariant.Cpu: BackwardCpu(dInput, dOutput, argmax, inputShape); break;
            default: throw KernelChoice.NotOffered("max pooling", variant);
        }
    }
}
