using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 3 of the Gram matrix, for the CPU accelerator: both directions as host code over the
/// accelerator's buffers (SIMD at the processor's width, every core), blocked for the registers and the caches.
/// </summary>
/// <remarks>
/// <para>Forward, <c>G_ij = s sum_m F_im F_jm</c>: every entry is a dot product of two feature rows,
/// and the rows are contiguous, so nothing is packed. A 4 x 4 block of G (rows i..i+3 against
/// rows j..j+3) keeps 16 AVX-512 accumulators of 16 partial sums each; each step over 16
/// positions loads 8 vectors and issues 16 FMAs, and the lanes are added once per block and
/// chunk. Only blocks on and above the diagonal are computed (the symmetry halves the work), and
/// each is mirrored. The positions are taken in chunks whose slice of every row fits in L2
/// (256 KB for all C rows), so the rows j of a chunk are read from cache by every block; each core
/// takes ranges of blocks and walks every chunk for them. Sums carry over from chunk to chunk in
/// G and are scaled after the last. Each entry is computed by one core in a fixed order: the result does not depend on
/// the number of threads.</para>
/// <para>Backward, <c>dF = s (dG + dG^T) F</c>, is a product <c>[C, C] x [C, M]</c>: the symmetric
/// factor is packed into strips once per call and the rows of F are the panels of B, through
/// <see cref="CpuGemm"/> (accumulating into dF when asked).</para>
/// </remarks>
public sealed partial class Gram
{
    // The register block of G: 4 x 4 entries (16 accumulators) with 32 vector registers, 3 x 3 (9) with 16.
    private const int MaxBlock = 4;
    private static readonly int Block = CpuVector.Registers == 32 ? 4 : 3;

    private readonly CpuHost.Scratch _cpuPackedFactor = new();

    /// <summary>Kernel 3's forward: gram = scale * F F^T; writes gram.</summary>
    private unsafe void ForwardCpu(ArrayView<float> gram, ArrayView<float> features, GramShape shape, float scale)
    {
        _host.Begin("Gram matrix");
        float* g = CpuHost.Pointer(gram), f = CpuHost.Pointer(features);
        if (_choice.GramAsProduct(shape))
        {
            ForwardCpuProduct(g, f, shape, scale);
            return;
        }
        int c = shape.Channels, m = shape.Positions;
        int blocks = (c + Block - 1) / Block;
        int pairs = blocks * (blocks + 1) / 2;
        int chunk = Math.Max(256, 65536 / c / 16 * 16); // floats of each row per chunk: C rows x chunk = 256 KB
        // One parallel pass: each core takes ranges of blocks and walks all the chunks for them,
        // so the rows of a chunk stay in its cache across its blocks.
        _host.For(pairs, (start, end) =>
        {
            for (int m0 = 0; m0 < m; m0 += chunk)
            {
                int length = Math.Min(chunk, m - m0);
                bool first = m0 == 0, last = m0 + length == m;
                var (bi, bj) = Pair(start, blocks);
                for (int pair = start; pair < end; pair++)
                {
                    GramBlock(g, f, c, m, bi * Block, bj * Block, m0, length, first, last ? scale : 1f);
                    if (++bj == blocks) bj = ++bi;
                }
            }
        });
    }

    /// <summary>
    /// Kernel 3's forward for short rows (<see cref="KernelChoice.GramAsProduct"/>): G = (sF) F^T as one matrix
    /// product, A = sF packed in strips (C rows, M positions deep), B's panels the columns of F^T gathered from
    /// F's rows. Both triangles are computed: twice the multiply-adds of the blocks, in a register tile that is
    /// busy instead of 16 horizontal sums per 4 x 4 block.
    /// </summary>
    private unsafe void ForwardCpuProduct(float* g, float* f, GramShape shape, float scale)
    {
        int c = shape.Channels, m = shape.Positions;
        int strips = CpuGemm.Strips(c);
        float* packed = _cpuPackedFactor.Get(CpuGemm.PackedLength(c, m));
        _host.For(strips, (first, end) =>
        {
            for (int strip = first; strip < end; strip++)
            for (int r = 0; r < m; r++)
            for (int i = 0; i < CpuGemm.Rows; i++)
            {
                int row = strip * CpuGemm.Rows + i;
                packed[((long)strip * m + r) * CpuGemm.Rows + i] = row < c ? scale * f[(long)row * m + r] : 0f;
            }
        });
        var product = new CpuGemm.Product(g, packed, null, c, c, m);
        CpuGemm.Run(_host, product, new FeatureColumns(f, m), CpuGemm.Epilogue.None);
    }

    /// <summary>B of the short-row forward: F^T, B[r][j] = F[j][r], gathered a panel of channels at a time.</summary>
    private readonly unsafe struct FeatureColumns(float* features, int positions) : CpuGemm.IPanelSource
    {
        public void Pack(float* panel, int r0, int rows, int n0, int columns)
        {
            int width = Math.Min(CpuGemm.Columns, columns - n0);
            for (int r = 0; r < rows; r++)
            {
                float* destination = panel + r * CpuGemm.Columns;
                float* source = features + (long)n0 * positions + r0 + r;
                int e = 0;
                for (; e < width; e++) destination[e] = source[(long)e * positions];
                for (; e < CpuGemm.Columns; e++) destination[e] = 0f;
            }
        }
    }

    /// <summary>Kernel 3's backward: dFeatures (+)= scale * (dGram + dGram^T) F.</summary>
    private unsafe void BackwardCpu(ArrayView<float> dFeatures, ArrayView<float> dGram, ArrayView<float> features,
        GramShape shape, float scale, bool accumulate)
    {
        _host.Begin("Gram matrix");
        int c = shape.Channels;
        int strips = CpuGemm.Strips(c);
        float* packed = _cpuPackedFactor.Get((long)strips * CpuGemm.Rows * c);
        float* dg = CpuHost.Pointer(dGram);
        // The factor packed strip by strip on every core (C^2 values: 262,144 at relu5_1, worth the cores).
        _host.For(strips, (first, end) =>
        {
            for (int strip = first; strip < end; strip++)
            for (int r = 0; r < c; r++)
            for (int i = 0; i < CpuGemm.Rows; i++)
            {
                int row = strip * CpuGemm.Rows + i;
                float factor = row < c ? scale * (dg[row * c + r] + dg[r * c + row]) : 0f;
                packed[((long)strip * c + r) * CpuGemm.Rows + i] = factor;
            }
        });
        var product = new CpuGemm.Product(CpuHost.Pointer(dFeatures), packed, null, c, shape.Positions, c, accumulate);
        CpuGemm.Run(_host, product, new FeatureRows(CpuHost.Pointer(features), shape.Positions), CpuGemm.Epilogue.None);
    }

    /// <summary>The (bi, bj) block pair, bj &gt;= bi, at a position of the row-by-row enumeration.</summary>
    private static (int Bi, int Bj) Pair(int index, int blocks)
    {
        int bi = 0;
        while (index >= blocks - bi)
        {
            index -= blocks - bi;
            bi++;
        }
        return (bi, bi + index);
    }

    /// <summary>
    /// Adds sum over positions [m0, m0+length) of F_im F_jm for the Block x Block block at (i0, j0) to G
    /// (or writes it, on the first chunk), times <paramref name="scale"/> (1 until the last chunk),
    /// and mirrors it. Rows past C read row C-1 and are not stored.
    /// </summary>
    private static unsafe void GramBlock(float* g, float* f, int c, int m, int i0, int j0, int m0, int length,
        bool first, float scale)
    {
        float** rows = stackalloc float*[2 * MaxBlock];
        for (int i = 0; i < Block; i++)
        {
            rows[i] = f + (long)Math.Min(i0 + i, c - 1) * m + m0;
            rows[Block + i] = f + (long)Math.Min(j0 + i, c - 1) * m + m0;
        }
        float* sums = stackalloc float[MaxBlock * MaxBlock];
        int p = (CpuVector.Bits, Block) switch
        {
            (512, 4) => Sums4<Vector512<float>>(rows, length, sums),
            (512, _) => Sums3<Vector512<float>>(rows, length, sums),
            (256, 4) => Sums4<Vector256<float>>(rows, length, sums),
            (256, _) => Sums3<Vector256<float>>(rows, length, sums),
            (_, 4) => Sums4<Vector128<float>>(rows, length, sums),
            _ => Sums3<Vector128<float>>(rows, length, sums),
        };
        for (int i = 0; i < Block; i++)
        for (int j = 0; j < Block; j++)
        {
            if (i0 + i >= c || j0 + j >= c || (i0 == j0 && j < i)) continue; // a diagonal block mirrors itself
            float sum = sums[i * Block + j];
            for (int q = p; q < length; q++) sum += rows[i][q] * rows[Block + j][q];
            long ij = (long)(i0 + i) * c + j0 + j, ji = (long)(j0 + j) * c + i0 + i;
            float value = ((first ? 0f : g[ij]) + sum) * scale;
            g[ij] = value;
            g[ji] = value;
        }
    }

    /// <summary>
    /// The 4 x 4 register block (32 vector registers): rows[0..3] against rows[4..7] over whole vectors of the
    /// first <paramref name="length"/> positions, 16 accumulators, 8 loads per 16 multiply-adds; writes the 16 sums
    /// (row-major) and returns the positions it covered.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int Sums4<TVector>(float** rows, int length, float* sums)
        where TVector : struct
    {
        float* a0 = rows[0], a1 = rows[1], a2 = rows[2], a3 = rows[3];
        float* b0 = rows[4], b1 = rows[5], b2 = rows[6], b3 = rows[7];
        var s00 = Simd<TVector>.Zero; var s01 = s00; var s02 = s00; var s03 = s00;
        var s10 = s00; var s11 = s00; var s12 = s00; var s13 = s00;
        var s20 = s00; var s21 = s00; var s22 = s00; var s23 = s00;
        var s30 = s00; var s31 = s00; var s32 = s00; var s33 = s00;
        int p = 0;
        for (int n = Simd<TVector>.Count; p + n <= length; p += n)
        {
            var x0 = Simd<TVector>.Load(a0 + p); var x1 = Simd<TVector>.Load(a1 + p);
            var x2 = Simd<TVector>.Load(a2 + p); var x3 = Simd<TVector>.Load(a3 + p);
            var y = Simd<TVector>.Load(b0 + p);
            s00 = Simd<TVector>.MultiplyAdd(x0, y, s00); s10 = Simd<TVector>.MultiplyAdd(x1, y, s10);
            s20 = Simd<TVector>.MultiplyAdd(x2, y, s20); s30 = Simd<TVector>.MultiplyAdd(x3, y, s30);
            y = Simd<TVector>.Load(b1 + p);
            s01 = Simd<TVector>.MultiplyAdd(x0, y, s01); s11 = Simd<TVector>.MultiplyAdd(x1, y, s11);
            s21 = Simd<TVector>.MultiplyAdd(x2, y, s21); s31 = Simd<TVector>.MultiplyAdd(x3, y, s31);
            y = Simd<TVector>.Load(b2 + p);
            s02 = Simd<TVector>.MultiplyAdd(x0, y, s02); s12 = Simd<TVector>.MultiplyAdd(x1, y, s12);
            s22 = Simd<TVector>.MultiplyAdd(x2, y, s22); s32 = Simd<TVector>.MultiplyAdd(x3, y, s32);
            y = Simd<TVector>.Load(b3 + p);
            s03 = Simd<TVector>.MultiplyAdd(x0, y, s03); s13 = Simd<TVector>.MultiplyAdd(x1, y, s13);
            s23 = Simd<TVector>.MultiplyAdd(x2, y, s23); s33 = Simd<TVector>.MultiplyAdd(x3, y, s33);
        }
        sums[0] = Simd<TVector>.Sum(s00); sums[1] = Simd<TVector>.Sum(s01);
        sums[2] = Simd<TVector>.Sum(s02); sums[3] = Simd<TVector>.Sum(s03);
        sums[4] = Simd<TVector>.Sum(s10); sums[5] = Simd<TVector>.Sum(s11);
        sums[6] = Simd<TVector>.Sum(s12); sums[7] = Simd<TVector>.Sum(s13);
        sums[8] = Simd<TVector>.Sum(s20); sums[9] = Simd<TVector>.Sum(s21);
        sums[10] = Simd<TVector>.Sum(s22); sums[11] = Simd<TVector>.Sum(s23);
        sums[12] = Simd<TVector>.Sum(s30); sums[13] = Simd<TVector>.Sum(s31);
        sums[14] = Simd<TVector>.Sum(s32); sums[15] = Simd<TVector>.Sum(s33);
        return p;
    }

    /// <summary>
    /// The 3 x 3 register block (16 vector registers: AVX2, SSE): 9 accumulators, 3 rows of A and one of B
    /// loaded, 6 loads per 9 multiply-adds; as <see cref="Sums4{TVector}"/> otherwise (rows[0..2] against
    /// rows[3..5], 9 sums).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int Sums3<TVector>(float** rows, int length, float* sums)
        where TVector : struct
    {
        float* a0 = rows[0], a1 = rows[1], a2 = rows[2];
        float* b0 = rows[3], b1 = rows[4], b2 = rows[5];
        var s00 = Simd<TVector>.Zero; var s01 = s00; var s02 = s00;
        var s10 = s00; var s11 = s00; var s12 = s00;
        var s20 = s00; var s21 = s00; var s22 = s00;
        int p = 0;
        for (int n = Simd<TVector>.Count; p + n <= length; p += n)
        {
            var x0 = Simd<TVector>.Load(a0 + p);
            var x1 = Simd<TVector>.Load(a1 + p);
            var x2 = Simd<TVector>.Load(a2 + p);
            var y = Simd<TVector>.Load(b0 + p);
            s00 = Simd<TVector>.MultiplyAdd(x0, y, s00); s10 = Simd<TVector>.MultiplyAdd(x1, y, s10);
            s20 = Simd<TVector>.MultiplyAdd(x2, y, s20);
            y = Simd<TVector>.Load(b1 + p);
            s01 = Simd<TVector>.MultiplyAdd(x0, y, s01); s11 = Simd<TVector>.MultiplyAdd(x1, y, s11);
            s21 = Simd<TVector>.MultiplyAdd(x2, y, s21);
            y = Simd<TVector>.Load(b2 + p);
            s02 = Simd<TVector>.MultiplyAdd(x0, y, s02); s12 = Simd<TVector>.MultiplyAdd(x1, y, s12);
            s22 = Simd<TVector>.MultiplyAdd(x2, y, s22);
        }
        sums[0] = Simd<TVector>.Sum(s00); sums[1] = Simd<TVector>.Sum(s01); sums[2] = Simd<TVector>.Sum(s02);
        sums[3] = Simd<TVector>.Sum(s10); sums[4] = Simd<TVector>.Sum(s11); sums[5] = Simd<TVector>.Sum(s12);
        sums[6] = Simd<TVector>.Sum(s20); sums[7] = Simd<TVector>.Sum(s21); sums[8] = Simd<TVector>.Sum(s22);
        return p;
    }

    /// <summary>B of the backward product: the rows of F, copied 32 positions at a time.</summary>
    private readonly unsafe struct FeatureRows(float* features, int positions) : CpuGemm.IPanelSource
    {
        public void Pack(float* panel, int r0, int rows, int n0, int columns)
        {
            int width = Math.Min(CpuGemm.Columns, columns - n0);
            for (int r = 0; r < rows; r++)
            {
                float* source = features + (long)(r0 + r) * positions + n0;
                float* destination = panel + r * CpuGemm.Columns;
                if (width == CpuGemm.Columns)
                {
                    Buffer.MemoryCopy(source, destination, CpuGemm.Columns * sizeof(float),
                        CpuGemm.Columns * sizeof(float));
                    continue;
                }
                for (int e = 0; e < CpuGemm.Columns; e++) destination[e] = e < width ? source[e] : 0f;
            }
        }
    }
}
