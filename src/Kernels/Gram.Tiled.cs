using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Operands of the Gram product <c>F F^T</c> over the positions [start, start + count):
/// A = F[:, window] (C x count), B = its transpose.
/// </summary>
public readonly struct GramOperands(ArrayView<float> features, GramShape shape, int start, int count) : IGemmOperands
{
    private readonly ArrayView<float> _features = features; // (C, M)
    private readonly GramShape _shape = shape;
    private readonly int _start = start;
    private readonly int _count = count;

    /// <inheritdoc/>
    public int Rows => _shape.Channels;

    /// <inheritdoc/>
    public int Columns => _shape.Channels;

    /// <inheritdoc/>
    public int Reduction => _count;

    /// <inheritdoc/>
    public float A(int row, int r) => _features[row * _shape.Positions + _start + r];

    /// <inheritdoc/>
    public float B(int r, int column) => _features[column * _shape.Positions + _start + r];

    /// <inheritdoc/>
    public bool BContiguousInReduction => true; // F^T: a column of B is a row of F
}

/// <summary>
/// Operands of the Gram backward <c>(dG + dG^T) F</c>: A = dG + dG^T (C x C, summed as it is loaded), B = F (C x M).
/// </summary>
public readonly struct GramBackwardOperands(ArrayView<float> dGram, ArrayView<float> features,
    GramShape shape) : IGemmOperands
{
    private readonly ArrayView<float> _dGram = dGram;       // (C, C)
    private readonly ArrayView<float> _features = features; // (C, M)
    private readonly GramShape _shape = shape;

    /// <inheritdoc/>
    public int Rows => _shape.Channels;

    /// <inheritdoc/>
    public int Columns => _shape.Positions;

    /// <inheritdoc/>
    public int Reduction => _shape.Channels;

    /// <inheritdoc/>
    public float A(int row, int r) => _dGram[row * _shape.Channels + r] + _dGram[r * _shape.Channels + row];

    /// <inheritdoc/>
    public float B(int r, int column) => _features[r * _shape.Positions + column];

    /// <inheritdoc/>
    public bool BContiguousInReduction => false;
}

/// <summary>
/// Kernel 2 of the Gram matrix, for GPUs with 256-thread groups: what it adds over kernel 1 is the
/// tiled matrix product (<see cref="TiledGemm.Multiply"/>, the convolution's kernel 2 too), which uses
/// each value it loads 64 times; both directions are one such product.
/// </summary>
public sealed partial class Gram
{
    /// <summary>Floats of the shared split scratch the partial Gram matrices may use (4 MB of its 8).</summary>
    private const int SplitScratchFloats = 1 << 20;

    /// <summary>Fewest positions a split covers: below this the extra pass costs more than it saves.</summary>
    private const int MinPositionsPerSplit = 512;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, GramShape, float, int>? _forwardTiled;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int>? _sumSplits;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GramShape,
        float, int>? _backwardTiled;

    /// <summary>
    /// How many slices of the positions the tiled forward splits the product into. The symmetric
    /// product has only C/64 (C/64 + 1) / 2 blocks: 1 for relu1_1's 64 channels, which would leave all
    /// but one multiprocessor idle while it walks 262144 positions. Splitting the positions gives
    /// every multiprocessor about two blocks (each split's partial Gram goes to a scratch buffer and a
    /// second pass adds them in a fixed order, so the result stays deterministic), as long as a split
    /// keeps at least 512 positions and the partials fit the scratch. Shorter float sums are also
    /// more accurate.
    /// </summary>
    public static int Splits(GramShape shape, int multiprocessors)
    {
        int blocks = (shape.Channels + TiledGemm.Tile - 1) / TiledGemm.Tile;
        int upper = blocks * (blocks + 1) / 2;
        int wanted = (2 * multiprocessors + upper - 1) / upper;
        int byPositions = Math.Max(1, shape.Positions / MinPositionsPerSplit);
        int byScratch = Math.Max(1, SplitScratchFloats / shape.GramLength);
        return Math.Max(1, Math.Min(wanted, Math.Min(byPositions, byScratch)));
    }

    // ---------------------------------------------------------------- kernel 2

    /// <summary>
    /// Kernel 2's forward: G = s F F^T as a tiled product, over the positions of split z
    /// (grid Z), into slice z of <paramref name="output"/> (the Gram itself when there is one split).
    /// G is symmetric, so only the blocks on and above the diagonal are computed (a group below it
    /// returns at once, before any barrier) and each off-diagonal block is also stored transposed.
    /// </summary>
    public static void ForwardTiledKernel(ArrayView<float> output, ArrayView<float> features,
        GramShape s, float scale, int chunk)
    {
        if (Grid.IdxX < Grid.IdxY) return; // the whole group leaves together
        var tileA = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        var tileB = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        int i0 = Grid.IdxY * TiledGemm.Tile, j0 = Grid.IdxX * TiledGemm.Tile;
        int start = Grid.IdxZ * chunk;
        int count = XMath.Min(chunk, s.Positions - start);
        var sum = TiledGemm.Multiply(new GramOperands(features, s, start, count), tileA, tileB, i0, j0);

        int slice = Grid.IdxZ * s.GramLength;
        bool diagonal = Grid.IdxX == Grid.IdxY;
        for (int a = 0; a < TiledGemm.Micro; a++)
        {
            int i = i0 + Group.IdxY * TiledGemm.Micro + a;
            if (i >= s.Channels) break;
            for (int b = 0; b < TiledGemm.Micro; b++)
            {
                int j = j0 + Group.IdxX * TiledGemm.Micro + b;
                if (j >= s.Channels) break;
                float value = scale * sum.Get(a, b);
                output[slice + i * s.Channels + j] = value;
                if (!diagonal) output[slice + j * s.Channels + i] = value;
            }
        }
    }

    /// <summary>
    /// The second pass of a split forward: gram[e] = sum over z of partials[z*C*C + e], in order of z.
    /// </summary>
    public static void SumSplitsKernel(Index1D e, ArrayView<float> gram, ArrayView<float> partials, int splits)
    {
        int length = (int)gram.Length;
        float sum = 0f;
        for (int z = 0; z < splits; z++)
            sum += partials[z * length + e];
        gram[e] = sum;
    }

    /// <summary>Kernel 2's backward: dF (+)= s (dG + dG^T) F as one tiled product.</summary>
    public static void BackwardTiledKernel(ArrayView<float> dFeatures, ArrayView<float> dGram,
        ArrayView<float> features, GramShape s, float scale, int accumulate)
    {
        var tileA = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        var tileB = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        int i0 = Grid.IdxY * TiledGemm.Tile, m0 = Grid.IdxX * TiledGemm.Tile;
        var sum = TiledGemm.Multiply(new GramBackwardOperands(dGram, features, s), tileA, tileB, i0, m0);

        for (int a = 0; a < TiledGemm.Micro; a++)
        {
            int i = i0 + Group.IdxY * TiledGemm.Micro + a;
            if (i >= s.Channels) break;
            for (int b = 0; b < TiledGemm.Micro; b++)
            {
                int m = m0 + Group.IdxX * TiledGemm.Micro + b;
                if (m >= s.Positions) break;
                int index = i * s.Positions + m;
                float gradient = scale * sum.Get(a, b);
                dFeatures[index] = accumulate != 0 ? dFeatures[index] + gradient : gradient;
            }
        }
    }

    // ---------------------------------------------------------------- its launch

    /// <summary>
    /// Kernel 2's forward over <paramref name="splits"/> slices of the positions (0: <see cref="Splits"/>;
    /// tests choose their own to cover the split path on any accelerator).
    /// </summary>
    private void ForwardTiled(ArrayView<float> gram, ArrayView<float> features, GramShape shape, float scale,
        int splits)
    {
        RequireTiled();
        if (splits == 0) splits = Splits(shape, _accelerator.NumMultiprocessors);
        bool fits = splits == 1 || (long)splits * shape.GramLength <= SplitScratchFloats;
        if (splits < 1 || splits > shape.Positions || !fits)
            throw new ArgumentException($"Cannot split a Gram of {shape.Channels}x{shape.Positions} {splits} ways.",
                nameof(splits));
        _forwardTiled ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>, GramShape, float,
            int>(ForwardTiledKernel);
        int chunk = (shape.Positions + splits - 1) / splits;
        splits = (shape.Positions + chunk - 1) / chunk; // the slices that are not empty
        int blocks = (shape.Channels + TiledGemm.Tile - 1) / TiledGemm.Tile;
        var config = new KernelConfig(new Index3D(blocks, blocks, splits),
            new Index3D(TiledGemm.Threads, TiledGemm.Threads, 1));
        if (splits == 1)
        {
            _forwardTiled(config, gram, features, shape, scale, chunk);
            return;
        }
        var partials = _splitScratch.SubView(0, (long)splits * shape.GramLength);
        _forwardTiled(config, partials, features, shape, scale, chunk);
        _sumSplits ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, int>(SumSplitsKernel);
        _sumSplits(shape.GramLength, gram, partials, splits);
    }

    /// <summary>Kernel 2's backward: one tiled product.</summary>
    private void BackwardTiled(ArrayView<float> dFeatures, ArrayView<float> dGram, ArrayView<float> features,
        GramShape shape, float scale, bool accumulate)
    {
        RequireTiled();
        _backwardTiled ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            GramShape, float, int>(BackwardTiledKernel);
        _backwardTiled(TiledGemm.Config(shape.Channels, shape.Positions), dFeatures, dGram, features, shape,
            scale, accumulate ? 1 : 0);
    }

    /// <summary>Throws unless the accelerator runs 16 x 16 groups.</summary>
    private void RequireTiled()
    {
        if (!_description.FitsTiledGroups)
        {
            throw new NotSupportedException(
                $"The tiled Gram kernels need {AcceleratorDescription.TiledGroupThreads} threads per group; " +
                $"{_description.Name} allows {_description.MaxThreadsPerGroup}.");
        }
    }
}
