using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C input channels, H x W input size, K output channels, KH x KW kernel size,
// P zero padding (same on every side), S stride, OH x OW output size.
//   input  : (C, H, W)        input[(c*H + y)*W + x]
//   weight : (K, C, KH, KW)   weight[((k*C + c)*KH + ky)*KW + kx]   (PyTorch's order)
//   bias   : (K)
//   output : (K, OH, OW)      OH = (H + 2P - KH)/S + 1, OW likewise

/// <summary>The dimensions of one 2-D convolution (batch 1). VGG uses 3x3 kernels, padding 1, stride 1.</summary>
public readonly record struct Conv2dShape(
    int InChannels, int Height, int Width, int OutChannels,
    int KernelHeight, int KernelWidth, int Padding, int Stride)
{
    /// <summary>A VGG convolution: 3x3, padding 1, stride 1 (output size = input size).</summary>
    public static Conv2dShape Vgg(int inChannels, int height, int width, int outChannels) =>
        new(inChannels, height, width, outChannels, 3, 3, 1, 1);

    /// <summary>Output height, <c>(H + 2P - KH)/S + 1</c>.</summary>
    public int OutHeight => (Height + 2 * Padding - KernelHeight) / Stride + 1;

    /// <summary>Output width, <c>(W + 2P - KW)/S + 1</c>.</summary>
    public int OutWidth => (Width + 2 * Padding - KernelWidth) / Stride + 1;

    /// <summary>The input tensor's shape (C, H, W).</summary>
    public ChwShape Input => new(InChannels, Height, Width);

    /// <summary>The output tensor's shape (K, OH, OW).</summary>
    public ChwShape Output => new(OutChannels, OutHeight, OutWidth);

    /// <summary>Elements of the weight tensor, <c>K*C*KH*KW</c>.</summary>
    public int WeightLength => OutChannels * InChannels * KernelHeight * KernelWidth;

    /// <summary>Flat index of weight (k, c, ky, kx).</summary>
    public int WeightIndex(int k, int c, int ky, int kx) =>
        ((k * InChannels + c) * KernelHeight + ky) * KernelWidth + kx;

    /// <summary>Multiply-adds of one forward pass (the FLOP count is twice this).</summary>
    public long MultiplyAdds => (long)OutChannels * OutHeight * OutWidth * InChannels * KernelHeight * KernelWidth;

    /// <summary>Compact form, e.g. <c>C3 5x7 K4 3x3 p1 s1</c> (fields only: valid even for an invalid shape).</summary>
    public override string ToString() =>
        $"C{InChannels} {Height}x{Width} K{OutChannels} {KernelHeight}x{KernelWidth} p{Padding} s{Stride}";

    /// <summary>Throws <see cref="ArgumentException"/> for shapes no convolution can have.</summary>
    public void Validate()
    {
        if (InChannels <= 0 || Height <= 0 || Width <= 0 || OutChannels <= 0 || KernelHeight <= 0 || KernelWidth <= 0)
            throw new ArgumentException($"Convolution dimensions must be positive: {this}.");
        if (Padding < 0 || Stride <= 0)
            throw new ArgumentException($"Convolution needs padding >= 0 and stride >= 1: {this}.");
        if (Height + 2 * Padding < KernelHeight || Width + 2 * Padding < KernelWidth)
            throw new ArgumentException($"The {KernelHeight}x{KernelWidth} kernel is larger than the padded " +
                                        $"{Height}x{Width} input.");
    }
}

/// <summary>
/// 2-D convolution with bias (cross-correlation, as in every deep-learning framework), optionally
/// followed by a fused ReLU, and its backward pass with respect to the input (the weights are frozen).
/// </summary>
/// <remarks>
/// Forward:  <c>out[k,oy,ox] = bias[k] + sum_{c,ky,kx} w[k,c,ky,kx] * in[c, oy*S-P+ky, ox*S-P+kx]</c>
/// (input outside the image reads as 0).
/// Backward: every input pixel collects the output gradients of the windows it fell in:
/// <c>dIn[c,y,x] = sum_{k,ky,kx} w[k,c,ky,kx] * dOut[k,oy,ox]</c> over the (oy, ox) with
/// <c>oy*S-P+ky = y</c> and <c>ox*S-P+kx = x</c>. Written as a gather (one writer per input
/// element) it needs no atomics. Backward writes dInput; it does not accumulate.
/// </remarks>
public sealed partial class Conv2d : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly AcceleratorDescription _description; // what the accelerator can run
    private readonly KernelChoice _choice; // what Auto runs
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        Conv2dShape, int> _forwardPerElement;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        Conv2dShape, int> _forwardPerRow;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        Conv2dShape> _backwardPerElement;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape> _backwardPerRow;

    // The KernelSet's, for split products; empty where the tiled kernels cannot run.
    private readonly ArrayView<float> _splitScratch;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="splitScratch">Device scratch of <see cref="TiledGemm.SplitScratchFloats"/> floats for split tiled
    /// products (empty: they cannot split).</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows (default: the accelerator's, nothing
    /// asked).</param>
    public Conv2d(Accelerator accelerator, ArrayView<float> splitScratch = default, KernelChoice? choice = null)
    {
        _accelerator = accelerator;
        _splitScratch = splitScratch;
        _description = AcceleratorDescription.Of(accelerator);
        _choice = choice ?? new KernelChoice(_description);
        _forwardPerElement = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, int>(ForwardPerElementKernel);
        _forwardPerRow = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, int>(ForwardPerRowKernel);
        _backwardPerElement = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Conv2dShape>(BackwardInputPerElementKernel);
        _backwardPerRow = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Conv2dShape>(BackwardInputPerRowKernel);
    }

    // ---------------------------------------------------------------- launchers

    /// <summary>
    /// output = conv(input, weight) + bias, then ReLU when <paramref name="fuseRelu"/>; writes output.
    /// Any variant (the tiled and TF32 ones with the per-layer split, <see cref="Splits"/>).
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        Conv2dShape shape, bool fuseRelu = false, KernelVariant variant = KernelVariant.Auto)
    {
        CheckForward(output, input, weight, bias, shape);
        int relu = fuseRelu ? 1 : 0;
        switch (variant == KernelVariant.Auto ? _choice.ConvForward(shape) : variant)
        {
            case KernelVariant.PerRow:
                _forwardPerRow(shape.OutChannels * shape.OutHeight, output, input, weight, bias, shape, relu);
                break;
            case KernelVariant.Cpu: ForwardCpu(output, input, weight, bias, shape, fuseRelu); break;
            case KernelVariant.Tiled: ForwardTiled(output, input, weight, bias, shape, fuseRelu); break;
            case KernelVariant.Tf32: ForwardTf32(output, input, weight, bias, shape, fuseRelu); break;
            default: _forwardPerElement(shape.Output.Length, output, input, weight, bias, shape, relu); break;
        }
    }

    /// <summary>
    /// dInput = gradient of the convolution with respect to its input; writes dInput. The tiled and
    /// TF32 variants read <paramref name="transposedWeight"/> (from <see cref="TransposeFlip"/>), the
    /// others <paramref name="weight"/>.
    /// </summary>
    public void BackwardInput(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> weight,
        Conv2dShape shape, KernelVariant variant = KernelVariant.Auto, ArrayView<float> transposedWeight = default)
    {
        shape.Validate();
        Require.Length(dInput, shape.Input.Length, nameof(dInput));
        Require.Length(dOutput, shape.Output.Length, nameof(dOutput));
        Require.Length(weight, shape.WeightLength, nameof(weight));
        variant = variant == KernelVariant.Auto ? _choice.ConvInputGradient(shape) : variant;
        if ((variant is KernelVariant.Tiled or KernelVariant.Tf32) && transposedWeight.Length == 0)
        {
            throw new ArgumentException($"The {variant} input gradient reads the transposed weights: " +
                                        "prepare them with TransposeFlip and pass them.", nameof(transposedWeight));
        }
        switch (variant)
        {
            case KernelVariant.PerRow:
                _backwardPerRow(shape.InChannels * shape.Height, dInput, dOutput, weight, shape);
                break;
            case KernelVariant.Cpu: BackwardInputCpu(dInput, dOutput, weight, shape); break;
            case KernelVariant.Tiled: BackwardInputTiled(dInput, dOutput, transposedWeight, default, shape); break;
            case KernelVariant.Tf32: BackwardInputTf32(dInput, dOutput, transposedWeight, default, shape); break;
            default: _backwardPerElement(shape.Input.Length, dInput, dOutput, weight, shape); break;
        }
    }

    /// <summary>The checks every forward launcher makes before launching: a valid shape and matching lengths.</summary>
    private static void CheckForward(ArrayView<float> output, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, Conv2dShape shape)
    {
        shape.Validate();
        Require.Length(output, shape.Output.Length, nameof(output));
        Require.Length(input, shape.Input.Length, nameof(input));
        Require.Length(weight, shape.WeightLength, nameof(weight));
        Require.Length(bias, shape.OutChannels, nameof(bias));
    }

    // ---------------------------------------------------------------- kernels

    /// <summary>
    /// Forward, kernel 1: one thread per output element (k, oy, ox). Neighbouring threads differ in
    /// ox, so their input reads are neighbouring too (coalesced); every thread reads the same
    /// weights in the same order (broadcast through the cache).
    /// </summary>
    public static void ForwardPerElementKernel(Index1D index, ArrayView<float> output, ArrayView<float> input,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape s, int fuseRelu)
    {
        int ox = index % s.OutWidth;
        int oy = index / s.OutWidth % s.OutHeight;
        int k = index / (s.OutWidth * s.OutHeight);
        int y0 = oy * s.Stride - s.Padding;
        int x0 = ox * s.Stride - s.Padding;

        float sum = bias[k];
        for (int c = 0; c < s.InChannels; c++)
        {
            for (int ky = 0; ky < s.KernelHeight; ky++)
            {
                int y = y0 + ky;
                if (y < 0 || y >= s.Height) continue;
                for (int kx = 0; kx < s.KernelWidth; kx++)
                {
                    int x = x0 + kx;
                    if (x < 0 || x >= s.Width) continue;
                    sum += weight[s.WeightIndex(k, c, ky, kx)] * input[(c * s.Height + y) * s.Width + x];
                }
            }
        }
        output[index] = fuseRelu != 0 ? XMath.Max(sum, 0f) : sum;
    }

    /// <summary>
    /// Forward, kernel 2 (for the CPU accelerator): one thread per output row (k, oy). The row is
    /// initialised with the bias and then each weight is applied to a whole row at once, so the
    /// innermost loop streams along contiguous memory, which is what a CPU core is good at.
    /// </summary>
    public static void ForwardPerRowKernel(Index1D row, ArrayView<float> output, ArrayView<float> input,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape s, int fuseRelu)
    {
        int k = row / s.OutHeight;
        int oy = row % s.OutHeight;
        int outRow = row * s.OutWidth;
        for (int ox = 0; ox < s.OutWidth; ox++)
            output[outRow + ox] = bias[k];

        for (int c = 0; c < s.InChannels; c++)
        {
            for (int ky = 0; ky < s.KernelHeight; ky++)
            {
                int y = oy * s.Stride - s.Padding + ky;
                if (y < 0 || y >= s.Height) continue;
                int inRow = (c * s.Height + y) * s.Width;
                for (int kx = 0; kx < s.KernelWidth; kx++)
                {
                    float w = weight[s.WeightIndex(k, c, ky, kx)];
                    // Output columns whose input column x = ox*S - P + kx lies inside [0, W).
                    int first = FirstInside(s.Padding - kx, s.Stride);
                    int end = EndInside(s.Width - 1 + s.Padding - kx, s.Stride, s.OutWidth);
                    for (int ox = first; ox < end; ox++)
                        output[outRow + ox] += w * input[inRow + ox * s.Stride - s.Padding + kx];
                }
            }
        }

        if (fuseRelu != 0)
        {
            for (int ox = 0; ox < s.OutWidth; ox++)
                output[outRow + ox] = XMath.Max(output[outRow + ox], 0f);
        }
    }

    /// <summary>
    /// Backward, kernel 1: one thread per input element (c, y, x) gathers every output gradient
    /// whose window covered it. With stride S only the offsets where <c>y + P - ky</c> is a multiple
    /// of S come from a real output row.
    /// </summary>
    public static void BackwardInputPerElementKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> weight, Conv2dShape s)
    {
        int x = index % s.Width;
        int y = index / s.Width % s.Height;
        int c = index / (s.Width * s.Height);

        float sum = 0f;
        for (int ky = 0; ky < s.KernelHeight; ky++)
        {
            int ty = y + s.Padding - ky;
            if (ty < 0 || ty % s.Stride != 0) continue;
            int oy = ty / s.Stride;
            if (oy >= s.OutHeight) continue;
            for (int kx = 0; kx < s.KernelWidth; kx++)
            {
                int tx = x + s.Padding - kx;
                if (tx < 0 || tx % s.Stride != 0) continue;
                int ox = tx / s.Stride;
                if (ox >= s.OutWidth) continue;
                for (int k = 0; k < s.OutChannels; k++)
                    sum += weight[s.WeightIndex(k, c, ky, kx)] * dOutput[(k * s.OutHeight + oy) * s.OutWidth + ox];
            }
        }
        dInput[index] = sum;
    }

    /// <summary>
    /// Backward, kernel 2 (for the CPU accelerator): one thread per input row (c, y). It owns that
    /// row of dInput, so it can scatter into it: for every output row the window reached from y,
    /// each weight adds a whole row of output gradients, shifted.
    /// </summary>
    public static void BackwardInputPerRowKernel(Index1D row, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> weight, Conv2dShape s)
    {
        int c = row / s.Height;
        int y = row % s.Height;
        int inRow = row * s.Width;
        for (int x = 0; x < s.Width; x++)
            dInput[inRow + x] = 0f;

        for (int ky = 0; ky < s.KernelHeight; ky++)
        {
            int ty = y + s.Padding - ky;
            if (ty < 0 || ty % s.Stride != 0) continue;
            int oy = ty / s.Stride;
            if (oy >= s.OutHeight) continue;
            for (int k = 0; k < s.OutChannels; k++)
            {
                int outRow = (k * s.OutHeight + oy) * s.OutWidth;
                for (int kx = 0; kx < s.KernelWidth; kx++)
                {
                    float w = weight[s.WeightIndex(k, c, ky, kx)];
                    int first = FirstInside(s.Padding - kx, s.Stride);
                    int end = EndInside(s.Width - 1 + s.Padding - kx, s.Stride, s.OutWidth);
                    for (int ox = first; ox < end; ox++)
                        dInput[inRow + ox * s.Stride - s.Padding + kx] += w * dOutput[outRow + ox];
                }
            }
        }
    }

    /// <summary>Smallest ox >= 0 with ox*S >= lowest (the first output column whose input column is >= 0).</summary>
    private static int FirstInside(int lowest, int stride) => lowest <= 0 ? 0 : (lowest + stride - 1) / stride;

    /// <summary>
    /// One past the largest ox &lt; OW with ox*S &lt;= highest (the last output column whose input column is
    /// &lt; W); 0 when there is none. An end, not a last column, so that "none" needs no -1: ILGPU's OpenCL C
    /// writes a negative int constant as its unsigned bits (4294967295), which compilers warn about.
    /// </summary>
    private static int EndInside(int highest, int stride, int outWidth) =>
        highest < 0 ? 0 : XMath.Min(highest / stride + 1, outWidth);

    // ---------------------------------------------------------------- CPU references

    /// <summary>
    /// CPU reference of <see cref="Forward"/>: the definition, in plain nested loops and double
    /// precision. Every device kernel above is tested against this.
    /// </summary>
    public static void ForwardReference(double[] output, double[] input, double[] weight, double[] bias,
        Conv2dShape s, bool fuseRelu = false)
    {
        s.Validate();
        Require.Length(output, s.Output.Length, nameof(output));
        Require.Length(input, s.Input.Length, nameof(input));
        Require.Length(weight, s.WeightLength, nameof(weight));
        Require.Length(bias, s.OutChannels, nameof(bias));
        for (int k = 0; k < s.OutChannels; k++)
        for (int oy = 0; oy < s.OutHeight; oy++)
        for (int ox = 0; ox < s.OutWidth; ox++)
        {
            double sum = bias[k];
            for (int c = 0; c < s.InChannels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
            for (int kx = 0; kx < s.KernelWidth; kx++)
            {
                int y = oy * s.Stride - s.Padding + ky;
                int x = ox * s.Stride - s.Padding + kx;
                if (y >= 0 && y < s.Height && x >= 0 && x < s.Width) // outside the image: zero padding
                    sum += weight[s.WeightIndex(k, c, ky, kx)] * input[s.Input.Index(c, y, x)];
            }
            output[s.Output.Index(k, oy, ox)] = fuseRelu ? Math.Max(sum, 0) : sum;
        }
    }

    /// <summary>
    /// CPU reference of <see cref="BackwardInput"/>, written as the transpose of the forward loop:
    /// each output gradient is scattered back to the input pixels its window read.
    /// </summary>
    public static void BackwardInputReference(double[] dInput, double[] dOutput, double[] weight, Conv2dShape s)
    {
        s.Validate();
        Require.Length(dInput, s.Input.Length, nameof(dInput));
        Require.Length(dOutput, s.Output.Length, nameof(dOutput));
        Require.Length(weight, s.WeightLength, nameof(weight));
        Array.Clear(dInput);
        for (int k = 0; k < s.OutChannels; k++)
        for (int oy = 0; oy < s.OutHeight; oy++)
        for (int ox = 0; ox < s.OutWidth; ox++)
        {
            double g = dOutput[s.Output.Index(k, oy, ox)];
            for (int c = 0; c < s.InChannels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
            for (int kx = 0; kx < s.KernelWidth; kx++)
            {
                int y = oy * s.Stride - s.Padding + ky;
                int x = ox * s.Stride - s.Padding + kx;
                if (y >= 0 && y < s.Height && x >= 0 && x < s.Width)
                    dInput[s.Input.Index(c, y, x)] += weight[s.WeightIndex(k, c, ky, kx)] * g;
            }
        }
    }
}
