using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the convolution, for GPUs with 256-thread groups: an implicit GEMM tiled in shared
/// memory with register blocking.
/// </summary>
/// <remarks>
/// <para>What it adds over kernel 1: tiles. A convolution is a matrix product in disguise: with
/// <c>R = C*KH*KW</c> and <c>P = OH*OW</c>, <c>out[K, P] = W[K, R] x X[R, P]</c>, where column p of X
/// holds the R input values window p reads ("im2col"). Every output reads a row of W and a column of
/// X, R values each, and kernel 1 fetches them all from global memory for every output. Here a group
/// of 16 x 16 threads computes a 64 x 64 block of out (64 output channels x 64 pixels) and walks R 8
/// rows at a time: the group loads an 8 x 64 slice of W and of X into shared memory, waits at a
/// barrier (a thread reads what others wrote), multiplies, and waits again before the next step
/// overwrites the slices. Each thread keeps a 4 x 4 sub-block of out in registers, so 8 shared-memory
/// reads feed 16 multiply-adds, and every value loaded from global memory is used 64 times instead of
/// once. The product itself is <see cref="TiledGemm.Multiply"/>, explained there. X is never built:
/// each tile of it is gathered from the input straight into shared memory ("implicit" GEMM,
/// <see cref="ConvOperands"/>), with zeros for padding.</para>
/// <para>64 x 64 suits VGG: K is 64..512 (a multiple of 64) and P is 1024..262144 at 512 x 512; the
/// first layer's R = 27 wastes part of one 8-row step, which is why R is padded with zeros.
/// Coalescing: consecutive threads load consecutive pixels of X (consecutive addresses within an input
/// row) and consecutive r of W (W is [K, R] row-major), and each thread stores 4 consecutive pixels of
/// out.</para>
/// <para>The input gradient is the same kernel: with stride 1, <c>dIn = conv(dOut, W')</c> where
/// <c>W'[c, k, ky, kx] = W[k, c, KH-1-ky, KW-1-kx]</c> and padding <c>KH-1-P</c> (<see cref="Conv2dShape.Transposed"/>;
/// <see cref="Prepare"/> makes W' once per layer). The ReLU that followed the convolution in the forward
/// pass is fused in: each dOut value is multiplied by <c>[y &gt; 0]</c> as it is loaded.</para>
/// <para>Per-layer choice: the tile is 64 x 64 for every layer, and what varies with the layer's
/// shape is how many groups share one tile's reduction (<see cref="Splits"/>): a deep layer of a
/// small image has too few tiles to occupy the GPU, so its reduction is split.</para>
/// </remarks>
public sealed partial class Conv2d
{
    /// <summary>Threads per tile side: a group is TileThreads x TileThreads.</summary>
    public const int TileThreads = 16;

    private const int Micro = TiledGemm.Micro;  // each thread computes Micro x Micro outputs
    private const int TileM = TiledGemm.Tile;   // 64 output channels per group
    private const int TileN = TiledGemm.Tile;   // 64 pixels per group
    private const int TileK = TiledGemm.Step;   // reduction rows per shared-memory step

    /// <summary>Flags of <see cref="TiledKernel"/> and <see cref="Tf32Kernel"/>.</summary>
    [Flags]
    public enum TiledFlags
    {
        /// <summary>Plain product.</summary>
        None = 0,

        /// <summary>Add bias[k] in the epilogue.</summary>
        Bias = 1,

        /// <summary>Apply ReLU in the epilogue.</summary>
        Relu = 2,

        /// <summary>Multiply each input value by [mask &gt; 0] as it is loaded (a fused ReLU backward).</summary>
        MaskInput = 4,
    }

    /// <summary>Floats of the scratch that holds a split product's partial outputs (8 MB).</summary>
    private const int SplitScratchFloats = TiledGemm.SplitScratchFloats;

    /// <summary>
    /// Fewest reduction rows a split covers (32 steps of 8): below this the extra pass costs more
    /// than it saves.
    /// </summary>
    private const int MinReductionPerSplit = 256;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, Conv2dShape, TiledFlags, int>? _tiled;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, Conv2dShape>? _transposeFlip;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape, TiledFlags, int>?
        _sumSplits;

    // ---------------------------------------------------------------- the shapes kernels 2 and 3 take

    /// <summary>
    /// The per-layer choice of how many slices of the reduction R = C*KH*KW the fast kernels split
    /// a convolution into. Each slice is a full set of 64 x 64 tiles over R/splits rows, written to a
    /// scratch buffer; a second pass adds the slices in a fixed order (deterministic) and applies
    /// bias and ReLU.
    /// <para>Why: a GPU needs a few groups per multiprocessor to hide memory latency. At 512 x 512
    /// conv5_1 (K = 512, P = 32 x 32) has only 8 x 16 = 128 tiles, and an H100 has 132
    /// multiprocessors: one group each, 8 warps where 32 or more would be resident. Smaller tiles
    /// would not help: a 32 x 32 tile with the same 4 x 4 per thread has a quarter of the threads, so
    /// the GPU would hold the same number of warps, only in smaller groups, each reusing a loaded
    /// value half as often. Splitting R keeps the 64 x 64 tile's reuse and multiplies the threads.
    /// Its price is writing and reading the partials once (2 MB per slice for conv5_1 at 512, against
    /// 4.8 GFLOP of work), so it is used only below about two groups per multiprocessor. At 512 x
    /// 512 on an H100 that is conv5_1 in both directions (3 ways) and conv4_1's input gradient (256
    /// channels x 64 x 64 = 256 tiles, 2 ways); every other product of VGG-19 has 512 tiles or more.
    /// Smaller images split more layers. A slice keeps at least 256 rows of R (32 steps), and the
    /// partials must fit the 8 MB scratch.</para>
    /// </summary>
    public static int Splits(Conv2dShape shape, int multiprocessors)
    {
        long tiles = (long)((shape.OutHeight * shape.OutWidth + TileN - 1) / TileN)
                     * ((shape.OutChannels + TileM - 1) / TileM);
        int reduction = shape.InChannels * shape.KernelHeight * shape.KernelWidth;
        long wanted = (2L * multiprocessors + tiles - 1) / tiles;
        int byReduction = Math.Max(1, reduction / MinReductionPerSplit);
        long byScratch = Math.Max(1, SplitScratchFloats / Math.Max(1L, shape.Output.Length));
        return (int)Math.Max(1, Math.Min(wanted, Math.Min(byReduction, byScratch)));
    }

    // ---------------------------------------------------------------- kernel 2

    /// <summary>
    /// Kernel 2 (GPU): the tiled implicit GEMM described on the class. Group (bx, by, z) computes
    /// output channels [64 by, 64 by + 64) x pixels [64 bx, 64 bx + 64) over slice z of the reduction
    /// (<see cref="Slice"/>). The input gradient is this kernel over W' (<see cref="TransposeFlipKernel"/>).
    /// </summary>
    public static void TiledKernel(ArrayView<float> output, ArrayView<float> input, ArrayView<float> mask,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape s, TiledFlags flags, int chunk)
    {
        // tileW[kk*68 + m] = W[m0 + m, r0 + kk] and tileX[kk*68 + n] = X[r0 + kk, n0 + n]: rows of 64
        // padded to TiledGemm.Stride = 68 against bank conflicts.
        var tileW = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        var tileX = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        int tx = Group.IdxX;                   // this thread's pixel columns: 4tx .. 4tx+3
        int ty = Group.IdxY;                   // this thread's channel rows:  4ty .. 4ty+3
        int n0 = Grid.IdxX * TileN;
        int m0 = Grid.IdxY * TileM;
        int pixels = s.OutHeight * s.OutWidth;
        var (start, count, target, epilogue) = Slice(output, s, flags, chunk);
        var operands = new ConvOperands(weight, input, mask, s, (flags & TiledFlags.MaskInput) != 0, start, count);
        var sum = TiledGemm.Multiply(operands, tileW, tileX, m0, n0);

        // Epilogue: bias and ReLU fused, 4 consecutive pixels per row stored by each thread.
        int kBase = m0 + ty * Micro, pBase = n0 + tx * Micro;
        for (int i = 0; i < Micro; i++)
        {
            int k = kBase + i;
            if (k >= s.OutChannels) break;
            float b = (epilogue & TiledFlags.Bias) != 0 ? bias[k] : 0f;
            for (int j = 0; j < Micro; j++)
            {
                int p = pBase + j;
                if (p >= pixels) break;
                float value = sum.Get(i, j) + b;
                if ((epilogue & TiledFlags.Relu) != 0) value = XMath.Max(value, 0f);
                target[k * pixels + p] = value;
            }
        }
    }

    /// <summary>
    /// The rows of R that group z of the grid (<c>Grid.IdxZ</c>) reduces over, and where it writes:
    /// the whole of R and the output itself with a single slice; else <paramref name="chunk"/> rows
    /// and slice z of the partials, with no epilogue (the second pass adds bias and ReLU).
    /// </summary>
    private static (int Start, int Count, ArrayView<float> Target, TiledFlags Epilogue) Slice(ArrayView<float> output,
        Conv2dShape s, TiledFlags flags, int chunk)
    {
        int reduction = s.InChannels * s.KernelHeight * s.KernelWidth;
        if (Grid.DimZ == 1) return (0, reduction, output, flags);
        int start = Grid.IdxZ * chunk;
        long length = s.Output.Length;
        var slice = output.SubView(Grid.IdxZ * length, length);
        return (start, XMath.Min(chunk, reduction - start), slice, TiledFlags.None);
    }

    /// <summary>
    /// The second pass of a split product, one thread per output element: the slices' partial sums
    /// added in slice order (so the result does not depend on scheduling), then bias and ReLU.
    /// </summary>
    public static void SumSplitsKernel(Index1D index, ArrayView<float> output, ArrayView<float> partials,
        ArrayView<float> bias, Conv2dShape s, TiledFlags flags, int slices)
    {
        long length = s.Output.Length;
        float value = 0f;
        for (int z = 0; z < slices; z++)
            value += partials[z * length + index];
        if ((flags & TiledFlags.Bias) != 0) value += bias[index / (s.OutHeight * s.OutWidth)];
        if ((flags & TiledFlags.Relu) != 0) value = XMath.Max(value, 0f);
        output[index] = value;
    }

    /// <summary>
    /// Kernel 2's weights for the input gradient, one thread per element of W':
    /// W'[c, k, ky, kx] = W[k, c, KH-1-ky, KW-1-kx] (<see cref="Prepare"/> runs it once per layer).
    /// </summary>
    public static void TransposeFlipKernel(Index1D index, ArrayView<float> transposed, ArrayView<float> weight,
        Conv2dShape s)
    {
        int kx = index % s.KernelWidth;
        int ky = index / s.KernelWidth % s.KernelHeight;
        int k = index / (s.KernelWidth * s.KernelHeight) % s.OutChannels;
        int c = index / (s.KernelWidth * s.KernelHeight * s.OutChannels);
        transposed[index] = weight[s.WeightIndex(k, c, s.KernelHeight - 1 - ky, s.KernelWidth - 1 - kx)];
    }

    /// <summary>CPU reference of <see cref="TransposeFlipKernel"/>.</summary>
    public static void TransposeFlipReference(double[] transposed, double[] weight, Conv2dShape s)
    {
        for (int k = 0; k < s.OutChannels; k++)
        for (int c = 0; c < s.InChannels; c++)
        for (int ky = 0; ky < s.KernelHeight; ky++)
        for (int kx = 0; kx < s.KernelWidth; kx++)
            transposed[((c * s.OutChannels + k) * s.KernelHeight + ky) * s.KernelWidth + kx] =
                weight[s.WeightIndex(k, c, s.KernelHeight - 1 - ky, s.KernelWidth - 1 - kx)];
    }

    // ---------------------------------------------------------------- its launch

    /// <summary>
    /// One product that kernel 2 or 3 computes: <c>Output = conv(Input, Weight)</c> over
    /// <see cref="Shape"/>, with the epilogue and input mask of <see cref="Flags"/> (the input masked by
    /// <c>Mask &gt; 0</c>). A layer's forward pass is one; its input gradient is another, over W'.
    /// </summary>
    private readonly record struct TiledProduct(ArrayView<float> Output, ArrayView<float> Input,
        ArrayView<float> Mask, ArrayView<float> Weight, ArrayView<float> Bias, Conv2dShape Shape, TiledFlags Flags)
    {
        /// <summary>The forward pass: output = conv(input, W) + bias, ReLU when <paramref name="fuseRelu"/>.</summary>
        public static TiledProduct Forward(ArrayView<float> output, ArrayView<float> input, Conv2dWeights weights,
            bool fuseRelu) =>
            new(output, input, input, weights.Weight, weights.Bias, weights.Shape,
                TiledFlags.Bias | (fuseRelu ? TiledFlags.Relu : TiledFlags.None));

        /// <summary>
        /// The input gradient, <c>dIn = conv(dOut, W')</c> with dOut masked by <paramref name="reluOutput"/>
        /// &gt; 0 as it is loaded (when given), after refusing a shape with no transposed form (stride 1,
        /// a square kernel, padding &lt;= KH-1).
        /// </summary>
        public static TiledProduct InputGradient(ArrayView<float> dInput, ArrayView<float> dOutput,
            Conv2dWeights weights, ArrayView<float> reluOutput, string kernel)
        {
            if (!weights.Shape.HasTransposedForm)
            {
                throw new ArgumentException($"The {kernel} input gradient needs stride 1, a square kernel and " +
                                            $"padding <= kernel-1: {weights.Shape}.");
            }
            bool masked = reluOutput.Length > 0;
            return new(dInput, dOutput, masked ? reluOutput : dOutput, weights.Transposed, weights.Transposed,
                weights.Shape.Transposed, masked ? TiledFlags.MaskInput : TiledFlags.None);
        }
    }

    /// <summary>Launches kernel 2 (16 x 16 threads a group) over the slices of the reduction.</summary>
    private void LaunchTiled(TiledProduct product, int splits)
    {
        RequireTiledGroups("tiled");
        _tiled ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, TiledFlags, int>(TiledKernel);
        LaunchSlices(_tiled, new Index3D(TileThreads, TileThreads, 1), SharedMemoryConfig.Empty, product, splits);
    }

    /// <summary>
    /// Launches <paramref name="kernel"/> (kernel 2 or 3, groups of <paramref name="group"/> threads) over
    /// <paramref name="splits"/> slices of the product's reduction R = C*KH*KW (0: <see cref="Splits"/>),
    /// each a multiple of 8 rows. With one slice the kernel writes the output itself; with more, each slice
    /// writes its raw partial sums to the split scratch and <see cref="SumSplitsKernel"/> finishes.
    /// </summary>
    private void LaunchSlices(Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, Conv2dShape, TiledFlags, int> kernel, Index3D group,
        SharedMemoryConfig sharedMemory, TiledProduct p, int splits)
    {
        var shape = p.Shape;
        int reduction = shape.InChannels * shape.KernelHeight * shape.KernelWidth;
        if (splits < 0)
            throw new ArgumentException($"The number of splits must be 0 (automatic) or positive, got {splits}.",
                nameof(splits));
        if (splits == 0) splits = Splits(shape, _accelerator.NumMultiprocessors);
        int chunk = (reduction + splits - 1) / splits;
        chunk = (chunk + TileK - 1) / TileK * TileK;
        int slices = (reduction + chunk - 1) / chunk; // the slices that are not empty
        if (slices > 1 && (long)slices * shape.Output.Length > _splitScratch.Length)
            throw new ArgumentException($"Cannot split the reduction of {shape} {splits} ways.", nameof(splits));

        int pixels = shape.OutHeight * shape.OutWidth;
        var grid = new Index3D((pixels + TileN - 1) / TileN, (shape.OutChannels + TileM - 1) / TileM, slices);
        var target = slices > 1 ? _splitScratch.SubView(0, (long)slices * shape.Output.Length) : p.Output;
        kernel(new KernelConfig(grid, group, sharedMemory), target, p.Input, p.Mask, p.Weight, p.Bias, shape, p.Flags,
            chunk);
        if (slices == 1) return;
        _sumSplits ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Conv2dShape, TiledFlags, int>(SumSplitsKernel);
        _sumSplits(shape.Output.Length, p.Output, target, p.Bias, shape, p.Flags, slices);
    }

    /// <summary>Writes W' (<see cref="TransposeFlipKernel"/>) for <see cref="Prepare"/>.</summary>
    private void TransposeFlip(ArrayView<float> transposed, ArrayView<float> weight, Conv2dShape shape)
    {
        _transposeFlip ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            Conv2dShape>(TransposeFlipKernel);
        _transposeFlip(shape.WeightLength, transposed, weight, shape);
    }

    /// <summary>Throws unless the accelerator runs 16 x 16 groups.</summary>
    private void RequireTiledGroups(string kernel)
    {
        if (!_description.FitsTiledGroups)
        {
            throw new NotSupportedException(
                $"The {kernel} convolution needs {TileThreads * TileThreads} threads per group; " +
                $"{_description.Name} allows {_description.MaxThreadsPerGroup}.");
        }
    }
}

/// <summary>
/// The operands of a convolution seen as a matrix product: A = W viewed as [K, R] (row-major, as
/// stored), B = the "im2col" matrix X[R, P], gathered from the input on the fly: column p holds the
/// R = C*KH*KW values window p reads, 0 where the window hangs over the padding. With the mask on,
/// each input value is zeroed where <c>mask &lt;= 0</c> (a fused ReLU backward). The product runs
/// over rows [start, start + count) of R: all of them, or one slice of a split product.
/// </summary>
public readonly struct ConvOperands(ArrayView<float> weight, ArrayView<float> input, ArrayView<float> mask,
    Conv2dShape shape, bool maskInput, int start, int count)
    : IGemmOperands
{
    private readonly ArrayView<float> _weight = weight; // (K, C*KH*KW)
    private readonly ArrayView<float> _input = input;   // (C, H, W)
    private readonly ArrayView<float> _mask = mask;     // (C, H, W), read only with maskInput
    private readonly Conv2dShape _s = shape;
    private readonly bool _maskInput = maskInput;
    private readonly int _start = start;
    private readonly int _count = count;

    /// <inheritdoc/>
    public int Rows => _s.OutChannels;

    /// <inheritdoc/>
    public int Columns => _s.OutHeight * _s.OutWidth;

    /// <inheritdoc/>
    public int Reduction => _count;

    /// <inheritdoc/>
    public float A(int row, int r) => _weight[row * (_s.InChannels * _s.KernelHeight * _s.KernelWidth) + _start + r];

    /// <inheritdoc/>
    public float B(int r, int column)
    {
        r += _start;
        int window = _s.KernelHeight * _s.KernelWidth;
        int c = r / window, rest = r - c * window;
        int ky = rest / _s.KernelWidth, kx = rest - ky * _s.KernelWidth;
        int oy = column / _s.OutWidth, ox = column - oy * _s.OutWidth;
        int y = oy * _s.Stride - _s.Padding + ky, x = ox * _s.Stride - _s.Padding + kx;
        if (y < 0 || y >= _s.Height || x < 0 || x >= _s.Width) return 0f;
        int i = (c * _s.Height + y) * _s.Width + x;
        return _maskInput && _mask[i] <= 0f ? 0f : _input[i];
    }

    /// <inheritdoc/>
    public bool BContiguousInReduction => false; // consecutive pixels are consecutive input columns
}
