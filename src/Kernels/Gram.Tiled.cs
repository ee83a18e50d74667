using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>Operands of the Gram product <c>F F^T</c>: A = F (C x M), B = F^T (M x C).</summary>
public readonly struct GramOperands(ArrayView<float> features, GramShape shape) : IGemmOperands
{
    private readonly ArrayView<float> _features = features; // (C, M)
    private readonly GramShape _shape = shape;

    /// <inheritdoc/>
    public int Rows => _shape.Channels;

    /// <inheritdoc/>
    public int Columns => _shape.Channels;

    /// <inheritdoc/>
    public int Reduction => _shape.Positions;

    /// <inheritdoc/>
    public float A(int row, int r) => _features[row * _shape.Positions + r];

    /// <inheritdoc/>
    public float B(int r, int column) => _features[column * _shape.Positions + r];

    /// <inheritdoc/>
    public bool BContiguousInReduction => true; // F^T: a column of B is a row of F
}

/// <summary>Operands of the Gram backward <c>(dG + dG^T) F</c>: A = dG + dG^T (C x C, summed as it is loaded), B = F (C x M).</summary>
public readonly struct GramBackwardOperands(ArrayView<float> dGram, ArrayView<float> features, GramShape shape) : IGemmOperands
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

/// <summary>The tiled GPU kernels of the Gram matrix: both directions are one tiled matrix product.</summary>
public sealed partial class Gram
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, GramShape, float>? _forwardTiled;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GramShape, float, int>? _backwardTiled;

    private void ForwardTiled(ArrayView<float> gram, ArrayView<float> features, GramShape shape, float scale)
    {
        RequireTiled();
        _forwardTiled ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, GramShape, float>(ForwardTiledKernel);
        _forwardTiled(TiledGemm.Config(shape.Channels, shape.Channels), gram, features, shape, scale);
    }

    private void BackwardTiled(ArrayView<float> dFeatures, ArrayView<float> dGram, ArrayView<float> features, GramShape shape,
        float scale, bool accumulate)
    {
        RequireTiled();
        _backwardTiled ??= _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GramShape, float, int>(BackwardTiledKernel);
        _backwardTiled(TiledGemm.Config(shape.Channels, shape.Positions), dFeatures, dGram, features, shape, scale, accumulate ? 1 : 0);
    }

    private void RequireTiled()
    {
        if (!Conv2d.SupportsTiled(_accelerator))
            throw new NotSupportedException($"The tiled Gram kernels need {TiledGemm.Threads * TiledGemm.Threads} threads per group; " +
                                            $"{_accelerator.Name.Trim()} allows {_accelerator.MaxNumThreadsPerGroup}.");
    }

    /// <summary>
    /// Forward, kernel 3 (GPU): G = s F F^T as a tiled product. G is symmetric, so only the blocks
    /// on and above the diagonal are computed (a group below it returns at once, before any
    /// barrier) and each off-diagonal block is also stored transposed: half the work.
    /// </summary>
    public static void ForwardTiledKernel(ArrayView<float> gram, ArrayView<float> features, GramShape s, float scale)
    {
        if (Grid.IdxX < Grid.IdxY) return; // the whole group leaves together
        var tileA = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        var tileB = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        int i0 = Grid.IdxY * TiledGemm.Tile, j0 = Grid.IdxX * TiledGemm.Tile;
        var sum = TiledGemm.Multiply(new GramOperands(features, s), tileA, tileB, i0, j0);

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
                gram[i * s.Channels + j] = value;
                if (!diagonal) gram[j * s.Channels + i] = value;
            }
        }
    }

    /// <summary>Backward, kernel 3 (GPU): dF (+)= s (dG + dG^T) F as one tiled product.</summary>
    public static void BackwardTiledKernel(ArrayView<float> dFeatures, ArrayView<float> dGram, ArrayView<float> features,
        GramShape s, float scale, int accumulate)
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
}
