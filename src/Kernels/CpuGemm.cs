using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The matrix product the CPU variants share (host code, AVX-512, every core):
/// <c>C[M, N] = A[M, R] x B[R, N]</c>, optionally plus a bias per row of C or plus C itself, and a
/// ReLU. A comes packed (<see cref="Strips"/> strips of <see cref="Rows"/> rows, each stored
/// reduction-major: the 8 values one reduction step needs are adjacent); B is gathered panel by
/// panel by the caller's <see cref="IPanelSource"/> (an implicit im2col for a convolution, a plain
/// copy of rows for the Gram backward), so it is never built whole.
/// </summary>
/// <remarks>
/// <para>Blocking (BLIS style): the columns of C are cut into panels of <see cref="Columns"/>; a
/// group of 8 panels of B is gathered <see cref="Depth"/> reduction rows at a time into a buffer of
/// the core's (8 x 192 x 32 floats = 192 KB, in L2), and every strip of A's block (192 x 8 floats
/// = 6 KB, in L1 once loaded) serves all 8 panels before the next strip is read. So A, which can
/// be 9 MB (conv5's weights), is read from memory once per 256 columns instead of once per 32.
/// The micro-kernel keeps an 8 x 32 block of C in 16 AVX-512 registers (8 rows x 2 vectors of 16
/// columns) and, per reduction step, loads 2 vectors of B, broadcasts 8 values of A and issues 16
/// FMAs: 10 loads per 16 FMAs, so the FMA units set the pace, and 16 independent accumulators hide
/// the FMA latency (4 cycles, 2 units). Vectorising along the columns (pixels,
/// in a convolution) lets each block be stored straight into the rows of a CHW tensor. 8 rows
/// divide every VGG channel count; 32 columns divide VGG's row widths at 512 x 512 down to
/// relu5_1, so panels rarely straddle image rows.</para>
/// <para>Work is split over the cores by groups of panels, and by groups of strips as well when a
/// small image has fewer than 4 groups per core. Each block of C is computed by one core in a fixed
/// order, so results do not depend on the number of threads.</para>
/// </remarks>
public static unsafe class CpuGemm
{
    /// <summary>Rows of C in the micro-kernel's register block (a strip of A).</summary>
    public const int Rows = 8;

    /// <summary>Columns of C in the micro-kernel's register block (two AVX-512 vectors).</summary>
    public const int Columns = 32;

    /// <summary>Reduction rows per gathered block of B (24 KB of floats with 32 columns: fits L1).</summary>
    public const int Depth = 192;

    /// <summary>What is applied to C after the last reduction block.</summary>
    public enum Epilogue
    {
        /// <summary>Nothing.</summary>
        None,

        /// <summary>max(C, 0).</summary>
        Relu,
    }

    /// <summary>Gathers panels of B.</summary>
    public interface IPanelSource
    {
        /// <summary>
        /// Writes rows [r0, r0 + rows) of B's columns [n0, n0 + <see cref="Columns"/>) to
        /// <paramref name="panel"/> (row-major, 32 floats a row), columns past <paramref name="columns"/> as 0.
        /// </summary>
        void Pack(float* panel, int r0, int rows, int n0, int columns);
    }

    /// <summary>Strips of <see cref="Rows"/> rows that cover m rows.</summary>
    public static int Strips(int m) => (m + Rows - 1) / Rows;

    /// <summary>The operands of one product.</summary>
    /// <param name="Output">C, row-major, M x N.</param>
    /// <param name="PackedA">A in strips: element (m, r) at <c>[((m/8)*R + r)*8 + m%8]</c>, rows past M zero.</param>
    /// <param name="Bias">M values C starts from (null: zeros), unless <paramref name="Accumulate"/>.</param>
    /// <param name="M">Rows of C.</param>
    /// <param name="N">Columns of C.</param>
    /// <param name="R">The reduction length.</param>
    /// <param name="Accumulate">C starts from its own values (C += A x B).</param>
    public readonly struct Product(float* Output, float* PackedA, float* Bias, int M, int N, int R, bool Accumulate =
        false)
    {
        public float* Output { get; } = Output;

        public float* PackedA { get; } = PackedA;

        public float* Bias { get; } = Bias;

        public int M { get; } = M;

        public int N { get; } = N;

        public int R { get; } = R;

        public bool Accumulate { get; } = Accumulate;
    }

    /// <summary>C = A x B (+ bias or + C), then the epilogue, on <paramref name="host"/>'s cores.</summary>
    public static void Run<TSource>(CpuHost host, Product product, TSource source, Epilogue epilogue)
        where TSource : struct, IPanelSource
    {
        int panels = (product.N + Columns - 1) / Columns;
        int groups = (panels + GroupPanels - 1) / GroupPanels;
        int strips = Strips(product.M);
        int wanted = 4 * host.Threads;
        int stripsPerItem = groups >= wanted ? strips : Math.Max(1, strips * groups / wanted);
        int stripGroups = (strips + stripsPerItem - 1) / stripsPerItem;
        var work = new Work<TSource>(product, source, epilogue, strips, stripsPerItem, stripGroups);
        host.For(groups * stripGroups, work.Run);
    }

    /// <summary>Panels gathered together (8 x 24 KB in L2), so that each block of A, once in L1, serves all of
    /// them.</summary>
    private const int GroupPanels = 8;

    /// <summary>The loop over work items: a group of panels x a group of strips.</summary>
    private sealed class Work<TSource>(Product p, TSource source, Epilogue epilogue, int strips, int stripsPerItem,
        int stripGroups)
        where TSource : struct, IPanelSource
    {
        [SkipLocalsInit]
        public void Run(int firstItem, int endItem)
        {
            float* panels = (float*)NativeMemory.AlignedAlloc((nuint)(GroupPanels * Depth * Columns * sizeof(float)),
                64);
            float* tile = stackalloc float[Rows * Columns]; // an edge block, padded to full size
            float* start = stackalloc float[Rows];
            try
            {
                for (int item = firstItem; item < endItem; item++) RunItem(item, panels, tile, start);
            }
            finally
            {
                NativeMemory.AlignedFree(panels);
            }
        }

        private void RunItem(int item, float* panels, float* tile, float* start)
        {
            bool relu = epilogue == Epilogue.Relu;
            int firstColumn = item / stripGroups * GroupPanels * Columns;
            int count = Math.Min(GroupPanels, (p.N - firstColumn + Columns - 1) / Columns);
            int firstStrip = item % stripGroups * stripsPerItem;
            int endStrip = Math.Min(strips, firstStrip + stripsPerItem);
            for (int r0 = 0; r0 < p.R; r0 += Depth)
            {
                int depth = Math.Min(Depth, p.R - r0);
                for (int q = 0; q < count; q++) source.Pack(panels + q * Depth * Columns, r0, depth,
                    firstColumn + q * Columns, p.N);
                bool init = r0 == 0 && !p.Accumulate, last = r0 + depth == p.R;
                for (int strip = firstStrip; strip < endStrip; strip++)
                {
                    int m0 = strip * Rows;
                    int height = Math.Min(Rows, p.M - m0);
                    for (int i = 0; i < Rows; i++) start[i] = p.Bias != null && i < height ? p.Bias[m0 + i] : 0f;
                    float* a = p.PackedA + ((long)strip * p.R + r0) * Rows;
                    for (int q = 0; q < count; q++)
                    {
                        int n0 = firstColumn + q * Columns;
                        int width = Math.Min(Columns, p.N - n0);
                        float* b = panels + q * Depth * Columns;
                        float* c = p.Output + (long)m0 * p.N + n0;
                        if (height == Rows && width == Columns)
                        {
                            MicroKernel(a, b, depth, c, p.N, init ? start : null, last && relu);
                            continue;
                        }
                        // Edge block: through a full-size tile, copying only the real rows and columns.
                        for (int i = 0; i < height && !init; i++)
                            new Span<float>(c + (long)i * p.N, width).CopyTo(new Span<float>(tile + i * Columns,
                                width));
                        MicroKernel(a, b, depth, tile, Columns, init ? start : null, last && relu);
                        for (int i = 0; i < height; i++)
                            new Span<float>(tile + i * Columns, width).CopyTo(new Span<float>(c + (long)i * p.N,
                                width));
                    }
                }
            }
        }
    }

    /// <summary>
    /// c[8, 32] (row stride ldc) = (init ? bias broadcast : c) + a[depth, 8]^T x b[depth, 32], then
    /// ReLU when <paramref name="relu"/>. <paramref name="init"/>: the 8 bias values to start from
    /// (first reduction block), or null to continue from c.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel(float* a, float* b, int depth, float* c, long ldc, float* init, bool relu)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (init != null)
        {
            c00 = c01 = Vector512.Create(init[0]);
            c10 = c11 = Vector512.Create(init[1]);
            c20 = c21 = Vector512.Create(init[2]);
            c30 = c31 = Vector512.Create(init[3]);
            c40 = c41 = Vector512.Create(init[4]);
            c50 = c51 = Vector512.Create(init[5]);
            c60 = c61 = Vector512.Create(init[6]);
            c70 = c71 = Vector512.Create(init[7]);
        }
        else
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }

        for (int r = 0; r < depth; r++, a += Rows, b += Columns)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var w = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(w, b0, c00); c01 = Vector512.FusedMultiplyAdd(w, b1, c01);
            w = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(w, b0, c10); c11 = Vector512.FusedMultiplyAdd(w, b1, c11);
            w = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(w, b0, c20); c21 = Vector512.FusedMultiplyAdd(w, b1, c21);
            w = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(w, b0, c30); c31 = Vector512.FusedMultiplyAdd(w, b1, c31);
            w = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(w, b0, c40); c41 = Vector512.FusedMultiplyAdd(w, b1, c41);
            w = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(w, b0, c50); c51 = Vector512.FusedMultiplyAdd(w, b1, c51);
            w = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(w, b0, c60); c61 = Vector512.FusedMultiplyAdd(w, b1, c61);
            w = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(w, b0, c70); c71 = Vector512.FusedMultiplyAdd(w, b1, c71);
        }

        if (relu)
        {
            var zero = Vector512<float>.Zero;
            c00 = Vector512.Max(c00, zero); c01 = Vector512.Max(c01, zero);
            c10 = Vector512.Max(c10, zero); c11 = Vector512.Max(c11, zero);
            c20 = Vector512.Max(c20, zero); c21 = Vector512.Max(c21, zero);
            c30 = Vector512.Max(c30, zero); c31 = Vector512.Max(c31, zero);
            c40 = Vector512.Max(c40, zero); c41 = Vector512.Max(c41, zero);
            c50 = Vector512.Max(c50, zero); c51 = Vector512.Max(c51, zero);
            c60 = Vector512.Max(c60, zero); c61 = Vector512.Max(c61, zero);
            c70 = Vector512.Max(c70, zero); c71 = Vector512.Max(c71, zero);
        }
        Vector512.Store(c00, c); Vector512.Store(c01, c + 16);
        Vector512.Store(c10, c + ldc); Vector512.Store(c11, c + ldc + 16);
        Vector512.Store(c20, c + 2 * ldc); Vector512.Store(c21, c + 2 * ldc + 16);
        Vector512.Store(c30, c + 3 * ldc); Vector512.Store(c31, c + 3 * ldc + 16);
        Vector512.Store(c40, c + 4 * ldc); Vector512.Store(c41, c + 4 * ldc + 16);
        Vector512.Store(c50, c + 5 * ldc); Vector512.Store(c51, c + 5 * ldc + 16);
        Vector512.Store(c60, c + 6 * ldc); Vector512.Store(c61, c + 6 * ldc + 16);
        Vector512.Store(c70, c + 7 * ldc); Vector512.Store(c71, c + 7 * ldc + 16);
    }
}
