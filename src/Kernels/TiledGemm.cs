using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The two operands of a matrix product <c>A[M, R] x B[R, N]</c>, read element by element. A kernel
/// supplies a struct that gathers them from wherever they really are (a Gram's features, a sum of
/// a matrix and its transpose, ...), so one tiled product serves several operations.
/// </summary>
public interface IGemmOperands
{
    /// <summary>Rows of A and of the product (M).</summary>
    int Rows { get; }

    /// <summary>Columns of B and of the product (N).</summary>
    int Columns { get; }

    /// <summary>The shared dimension (R).</summary>
    int Reduction { get; }

    /// <summary>A[row, r], for row &lt; Rows and r &lt; Reduction.</summary>
    float A(int row, int r);

    /// <summary>B[r, column], for r &lt; Reduction and column &lt; Columns.</summary>
    float B(int r, int column);

    /// <summary>
    /// Whether consecutive r of one column of B are consecutive in memory (B is a transposed
    /// row-major matrix, as F^T in a Gram product). The loader then reads B with r fastest, so that
    /// neighbouring threads still read neighbouring addresses.
    /// </summary>
    bool BContiguousInReduction { get; }
}

/// <summary>
/// The core of every tiled product (the convolution's and the Gram's): a 64 x 64 block of a matrix
/// product computed by a 16 x 16 group, each thread holding a 4 x 4 block of results in registers
/// (<see cref="MicroTile"/>).
/// </summary>
/// <remarks>
/// The reduction advances 8 rows at a time: the group loads an 8 x 64 slice of A and of B into
/// shared memory (2 values per thread each), waits at a barrier, and every thread does 8 x 4 x 4
/// multiply-adds from it. So each value loaded from global memory is used 64 times, and each
/// shared-memory read 4 times. The operations choose how many groups share one block's reduction
/// (a split) and what to do with the 4 x 4 results (bias, ReLU, scale).
/// </remarks>
public static class TiledGemm
{
    /// <summary>Threads per side of a group.</summary>
    public const int Threads = 16;

    /// <summary>Results per thread per side.</summary>
    public const int Micro = 4;

    /// <summary>Rows and columns of the block a group computes.</summary>
    public const int Tile = Threads * Micro;

    /// <summary>Reduction steps loaded into shared memory at a time.</summary>
    public const int Step = 8;

    /// <summary>
    /// Row stride of the shared tiles: 64 values padded to 68. <see cref="LoadStep"/> stores A with
    /// the reduction index fastest: lane l of a warp writes <c>tileA[kk*stride + row]</c> with
    /// kk = l % 8 and row = l / 8 (plus a multiple of 4). With a stride of 64 that is bank row mod 32,
    /// only 4 banks for 32 lanes (an 8-way conflict); with 68 it is bank (4 kk + row) mod 32, all 32
    /// different. (B loaded by reduction index, as for a Gram, is the same; B loaded by column is
    /// conflict-free either way.)
    /// </summary>
    public const int Stride = Tile + 4;

    /// <summary>
    /// Floats of the device scratch that split products write their partial results to (8 MB),
    /// one buffer owned by <see cref="KernelSet"/> and shared by the convolution and the Gram: the
    /// kernels run one after another on one stream, and each split's second pass has consumed the
    /// partials before the next product starts.
    /// </summary>
    public const int SplitScratchFloats = 1 << 21;

    /// <summary>Floats of shared memory each of the two tiles needs.</summary>
    public const int SharedFloats = Step * Stride;

    /// <summary>
    /// This thread's 4 x 4 block of <c>A[row0.., :] x B[:, column0..]</c>. Called by every thread of
    /// the group (it contains barriers). <paramref name="tileA"/> and <paramref name="tileB"/> are
    /// the kernel's shared-memory tiles of <see cref="SharedFloats"/> floats each.
    /// </summary>
    public static MicroTile Multiply<TOperands>(TOperands operands, ArrayView<float> tileA, ArrayView<float> tileB,
        int row0, int column0)
        where TOperands : struct, IGemmOperands
    {
        int thread = Group.IdxY * Threads + Group.IdxX;
        var a = tileA.SubView(Group.IdxY * Micro); // this thread's 4 rows of A: a[kk * Stride + i]
        var b = tileB.SubView(Group.IdxX * Micro); // its 4 columns of B: b[kk * Stride + j]
        var sum = default(MicroTile);
        for (int r0 = 0; r0 < operands.Reduction; r0 += Step)
        {
            LoadStep(operands, tileA, tileB, Stride, r0, row0, column0, thread, Threads * Threads);
            Group.Barrier();

            // How the SASS came out (docs/PERFORMANCE.md, "What NVIDIA's assembler says"):
            // - Read through sub-views at constant offsets, every address is a base register plus an
            //   immediate, and ptxas reads each 4 values with one 128-bit shared load (Stride * 4 bytes
            //   and the threads' offsets are multiples of 16). Indexed as tileA[kk * Stride + 4 IdxY + i],
            //   each value cost its own 64-bit address computation: 40% of a step's instructions were
            //   FFMA, 75-79% now.
            // - Two passes of 4 steps, not one of 8: unrolled into straight-line code, ILGPU's O2
            //   (Devices.Optimization) moved the shared loads below the closing barrier, where the
            //   next step's stores race them. Inside a loop they stay put (a backend test checks the
            //   PTX); one loop of 8 with a running kk cost the vector loads.
            for (int kk = 0; kk < Step; kk += 4)
            {
                var ak = a.SubView(kk * Stride);
                var bk = b.SubView(kk * Stride);
                sum.Add(ak, bk, 0);
                sum.Add(ak, bk, Stride);
                sum.Add(ak, bk, 2 * Stride);
                sum.Add(ak, bk, 3 * Stride);
            }
            Group.Barrier(); // the next step overwrites the tiles
        }
        return sum;
    }

    /// <summary>
    /// Loads reduction rows [r0, r0 + 8) of both operands into shared memory, zero outside the
    /// matrices: <c>tileA[kk*stride + row] = A(row0 + row, r0 + kk)</c> and
    /// <c>tileB[kk*stride + column] = B(r0 + kk, column0 + column)</c>, 512 values each, spread over
    /// the <paramref name="threads"/> threads of the group. A is loaded with r fastest, B with the
    /// column fastest (or r fastest when <see cref="IGemmOperands.BContiguousInReduction"/>): each
    /// matches its operand's layout in memory, so neighbouring threads read neighbouring addresses.
    /// <paramref name="stride"/> (at least 64) lets a caller pad the rows against shared-memory bank
    /// conflicts. The caller places the barrier after it.
    /// </summary>
    public static void LoadStep<TOperands>(TOperands operands, ArrayView<float> tileA, ArrayView<float> tileB,
        int stride, int r0, int row0, int column0, int thread, int threads)
        where TOperands : struct, IGemmOperands
    {
        for (int e = thread; e < Step * Tile; e += threads)
        {
            int kk = e % Step, row = e / Step;
            int r = r0 + kk, i = row0 + row;
            tileA[kk * stride + row] = r < operands.Reduction && i < operands.Rows ? operands.A(i, r) : 0f;
        }
        bool byReduction = operands.BContiguousInReduction;
        for (int e = thread; e < Step * Tile; e += threads)
        {
            int column = byReduction ? e / Step : e % Tile;
            int kk = byReduction ? e % Step : e / Tile;
            int r = r0 + kk, j = column0 + column;
            tileB[kk * stride + column] = r < operands.Reduction && j < operands.Columns ? operands.B(r, j) : 0f;
        }
    }

    /// <summary>The launch shape for a product of <paramref name="rows"/> x <paramref name="columns"/>.</summary>
    public static KernelConfig Config(int rows, int columns) =>
        new(new Index2D((columns + Tile - 1) / Tile, (rows + Tile - 1) / Tile), new Index2D(Threads, Threads));
}

/// <summary>A thread's 4 x 4 block of accumulators, kept in registers (ILGPU has no local arrays).</summary>
public struct MicroTile
{
    private float _c00, _c01, _c02, _c03, _c10, _c11, _c12, _c13, _c20, _c21, _c22, _c23, _c30, _c31, _c32, _c33;

    /// <summary>The outer product update c[i, j] += a[offset + i] * b[offset + j], i, j &lt; 4.</summary>
    public void Add(ArrayView<float> a, ArrayView<float> b, int offset) =>
        Add(a[offset], a[offset + 1], a[offset + 2], a[offset + 3],
            b[offset], b[offset + 1], b[offset + 2], b[offset + 3]);

    /// <summary>The outer product update: c[i, j] += a_i * b_j.</summary>
    public void Add(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
    {
        _c00 += a0 * b0; _c01 += a0 * b1; _c02 += a0 * b2; _c03 += a0 * b3;
        _c10 += a1 * b0; _c11 += a1 * b1; _c12 += a1 * b2; _c13 += a1 * b3;
        _c20 += a2 * b0; _c21 += a2 * b1; _c22 += a2 * b2; _c23 += a2 * b3;
        _c30 += a3 * b0; _c31 += a3 * b1; _c32 += a3 * b2; _c33 += a3 * b3;
    }

    /// <summary>
    /// c[i, j]. ILGPU 1.5.3 does not unroll loops, so in the callers' store loops i and j are not
    /// constants and this switch compiles to a runtime jump table (<c>brx.idx</c> in the PTX): one
    /// indirect branch per stored value, 16 per thread after the whole reduction.
    /// </summary>
    public readonly float Get(int i, int j) => (i * 4 + j) switch
    {
        0 => _c00, 1 => _c01, 2 => _c02, 3 => _c03,
        4 => _c10, 5 => _c11, 6 => _c12, 7 => _c13,
        8 => _c20, 9 => _c21, 10 => _c22, 11 => _c23,
        12 => _c30, 13 => _c31, 14 => _c32, _ => _c33,
    };
}
