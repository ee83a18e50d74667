using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// The convolution, read as llm.c's dev/cuda/conv2d.cu would be, in six files:
//   Conv2d.cs                glossary and shapes; the CPU reference; kernel 1; the one launcher
//   Conv2d.Tiled.cs          kernel 2 (GPU, 256-thread groups): the implicit GEMM in 64 x 64 shared-memory tiles,
//                            4 x 4 outputs per thread, the reduction split where a layer has too few tiles
//   Conv2d.Tf32.cs           kernel 3 (GPU, --tf32): kernel 2's tiles multiplied on TF32 tensor cores
//   Conv2d.Cpu.cs            kernel 4 (the CPU accelerator): kernel 2's product as host code, BLIS's loops around
//                            a register tile shaped for the processor's vectors (CpuGemm.cs)
//   Conv2d.Winograd.cs       kernel 5 (GPU): Winograd's algorithm (Winograd.cs), 2.25x-4x less arithmetic, as an
//                            input transform, kernel 2's tiled product batched over the transform's points, and
//                            an output transform
//   Conv2d.Winograd.Cpu.cs   kernel 6 (the CPU accelerator): the same as host code, fused per block of tiles
// Each kernel file launches its own kernel. KernelChoice.Conv picks the variants (and Winograd's tile);
// Prepare fixes them per layer, with what they need, made once (kernels 2 and 3 read the input gradient's weights
// transposed, kernels 5 and 6 the transformed filters, kernel 4 its weights packed); Forward and BackwardInput
// switch on them.
//
// Glossary: C input channels, H x W input size, K output channels, KH x KW kernel size,
// P zero padding (same on every side), S stride, OH x OW output size.
//   input      : (C, H, W)        input[(c*H + y)*W + x]
//   weight     : (K, C, KH, KW)   weight[((k*C + c)*KH + ky)*KW + kx]   (PyTorch's order)
//   transposed : (C, K, KH, KW)   transposed[((c*K + k)*KH + ky)*KW + kx] = weight[k, c, KH-1-ky, KW-1-kx]
//   bias       : (K)
//   output     : (K, OH, OW)      OH = (H + 2P - KH)/S + 1, OW likewise
//   reluBits   : (ceil(K*OH*OW / 32))  bit i: output[i] > 0 (Relu.PackMask's layout)

/// <summary>The dimensions of one 2-D convolution (batch 1). VGG uses 3x3 kernels, padding 1, stride 1.</summary>
public readonly record struct Conv2dShape(
    int InChannels, int Height, int Width, int OutChannels,
    int KernelHeight, int KernelWidth, int Padding, int Stride)
{
    /// <summary>
    /// Whether the input gradient is itself a convolution (<see cref="Transposed"/>), which the tiled kernels can
    /// then run: stride 1, a square kernel and padding &lt;= KH-1.
    /// </summary>
    public bool HasTransposedForm => Stride == 1 && KernelHeight == KernelWidth && Padding <= KernelHeight - 1;

    /// <summary>The convolution whose forward pass is this one's input gradient (stride 1): the flipped,
    /// transposed filter over dOut, padded by <c>KH-1-P</c>.</summary>
    public Conv2dShape Transposed =>
        new(OutChannels, OutHeight, OutWidth, InChannels, KernelHeight, KernelWidth, KernelHeight - 1 - Padding, 1);

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
/// Which filter of its own one direction of a convolution reads instead of W (<see cref="Conv2d.OwnFilters"/>): it
/// depends on the weights' channels, the direction, the variant and Winograd's tile, not on the image size.
/// </summary>
/// <param name="OutChannels">K of the convolution (not of the direction's product).</param>
/// <param name="InChannels">C of the convolution.</param>
/// <param name="InputGradient">The input gradient's filter (of the flipped, transposed W), or the forward's.</param>
/// <param name="Variant">The direction's variant.</param>
/// <param name="Tile">Winograd's tile (default for the direct variants).</param>
/// <param name="Packed">Whether the host code's direct product reads W packed once
/// (<see cref="ConvVariants.PackedOnce"/>).</param>
public readonly record struct FilterKey(int OutChannels, int InChannels, bool InputGradient, KernelVariant Variant,
    WinogradTile Tile, bool Packed)
{
    /// <summary>The filter of one direction of a layer that runs <paramref name="variants"/>.</summary>
    public static FilterKey Of(Conv2dShape shape, ConvVariants variants, bool inputGradient) =>
        new(shape.OutChannels, shape.InChannels, inputGradient,
            inputGradient ? variants.InputGradient : variants.Forward,
            inputGradient ? variants.InputGradientTile : variants.ForwardTile, variants.PackedOnce);

    /// <summary>
    /// Its floats for <paramref name="s"/>: Winograd's U (alpha^2 K C; kernel 6 pads the rows to whole strips of
    /// <see cref="CpuGemm.Rows"/>), or the host code's packed W (its rows padded the same way); 0 where the
    /// variant reads W. The input gradient's product has the input channels as rows.
    /// </summary>
    public long Floats(Conv2dShape s)
    {
        int rows = InputGradient ? s.InChannels : s.OutChannels, columns = InputGradient ? s.OutChannels
            : s.InChannels;
        return Variant switch
        {
            KernelVariant.Winograd => Winograd.FilterLength(s, Tile),
            KernelVariant.CpuWinograd => Winograd.Points(Tile) * CpuGemm.PackedLength(rows, columns),
            KernelVariant.Cpu when Packed => CpuGemm.PackedLength(rows, columns * s.KernelHeight * s.KernelWidth),
            _ => 0,
        };
    }
}

/// <summary>
/// One convolution layer's weights as its variants read them, made once by <see cref="Conv2d.Prepare"/>:
/// the shape, the variants (both directions, fixed for the layer), W and the bias, and what a variant reads
/// instead of W: where the input gradient is a tiled product, the transposed, flipped copy W'; for Winograd,
/// the transformed filters; for the host code's direct product, W packed in its register tile's strips.
/// </summary>
public readonly struct Conv2dWeights
{
    internal Conv2dWeights(Conv2dShape shape, ConvVariants variants, ArrayView<float> weight, ArrayView<float> bias,
        ArrayView<float> transposed, ArrayView<float> forwardFilter, ArrayView<float> inputGradientFilter,
        ArrayView<float> winogradScratch)
    {
        Shape = shape;
        Variants = variants;
        Weight = weight;
        Bias = bias;
        Transposed = transposed;
        ForwardFilter = forwardFilter;
        InputGradientFilter = inputGradientFilter;
        WinogradScratch = winogradScratch;
    }

    /// <summary>
    /// The forward variant's own filter: Winograd's U, (alpha^2, K, C) for kernel 5 and in <see cref="CpuGemm"/>
    /// strips for kernel 6; W packed in strips for kernel 4 with <see cref="ConvVariants.PackedOnce"/>; else
    /// empty (the variant reads W).
    /// </summary>
    public ArrayView<float> ForwardFilter { get; }

    /// <summary>The input gradient's own filter, as <see cref="ForwardFilter"/> (Winograd's U' of the flipped,
    /// transposed filter; W' packed in strips).</summary>
    public ArrayView<float> InputGradientFilter { get; }

    /// <summary>Device scratch of <see cref="Conv2d.WinogradScratchFloats"/> floats for kernel 5's transformed
    /// input and products (shared by a network's layers; empty unless a direction runs kernel 5).</summary>
    public ArrayView<float> WinogradScratch { get; }

    /// <summary>The convolution's dimensions.</summary>
    public Conv2dShape Shape { get; }

    /// <summary>The variant of each direction (never <see cref="KernelVariant.Auto"/>).</summary>
    public ConvVariants Variants { get; }

    /// <summary>W, (K, C, KH, KW); empty where no direction reads it (<see cref="Conv2d.ReadsWeight"/>) and the
    /// network did not upload it.</summary>
    public ArrayView<float> Weight { get; }

    /// <summary>The bias, (K).</summary>
    public ArrayView<float> Bias { get; }

    /// <summary>W', (C, K, KH, KW), flipped; empty unless <see cref="ConvVariants.TiledInputGradient"/>.</summary>
    public ArrayView<float> Transposed { get; }
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
    private readonly AcceleratorDescription _description; // what the accelerator can run (the launches' checks)
    private readonly KernelChoice _choice;                // what Auto runs
    private readonly CpuHost _host;                       // kernel 4's cores
    private readonly Relu _relu;                          // the ReLU's backward, where a variant cannot fuse it
    private readonly ArrayView<float> _splitScratch;      // the KernelSet's, for kernels 2 and 3's split products
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        Conv2dShape, int>> _forwardPerElement;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        Conv2dShape>> _backwardPerElement;

    /// <summary>The convolutions for <paramref name="accelerator"/>; every kernel is compiled at its first
    /// launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">Kernel 4's cores.</param>
    /// <param name="relu">The ReLU's backward, for the variants that cannot apply its mask themselves.</param>
    /// <param name="splitScratch">Device scratch of <see cref="TiledGemm.SplitScratchFloats"/> floats for split
    /// tiled products (empty: they cannot split).</param>
    public Conv2d(Accelerator accelerator, KernelChoice choice, CpuHost host, Relu relu,
        ArrayView<float> splitScratch = default)
    {
        _accelerator = accelerator;
        _description = AcceleratorDescription.Of(accelerator);
        _choice = choice;
        _host = host;
        _relu = relu;
        _splitScratch = splitScratch;
        _forwardPerElement = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, int>(ForwardPerElementKernel));
        _backwardPerElement = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape>(BackwardInputPerElementKernel));
    }

    // ---------------------------------------------------------------- CPU reference

    /// <summary>
    /// CPU reference of <see cref="Forward"/>: the definition, in plain nested loops and double
    /// precision. Every kernel below is tested against this.
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

    // ---------------------------------------------------------------- kernel 1: one thread per output

    /// <summary>
    /// Forward, kernel 1: one thread per output element (k, oy, ox), the reference's loop body as it
    /// stands. Neighbouring threads differ in ox, so their input reads are neighbouring too
    /// (coalesced); every thread reads the same weights in the same order (broadcast through the cache).
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

    // ---------------------------------------------------------------- kernels 2, 3, 4: in their files

    // ---------------------------------------------------------------- the launcher

    /// <summary>
    /// Prepares one layer's weights for its variants, once, when the layer is built: the variants are
    /// <paramref name="variants"/> as <see cref="KernelChoice.Conv(Conv2dShape, ConvVariants)"/> completes them
    /// (<see cref="KernelVariant.Auto"/>, a tile of 0: the rule's), and what they read instead of W is written
    /// here, each to a view from <paramref name="allocate"/> (whose caller counts them; together
    /// <see cref="PreparedFloats"/>): the transposed, flipped W' of a tiled input gradient (kernels 2 and 3),
    /// Winograd's transformed filters (kernels 5 and 6, transformed in double precision and rounded once), the
    /// host code's W packed in strips (kernel 4 with <see cref="ConvVariants.PackedOnce"/>).
    /// </summary>
    /// <param name="shape">The convolution's dimensions.</param>
    /// <param name="weight">W, (K, C, KH, KW); read by every launch of a direction without a filter of its own, so it
    /// must outlive them. Empty is allowed where <paramref name="filters"/> are given and no direction reads W
    /// (<see cref="ReadsWeight"/>).</param>
    /// <param name="bias">The bias, (K).</param>
    /// <param name="allocate">n => a device view of n floats, called once per prepared filter.</param>
    /// <param name="variants">The variants to run (default: the rule's in both directions).</param>
    /// <param name="winogradScratch">Device scratch of at least <see cref="WinogradScratchFloats"/> floats, where
    /// a direction runs kernel 5 (a network shares one among its layers).</param>
    /// <param name="filters">Each direction's own filter (<see cref="OwnFilters"/>) made beforehand with
    /// <see cref="MakeFilter"/>, by its key: a run makes them once for all its networks. Null: they are allocated
    /// and made here.</param>
    public Conv2dWeights Prepare(Conv2dShape shape, ArrayView<float> weight, ArrayView<float> bias,
        Func<long, ArrayView<float>> allocate, ConvVariants variants = default,
        ArrayView<float> winogradScratch = default, Func<FilterKey, ArrayView<float>>? filters = null)
    {
        shape.Validate();
        variants = _choice.Conv(shape, variants);
        if (weight.Length != 0 || filters is null || ReadsWeight(shape, variants))
            Require.Length(weight, shape.WeightLength, nameof(weight));
        Require.Length(bias, shape.OutChannels, nameof(bias));
        if (winogradScratch.Length < WinogradScratchFloats(shape, variants))
        {
            throw new ArgumentException($"Kernel 5 needs {WinogradScratchFloats(shape, variants)} floats of scratch " +
                                        $"for {shape}; {winogradScratch.Length} given.", nameof(winogradScratch));
        }
        var transposed = default(ArrayView<float>);
        if (variants.TiledInputGradient)
        {
            transposed = allocate(shape.WeightLength);
            TransposeFlip(transposed, weight, shape);
        }
        ArrayView<float> Filter(bool inputGradient)
        {
            var key = FilterKey.Of(shape, variants, inputGradient);
            long floats = key.Floats(shape);
            if (floats == 0) return default;
            if (filters is not null)
            {
                var made = filters(key);
                Require.Length(made, floats, "the prepared filter");
                return made;
            }
            var filter = allocate(floats);
            Require.Length(filter, floats, "the prepared filter");
            MakeFilter(filter, shape, weight.GetAsArray(), key);
            return filter;
        }
        return new Conv2dWeights(shape, variants, weight, bias, transposed, Filter(inputGradient: false),
            Filter(inputGradient: true), winogradScratch);
    }

    /// <summary>
    /// Whether a layer of these variants (completed, as <see cref="KernelChoice.Conv(Conv2dShape, ConvVariants)"/>
    /// returns them) reads W on the device: a direction without a filter of its own reads it at every launch, and a
    /// tiled input gradient's W' is made from it. Where both directions read filters made beforehand (Winograd's U,
    /// W packed once: the CPU's every layer but with <c>--conv-algorithm direct</c>), a network needs no copy of
    /// W: it would be 49 MiB of VGG-19's weights written into fresh memory for each network a run builds.
    /// </summary>
    public static bool ReadsWeight(Conv2dShape shape, ConvVariants variants) =>
        variants.TiledInputGradient ||
        FilterKey.Of(shape, variants, inputGradient: false).Floats(shape) == 0 ||
        FilterKey.Of(shape, variants, inputGradient: true).Floats(shape) == 0;

    /// <summary>
    /// Floats <see cref="Prepare"/> allocates for a layer beside W and the bias when it makes the filters itself:
    /// W' for a tiled input gradient, each direction's own filter (<see cref="OwnFilters"/>).
    /// </summary>
    public static long PreparedFloats(Conv2dShape shape, ConvVariants variants) =>
        TransposedFloats(shape, variants) + OwnFilters(shape, variants).Sum(f => f.Floats(shape));

    /// <summary>Floats of W', the tiled input gradient's transposed, flipped weights, which each network
    /// allocates (0 for every other variant).</summary>
    public static long TransposedFloats(Conv2dShape shape, ConvVariants variants) =>
        variants.TiledInputGradient ? shape.WeightLength : 0;

    /// <summary>
    /// The filters of a layer's directions that read one of their own instead of W (Winograd's U or U', the host
    /// code's W packed once in strips), which depend on the weights, the variant and the tile but not on the image
    /// size: made once, they serve every network of the weights that runs the same variant.
    /// </summary>
    public static IEnumerable<FilterKey> OwnFilters(Conv2dShape shape, ConvVariants variants) =>
        new[] { false, true }.Select(inputGradient => FilterKey.Of(shape, variants, inputGradient))
            .Where(key => key.Floats(shape) > 0);

    /// <summary>
    /// Writes one direction's own filter (<paramref name="key"/>'s) from <paramref name="weight"/>, W (K, C, KH, KW)
    /// on the host: packed in strips (kernel 4), or Winograd's U in double precision rounded once, in kernel 5's or
    /// kernel 6's layout.
    /// </summary>
    public unsafe void MakeFilter(ArrayView<float> filter, Conv2dShape shape, float[] weight, FilterKey key)
    {
        ArgumentNullException.ThrowIfNull(weight);
        Require.Length(weight, shape.WeightLength, nameof(weight));
        Require.Length(filter, key.Floats(shape), nameof(filter));
        switch (key.Variant)
        {
            case KernelVariant.Cpu:
                _host.Begin("convolution");
                fixed (float* w = weight) PackCpuWeights(CpuHost.Pointer(filter), w, shape, key.InputGradient);
                break;
            case KernelVariant.Winograd:
                UploadWinogradFilter(filter, weight, shape, key.Tile, key.InputGradient);
                break;
            case KernelVariant.CpuWinograd:
                PackWinogradFilter(filter, weight, shape, key.Tile, key.InputGradient);
                break;
            default: throw new ArgumentException($"The {key.Variant} variant reads W, not a filter of its own.");
        }
    }

    /// <summary>
    /// Floats of device scratch kernel 5 needs for a layer: the transformed input V (alpha^2 C T) and the products
    /// M (alpha^2 K T) of its larger direction that runs kernel 5; 0 where none does.
    /// </summary>
    public static long WinogradScratchFloats(Conv2dShape shape, ConvVariants variants)
    {
        long Scratch(Conv2dShape product, WinogradTile tile) => (long)Winograd.Points(tile) *
            (product.InChannels + product.OutChannels) * Winograd.Tiles(product, tile);
        long forward = variants.Forward == KernelVariant.Winograd ? Scratch(shape, variants.ForwardTile) : 0;
        long backward = variants.InputGradient == KernelVariant.Winograd
            ? Scratch(shape.Transposed, variants.InputGradientTile) : 0;
        return Math.Max(forward, backward);
    }

    /// <summary>
    /// output = conv(input, W) + bias, then ReLU when <paramref name="fuseRelu"/>; writes output. With
    /// <paramref name="reluBits"/> (a fused ReLU only) it also writes the ReLU's mask, bit i = output[i] &gt; 0,
    /// for a backward pass that keeps no output: one call per layer. Runs the layer's forward variant;
    /// <paramref name="splits"/> sets kernels 2 and 3's slices of the reduction (0: the per-layer choice,
    /// <see cref="Splits"/>).
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<uint> reluBits, ArrayView<float> input,
        Conv2dWeights weights, bool fuseRelu, int splits = 0)
    {
        var shape = weights.Shape;
        shape.Validate();
        Require.Length(output, shape.Output.Length, nameof(output));
        Require.Length(input, shape.Input.Length, nameof(input));
        if (reluBits.Length > 0 && !fuseRelu)
            throw new ArgumentException("A ReLU mask needs the fused ReLU.", nameof(reluBits));
        var variant = weights.Variants.Forward;
        switch (variant)
        {
            case KernelVariant.PerElement:
                _forwardPerElement.Value(shape.Output.Length, output, input, weights.Weight, weights.Bias, shape,
                    fuseRelu ? 1 : 0);
                break;
            case KernelVariant.Tiled: LaunchTiled(TiledProduct.Forward(output, input, weights, fuseRelu), splits);
                break;
            case KernelVariant.Tf32: LaunchTf32(TiledProduct.Forward(output, input, weights, fuseRelu), splits);
                break;
            case KernelVariant.Cpu: ForwardCpu(output, input, weights, fuseRelu); break;
            case KernelVariant.Winograd:
                LaunchWinograd(WinogradProduct.Forward(output, input, weights, fuseRelu));
                break;
            case KernelVariant.CpuWinograd: ForwardCpuWinograd(output, input, weights, fuseRelu); break;
            default: throw KernelChoice.NotOffered("convolution", variant);
        }
        // Before the next layers reuse output's buffer.
        if (reluBits.Length > 0) _relu.PackMask(reluBits, output);
    }

    /// <summary>
    /// dInput = gradient of the convolution with respect to its input, with dOutput first masked by the
    /// ReLU that followed the convolution when a mask is given: <paramref name="reluOutput"/> (the kept ReLU
    /// output; dOut passes where it is &gt; 0) or <paramref name="reluBits"/> (its bits, from
    /// <see cref="Forward"/>). Writes dInput. Runs the layer's input-gradient variant, which applies the mask as
    /// it loads dOut where it can (kernels 4 and 6 either mask, kernels 2, 3 and 5 the kept output); otherwise the mask
    /// is a pass of its own first, in place on dOutput. <paramref name="splits"/> as for <see cref="Forward"/>.
    /// </summary>
    public void BackwardInput(ArrayView<float> dInput, ArrayView<float> dOutput, Conv2dWeights weights,
        ArrayView<float> reluOutput = default, ArrayView<uint> reluBits = default, int splits = 0)
    {
        var shape = weights.Shape;
        shape.Validate();
        Require.Length(dInput, shape.Input.Length, nameof(dInput));
        Require.Length(dOutput, shape.Output.Length, nameof(dOutput));
        if (reluOutput.Length > 0) Require.Length(reluOutput, shape.Output.Length, nameof(reluOutput));
        if (reluBits.Length > 0) Require.Length(reluBits, Relu.MaskWords(shape.Output.Length), nameof(reluBits));
        if (reluOutput.Length > 0 && reluBits.Length > 0)
            throw new ArgumentException("Give the ReLU mask once: as the kept output or as bits, not both.");
        var variant = weights.Variants.InputGradient;
        if (reluBits.Length > 0 && variant is not (KernelVariant.Cpu or KernelVariant.CpuWinograd))
        {
            _relu.BackwardBits(dOutput, dOutput, reluBits);
            reluBits = default;
        }
        if (reluOutput.Length > 0 && variant == KernelVariant.PerElement)
        {
            _relu.Backward(dOutput, dOutput, reluOutput);
            reluOutput = default;
        }
        switch (variant)
        {
            case KernelVariant.PerElement:
                _backwardPerElement.Value(shape.Input.Length, dInput, dOutput, weights.Weight, shape);
                break;
            case KernelVariant.Tiled:
                LaunchTiled(TiledProduct.InputGradient(dInput, dOutput, weights, reluOutput, "tiled"), splits);
                break;
            case KernelVariant.Tf32:
                LaunchTf32(TiledProduct.InputGradient(dInput, dOutput, weights, reluOutput, "TF32"), splits);
                break;
            case KernelVariant.Cpu: BackwardInputCpu(dInput, dOutput, weights, reluOutput, reluBits); break;
            case KernelVariant.Winograd:
                LaunchWinograd(WinogradProduct.InputGradient(dInput, dOutput, weights, reluOutput));
                break;
            case KernelVariant.CpuWinograd:
                BackwardInputCpuWinograd(dInput, dOutput, weights, reluOutput, reluBits);
                break;
            default: throw KernelChoice.NotOffered("convolution", variant);
        }
    }

    /// <summary>Frees kernel 4's host scratch (the packed weights).</summary>
    public void Dispose() => _cpuPackedWeights.Dispose();
}
