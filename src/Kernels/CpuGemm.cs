using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The matrix product the CPU variants share (host code, SIMD at the processor's width, every core):
/// <c>C[M, N] = A[M, R] x B[R, N]</c>, optionally plus a bias per row of C or plus C itself, and a
/// ReLU. A comes packed (<see cref="Strips"/> strips of <see cref="Rows"/> rows, each stored
/// reduction-major: the values one reduction step needs are adjacent); B is gathered panel by
/// panel by the caller's <see cref="IPanelSource"/> (an implicit im2col for a convolution, a plain
/// copy of rows for the Gram backward), so it is never built whole.
/// </summary>
/// <remarks>
/// <para>The register tile (the micro-kernel) is shaped for the vector registers the processor has
/// (<see cref="CpuVector"/>): per reduction step it loads 2 vectors of B, broadcasts one value of A per
/// row and issues 2 fused multiply-adds per row, into 2 x Rows accumulators that must all stay in
/// registers while hiding the FMA latency (4 cycles, 2 units: at least 8 independent ones).</para>
/// <list type="table">
/// <item><term>AVX-512 (32 zmm)</term><description>8 rows x 32 columns: 16 accumulators, 10 loads per 16
/// FMAs.</description></item>
/// <item><term>AVX2 (16 ymm)</term><description>6 rows x 16 columns: 12 accumulators + 2 of B + 1 broadcast = 15
/// registers (8 x 16 would need 19 and spill).</description></item>
/// <item><term>SSE (16 xmm)</term><description>6 rows x 8 columns, as AVX2's at half the width.</description></item>
/// <item><term>NEON (32 q)</term><description>8 rows x 8 columns: 16 accumulators.</description></item>
/// </list>
/// <para>Blocking (BLIS style): the columns of C are cut into panels of <see cref="Columns"/>; a group
/// of panels 256 columns wide is gathered <see cref="Depth"/> reduction rows at a time into a buffer of the
/// core's (192 x 256 floats = 192 KB, in L2), and every strip of A's block (192 x 8 floats = 6 KB, in L1
/// once loaded) serves all the group's panels before the next strip is read. So A, which can be 9 MB
/// (conv5's weights), is read from memory once per 256 columns instead of once per panel. Vectorising
/// along the columns (pixels, in a convolution) lets each block be stored straight into the rows of a CHW
/// tensor.</para>
/// <para>Work is split over the cores by groups of panels. An image with fewer columns than the cores have
/// groups (a small image, a deep layer: conv5_1 at 64 x 64 has 16 pixels) is split over strips of A
/// instead: its B, a few panels, is then gathered once into a buffer the cores share (in parallel), and each
/// core multiplies its strips by it, rather than every core gathering the same panels again. Each block of
/// C is computed by one core with its reduction in order, whatever the split: the result does not depend
/// on the number of threads, nor on the blocking (every element is the same sequence of fused
/// multiply-adds from its start value).</para>
/// </remarks>
public static unsafe class CpuGemm
{
    /// <summary>Rows of C in the micro-kernel's register block (a strip of A): 8, or 6 with 16 registers.</summary>
    public static readonly int Rows = CpuVector.Registers == 32 ? 8 : 6;

    /// <summary>Columns of C in the micro-kernel's register block: two vectors.</summary>
    public static readonly int Columns = 2 * CpuVector.Lanes;

    /// <summary>Reduction rows per gathered block of B (24 KB of floats with 32 columns: fits L1).</summary>
    public const int Depth = 192;

    /// <summary>Columns gathered together (192 KB with <see cref="Depth"/> rows, in L2), so that each block of A,
    /// once in L1, serves all of them.</summary>
    public const int GroupColumns = 256;

    /// <summary>Panels in a group of <see cref="GroupColumns"/>.</summary>
    private static readonly int GroupPanels = GroupColumns / Columns;

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
        /// <paramref name="panel"/> (row-major, <see cref="Columns"/> floats a row), columns past
        /// <paramref name="columns"/> as 0.
        /// </summary>
        void Pack(float* panel, int r0, int rows, int n0, int columns);
    }

    /// <summary>Strips of <see cref="Rows"/> rows that cover m rows.</summary>
    public static int Strips(int m) => (m + Rows - 1) / Rows;

    /// <summary>Floats of A packed in strips: <c>Strips(m) * Rows * r</c>.</summary>
    public static long PackedLength(int m, int r) => (long)Strips(m) * Rows * r;

    /// <summary>The operands of one product.</summary>
    /// <param name="Output">C, row-major, M x N.</param>
    /// <param name="PackedA">A in strips: element (m, r) at <c>[((m/Rows)*R + r)*Rows + m%Rows]</c>, rows past M
    /// zero.</param>
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
        switch (CpuVector.Bits)
        {
            case 512: Run<TSource, Vector512<float>>(host, product, source, epilogue); break;
            case 256: Run<TSource, Vector256<float>>(host, product, source, epilogue); break;
            default: Run<TSource, Vector128<float>>(host, product, source, epilogue); break;
        }
    }

    private static void Run<TSource, TVector>(CpuHost host, Product product, TSource source, Epilogue epilogue)
        where TSource : struct, IPanelSource
        where TVector : struct
    {
        int panels = (product.N + Columns - 1) / Columns;
        int groups = (panels + GroupPanels - 1) / GroupPanels;
        int strips = Strips(product.M);
        int wanted = 4 * host.Threads;
        if (groups >= wanted || host.Threads == 1)
        {
            // Enough groups of columns for every core: each gathers its own.
            var work = new Work<TSource, TVector>(host, product, source, epilogue, strips, strips, 1, null);
            host.For(groups, work.Run);
            return;
        }

        // A small image: B (at most wanted groups of panels) gathered once, shared, then the strips split.
        long bLength = (long)panels * Columns * product.R;
        using var shared = host.Rent(bLength);
        float* b = shared.Pointer;
        int blocks = (product.R + Depth - 1) / Depth;
        host.For(panels * blocks, (first, end) =>
        {
            for (int item = first; item < end; item++)
            {
                int q = item / blocks, r0 = item % blocks * Depth;
                source.Pack(b + ((long)q * product.R + r0) * Columns, r0, Math.Min(Depth, product.R - r0),
                    q * Columns, product.N);
            }
        });
        int stripsPerItem = Math.Max(1, strips * groups / wanted);
        int stripGroups = (strips + stripsPerItem - 1) / stripsPerItem;
        var split = new Work<TSource, TVector>(host, product, source, epilogue, strips, stripsPerItem, stripGroups, b);
        host.For(groups * stripGroups, split.Run);
    }

    /// <summary>
    /// The loop over work items: a group of panels x a group of strips. B's panels come from
    /// <paramref name="sharedB"/> when it is given (all of B, <c>[panel][R][Columns]</c>), else each item gathers
    /// its group's panels <see cref="Depth"/> rows at a time into a buffer of its own.
    /// </summary>
    private sealed class Work<TSource, TVector>(CpuHost host, Product p, TSource source, Epilogue epilogue, int strips,
        int stripsPerItem, int stripGroups, float* sharedB)
        where TSource : struct, IPanelSource
        where TVector : struct
    {
        private readonly float* _sharedB = sharedB;

        [SkipLocalsInit]
        public void Run(int firstItem, int endItem)
        {
            using var panels = _sharedB == null ? host.Rent((long)GroupPanels * Depth * Columns) : default;
            float* tile = stackalloc float[Rows * Columns]; // an edge block, padded to full size
            float* start = stackalloc float[Rows];
            for (int item = firstItem; item < endItem; item++) RunItem(item, panels.Pointer, tile, start);
        }

        private void RunItem(int item, float* panels, float* tile, float* start)
        {
            bool relu = epilogue == Epilogue.Relu;
            int firstColumn = item / stripGroups * GroupPanels * Columns;
            int count = Math.Min(GroupPanels, (p.N - firstColumn + Columns - 1) / Columns);
            int firstStrip = item % stripGroups * stripsPerItem;
            int endStrip = Math.Min(strips, firstStrip + stripsPerItem);
            int firstPanel = firstColumn / Columns;
            for (int r0 = 0; r0 < p.R; r0 += Depth)
            {
                int depth = Math.Min(Depth, p.R - r0);
                if (_sharedB == null)
                {
                    for (int q = 0; q < count; q++) source.Pack(panels + q * Depth * Columns, r0, depth,
                        firstColumn + q * Columns, p.N);
                }
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
                        float* b = _sharedB != null ? _sharedB + ((long)(firstPanel + q) * p.R + r0) * Columns
                            : panels + q * Depth * Columns;
                        float* c = p.Output + (long)m0 * p.N + n0;
                        if (height == Rows && width == Columns)
                        {
                            MicroKernel<TVector>(a, b, depth, c, p.N, init ? start : null, last && relu);
                            continue;
                        }
                        // Edge block: through a full-size tile, copying only the real rows and columns.
                        for (int i = 0; i < height && !init; i++)
                            new Span<float>(c + (long)i * p.N, width).CopyTo(new Span<float>(tile + i * Columns,
                                width));
                        MicroKernel<TVector>(a, b, depth, tile, Columns, init ? start : null, last && relu);
                        for (int i = 0; i < height; i++)
                            new Span<float>(tile + i * Columns, width).CopyTo(new Span<float>(c + (long)i * p.N,
                                width));
                    }
                }
            }
        }
    }

    /// <summary>
    /// c[Rows, Columns] (row stride ldc) = (init ? bias broadcast : c) + a[depth, Rows]^T x b[depth, Columns]
    /// (b's rows <see cref="Columns"/> apart), then ReLU when <paramref name="relu"/>. <paramref name="init"/>: the
    /// Rows values to start from (first reduction block), or null to continue from c. The register tile of the
    /// width (<see cref="Rows"/> x 2 vectors).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void MicroKernel<TVector>(float* a, float* b, int depth, float* c, long ldc, float* init,
        bool relu)
        where TVector : struct
    {
        if (Rows == 8) MicroKernel8<TVector>(a, b, depth, Columns, c, ldc, init, relu);
        else MicroKernel6<TVector>(a, b, depth, Columns, c, ldc, init, relu);
    }

    /// <summary>
    /// The 8-row register tile (32 registers: AVX-512, NEON): c[8, 2 vectors] from a[depth, 8] (8 values a step)
    /// and b[depth, 2 vectors] (rows <paramref name="ldb"/> apart); 16 accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MicroKernel8<TVector>(float* a, float* b, int depth, long ldb, float* c, long ldc,
        float* init, bool relu)
        where TVector : struct
    {
        int n = Simd<TVector>.Count;
        TVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (init != null)
        {
            c00 = c01 = Simd<TVector>.Broadcast(init[0]);
            c10 = c11 = Simd<TVector>.Broadcast(init[1]);
            c20 = c21 = Simd<TVector>.Broadcast(init[2]);
            c30 = c31 = Simd<TVector>.Broadcast(init[3]);
            c40 = c41 = Simd<TVector>.Broadcast(init[4]);
            c50 = c51 = Simd<TVector>.Broadcast(init[5]);
            c60 = c61 = Simd<TVector>.Broadcast(init[6]);
            c70 = c71 = Simd<TVector>.Broadcast(init[7]);
        }
        else
        {
            c00 = Simd<TVector>.Load(c); c01 = Simd<TVector>.Load(c + n);
            c10 = Simd<TVector>.Load(c + ldc); c11 = Simd<TVector>.Load(c + ldc + n);
            c20 = Simd<TVector>.Load(c + 2 * ldc); c21 = Simd<TVector>.Load(c + 2 * ldc + n);
            c30 = Simd<TVector>.Load(c + 3 * ldc); c31 = Simd<TVector>.Load(c + 3 * ldc + n);
            c40 = Simd<TVector>.Load(c + 4 * ldc); c41 = Simd<TVector>.Load(c + 4 * ldc + n);
            c50 = Simd<TVector>.Load(c + 5 * ldc); c51 = Simd<TVector>.Load(c + 5 * ldc + n);
            c60 = Simd<TVector>.Load(c + 6 * ldc); c61 = Simd<TVector>.Load(c + 6 * ldc + n);
            c70 = Simd<TVector>.Load(c + 7 * ldc); c71 = Simd<TVector>.Load(c + 7 * ldc + n);
        }

        for (int r = 0; r < depth; r++, a += 8, b += ldb)
        {
            var b0 = Simd<TVector>.Load(b);
            var b1 = Simd<TVector>.Load(b + n);
            var w = Simd<TVector>.Broadcast(a[0]);
            c00 = Simd<TVector>.MultiplyAdd(w, b0, c00); c01 = Simd<TVector>.MultiplyAdd(w, b1, c01);
            w = Simd<TVector>.Broadcast(a[1]);
            c10 = Simd<TVector>.MultiplyAdd(w, b0, c10); c11 = Simd<TVector>.MultiplyAdd(w, b1, c11);
            w = Simd<TVector>.Broadcast(a[2]);
            c20 = Simd<TVector>.MultiplyAdd(w, b0, c20); c21 = Simd<TVector>.MultiplyAdd(w, b1, c21);
            w = Simd<TVector>.Broadcast(a[3]);
            c30 = Simd<TVector>.MultiplyAdd(w, b0, c30); c31 = Simd<TVector>.MultiplyAdd(w, b1, c31);
            w = Simd<TVector>.Broadcast(a[4]);
            c40 = Simd<TVector>.MultiplyAdd(w, b0, c40); c41 = Simd<TVector>.MultiplyAdd(w, b1, c41);
            w = Simd<TVector>.Broadcast(a[5]);
            c50 = Simd<TVector>.MultiplyAdd(w, b0, c50); c51 = Simd<TVector>.MultiplyAdd(w, b1, c51);
            w = Simd<TVector>.Broadcast(a[6]);
            c60 = Simd<TVector>.MultiplyAdd(w, b0, c60); c61 = Simd<TVector>.MultiplyAdd(w, b1, c61);
            w = Simd<TVector>.Broadcast(a[7]);
            c70 = Simd<TVector>.MultiplyAdd(w, b0, c70); c71 = Simd<TVector>.MultiplyAdd(w, b1, c71);
        }

        if (relu)
        {
            c00 = Simd<TVector>.Relu(c00); c01 = Simd<TVector>.Relu(c01);
            c10 = Simd<TVector>.Relu(c10); c11 = Simd<TVector>.Relu(c11);
            c20 = Simd<TVector>.Relu(c20); c21 = Simd<TVector>.Relu(c21);
            c30 = Simd<TVector>.Relu(c30); c31 = Simd<TVector>.Relu(c31);
            c40 = Simd<TVector>.Relu(c40); c41 = Simd<TVector>.Relu(c41);
            c50 = Simd<TVector>.Relu(c50); c51 = Simd<TVector>.Relu(c51);
            c60 = Simd<TVector>.Relu(c60); c61 = Simd<TVector>.Relu(c61);
            c70 = Simd<TVector>.Relu(c70); c71 = Simd<TVector>.Relu(c71);
        }
        Simd<TVector>.Store(c00, c); Simd<TVector>.Store(c01, c + n);
        Simd<TVector>.Store(c10, c + ldc); Simd<TVector>.Store(c11, c + ldc + n);
        Simd<TVector>.Store(c20, c + 2 * ldc); Simd<TVector>.Store(c21, c + 2 * ldc + n);
        Simd<TVector>.Store(c30, c + 3 * ldc); Simd<TVector>.Store(c31, c + 3 * ldc + n);
        Simd<TVector>.Store(c40, c + 4 * ldc); Simd<TVector>.Store(c41, c + 4 * ldc + n);
        Simd<TVector>.Store(c50, c + 5 * ldc); Simd<TVector>.Store(c51, c + 5 * ldc + n);
        Simd<TVector>.Store(c60, c + 6 * ldc); Simd<TVector>.Store(c61, c + 6 * ldc + n);
        Simd<TVector>.Store(c70, c + 7 * ldc); Simd<TVector>.Store(c71, c + 7 * ldc + n);
    }

    /// <summary>
    /// The 6-row register tile (16 registers: AVX2, SSE): c[6, 2 vectors] from a[depth, 6] and b[depth, 2
    /// vectors]; 12 accumulators, 2 values of B and a broadcast: 15 registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MicroKernel6<TVector>(float* a, float* b, int depth, long ldb, float* c, long ldc,
        float* init, bool relu)
        where TVector : struct
    {
        int n = Simd<TVector>.Count;
        TVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (init != null)
        {
            c00 = c01 = Simd<TVector>.Broadcast(init[0]);
            c10 = c11 = Simd<TVector>.Broadcast(init[1]);
            c20 = c21 = Simd<TVector>.Broadcast(init[2]);
            c30 = c31 = Simd<TVector>.Broadcast(init[3]);
            c40 = c41 = Simd<TVector>.Broadcast(init[4]);
            c50 = c51 = Simd<TVector>.Broadcast(init[5]);
        }
        else
        {
            c00 = Simd<TVector>.Load(c); c01 = Simd<TVector>.Load(c + n);
            c10 = Simd<TVector>.Load(c + ldc); c11 = Simd<TVector>.Load(c + ldc + n);
            c20 = Simd<TVector>.Load(c + 2 * ldc); c21 = Simd<TVector>.Load(c + 2 * ldc + n);
            c30 = Simd<TVector>.Load(c + 3 * ldc); c31 = Simd<TVector>.Load(c + 3 * ldc + n);
            c40 = Simd<TVector>.Load(c + 4 * ldc); c41 = Simd<TVector>.Load(c + 4 * ldc + n);
            c50 = Simd<TVector>.Load(c + 5 * ldc); c51 = Simd<TVector>.Load(c + 5 * ldc + n);
        }

        for (int r = 0; r < depth; r++, a += 6, b += ldb)
        {
            var b0 = Simd<TVector>.Load(b);
            var b1 = Simd<TVector>.Load(b + n);
            var w = Simd<TVector>.Broadcast(a[0]);
            c00 = Simd<TVector>.MultiplyAdd(w, b0, c00); c01 = Simd<TVector>.MultiplyAdd(w, b1, c01);
            w = Simd<TVector>.Broadcast(a[1]);
            c10 = Simd<TVector>.MultiplyAdd(w, b0, c10); c11 = Simd<TVector>.MultiplyAdd(w, b1, c11);
            w = Simd<TVector>.Broadcast(a[2]);
            c20 = Simd<TVector>.MultiplyAdd(w, b0, c20); c21 = Simd<TVector>.MultiplyAdd(w, b1, c21);
            w = Simd<TVector>.Broadcast(a[3]);
            c30 = Simd<TVector>.MultiplyAdd(w, b0, c30); c31 = Simd<TVector>.MultiplyAdd(w, b1, c31);
            w = Simd<TVector>.Broadcast(a[4]);
            c40 = Simd<TVector>.MultiplyAdd(w, b0, c40); c41 = Simd<TVector>.MultiplyAdd(w, b1, c41);
            w = Simd<TVector>.Broadcast(a[5]);
            c50 = Simd<TVector>.MultiplyAdd(w, b0, c50); c51 = Simd<TVector>.MultiplyAdd(w, b1, c51);
        }

        if (relu)
        {
            c00 = Simd<TVector>.Relu(c00); c01 = Simd<TVector>.Relu(c01);
            c10 = Simd<TVector>.Relu(c10); c11 = Simd<TVector>.Relu(c11);
            c20 = Simd<TVector>.Relu(c20); c21 = Simd<TVector>.Relu(c21);
            c30 = Simd<TVector>.Relu(c30); c31 = Simd<TVector>.Relu(c31);
            c40 = Simd<TVector>.Relu(c40); c41 = Simd<TVector>.Relu(c41);
            c50 = Simd<TVector>.Relu(c50); c51 = Simd<TVector>.Relu(c51);
        }
        Simd<TVector>.Store(c00, c); Simd<TVector>.Store(c01, c + n);
        Simd<TVector>.Store(c10, c + ldc); Simd<TVector>.Store(c11, c + ldc + n);
        Simd<TVector>.Store(c20, c + 2 * ldc); Simd<TVector>.Store(c21, c + 2 * ldc + n);
        Simd<TVector>.Store(c30, c + 3 * ldc); Simd<TVector>.Store(c31, c + 3 * ldc + n);
        Simd<TVector>.Store(c40, c + 4 * ldc); Simd<TVector>.Store(c41, c + 4 * ldc + n);
        Simd<TVector>.Store(c50, c + 5 * ldc); Simd<TVector>.Store(c51, c + 5 * ldc + n);
    }
}
