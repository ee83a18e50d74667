using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

// Double-precision products of n x n matrices on the host: the Wasserstein-2 loss's exact path (P = R Sigma R,
// the transport R P^(-1/2) R) and the eigendecomposition's compositions V f(L) V^T; and of rectangular blocks inside
// larger arrays (offsets and row strides of their own), for the eigensolver's divide-and-conquer merges and its
// blocked reflections (C = A B, or C += A B).
//   the reference: Wasserstein.Multiply, three plain loops
//   the blocked product below: BLIS's loops (CpuGemm.cs) in double, on the run's cores
//
// Glossary: n the size; A, B, C (n, n) row-major, C[i*n + j]; L doubles per vector (8, 4 or 2: CpuVector.Bits).
//   C = A B.  Blocks: a column block of C (ColumnBlock = 64 columns, 512 bytes a row) is one work item (split
//   into row pieces when there are fewer blocks than cores, as for a 32-column C); B's
//   rows p0..p0+kc of that block (kc <= DepthBlock = 256) are packed into panels of 2L columns,
//   [panel][p][2L] (at most 128 KB: the L2), and each RowTile x 2L tile of C is summed over them in 8 vector
//   registers: per step of depth, two loads of B and four broadcasts of A feed eight FMAs.

/// <summary>
/// C = A B for n x n double matrices on the host, blocked for the caches and vectorised at the processor's width
/// (<see cref="CpuVector.Bits"/>), column blocks of C spread over the cores; with <c>symmetric</c>, only the blocks
/// on and above the diagonal are summed and the rest mirrored (for products known to be symmetric, R Sigma R or
/// U U^T: about half the work).
/// </summary>
/// <remarks>
/// Packing matters here: at n = 512 a row of B is 4 KB, so B's rows at one column all fall in the same L1 set
/// and a plain loop over p evicts its own lines. The sums run in another order than the reference's (by depth
/// blocks, fused multiply-adds), so results agree with it to double rounding, not bit for bit; they do not depend
/// on the number of threads (each element of C is summed by one thread, in one order).
/// </remarks>
public static unsafe class DoubleGemm
{
    /// <summary>Rows of C a micro-kernel sums at once.</summary>
    public const int RowTile = 4;

    /// <summary>Columns of C a work item owns (512 bytes a row).</summary>
    public const int ColumnBlock = 64;

    /// <summary>Rows of B packed at once: DepthBlock x ColumnBlock doubles = 128 KB, in L2.</summary>
    public const int DepthBlock = 256;

    /// <summary>A B (n x n, row-major) into a new array.</summary>
    public static double[] Multiply(double[] a, double[] b, int n, int threads, bool symmetric = false)
    {
        var c = new double[(long)n * n];
        Multiply(c, a, b, n, threads, symmetric);
        return c;
    }

    /// <summary>
    /// <paramref name="c"/> = <paramref name="a"/> <paramref name="b"/> (n x n, row-major; c is overwritten) on
    /// <paramref name="threads"/> cores. <paramref name="symmetric"/>: the product is known to be symmetric, so only
    /// C's blocks on and above the diagonal are summed and the lower triangle is mirrored from the upper.
    /// </summary>
    public static void Multiply(double[] c, double[] a, double[] b, int n, int threads, bool symmetric = false) =>
        Square(c, a, b, n, threads, symmetric, Shape.Square(n));

    /// <summary>
    /// <paramref name="c"/> = <paramref name="a"/> <paramref name="b"/>^T (n x n, row-major; c is overwritten): as
    /// <see cref="Multiply(double[], double[], double[], int, int, bool)"/>, B read by rows as it is packed (so
    /// that neither operand is transposed in memory first; <c>U U^T</c> is this with a = b, symmetric).
    /// </summary>
    public static void MultiplyTransposed(double[] c, double[] a, double[] b, int n, int threads,
        bool symmetric = false) =>
        Square(c, a, b, n, threads, symmetric, Shape.Square(n) with { TransposedB = true });

    /// <summary>The square products: the arguments checked, the blocks summed, and a symmetric C's lower triangle
    /// mirrored from its upper.</summary>
    private static void Square(double[] c, double[] a, double[] b, int n, int threads, bool symmetric, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        long nn = (long)n * n;
        if (n <= 0 || a.Length != nn || b.Length != nn || c.Length != nn)
            throw new ArgumentException($"A, B and C must be {n} x {n}.", nameof(n));
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        switch (CpuVector.Bits)
        {
            case 512: Run<Vector512<double>>(c, a, b, shape, threads, symmetric, accumulate: false); break;
            case 256: Run<Vector256<double>>(c, a, b, shape, threads, symmetric, accumulate: false); break;
            default: Run<Vector128<double>>(c, a, b, shape, threads, symmetric, accumulate: false); break;
        }
        if (symmetric) MirrorUpper(c, n);
    }

    /// <summary>C's lower triangle from its upper (a symmetric product sums only the upper).</summary>
    private static void MirrorUpper(double[] c, int n)
    {
        for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++)
            c[(long)i * n + j] = c[(long)j * n + i];
    }

    /// <summary>
    /// C = A B, or C += A B with <paramref name="accumulate"/>, for rectangular blocks inside larger row-major
    /// arrays (the divide-and-conquer eigensolver's merges and its blocked reflections, <see cref="SymmetricEigen"/>):
    /// C is <paramref name="rows"/> x <paramref name="columns"/> from <c>c[cOffset]</c> with row stride
    /// <paramref name="ldc"/>, A is rows x <paramref name="depth"/> (stride <paramref name="lda"/>), B depth x
    /// columns (stride <paramref name="ldb"/>). The same loops and sums as the square product (which is this with
    /// every size and stride n and C overwritten), on <paramref name="threads"/> cores, the result independent of
    /// their number. (Accumulating, each element of C gets its old value plus the register tile's sum over each
    /// depth block in turn: a subtraction is the addition of a negated A.)
    /// </summary>
    internal static void Multiply(double[] c, int cOffset, int ldc, double[] a, int aOffset, int lda, double[] b,
        int bOffset, int ldb, int rows, int depth, int columns, int threads, bool accumulate = false)
    {
        if (rows <= 0 || columns <= 0) return;
        var shape = new Shape(cOffset, ldc, aOffset, lda, bOffset, ldb, rows, depth, columns);
        switch (CpuVector.Bits)
        {
            case 512: Run<Vector512<double>>(c, a, b, shape, threads, symmetric: false, accumulate); break;
            case 256: Run<Vector256<double>>(c, a, b, shape, threads, symmetric: false, accumulate); break;
            default: Run<Vector128<double>>(c, a, b, shape, threads, symmetric: false, accumulate); break;
        }
    }

    /// <summary>Where C, A and B lie in their arrays (offset, row stride) and the product's sizes; with
    /// <see cref="TransposedB"/>, the array holds B^T (columns x depth, row stride Ldb) and B is read from
    /// it.</summary>
    private readonly record struct Shape(int C0, int Ldc, int A0, int Lda, int B0, int Ldb, int Rows, int Depth,
        int Columns, bool TransposedB = false)
    {
        public static Shape Square(int n) => new(0, n, 0, n, 0, n, n, n, n);
    }

    private static void Run<TVector>(double[] c, double[] a, double[] b, Shape shape, int threads, bool symmetric,
        bool accumulate)
        where TVector : struct
    {
        int blocks = (shape.Columns + ColumnBlock - 1) / ColumnBlock;
        // Fewer column blocks than cores (a narrow C, such as the reflections' Q^T V): each block's rows are cut
        // into pieces too, whole row tiles each, so that every core has one. Each element is still summed by one
        // thread in one order, so the pieces change no bit; they only pack B once more each.
        int pieces = blocks >= threads || symmetric
            ? 1
            : Math.Min((threads + blocks - 1) / blocks, (shape.Rows + RowTile - 1) / RowTile);
        int tilesPerPiece = ((shape.Rows + RowTile - 1) / RowTile + pieces - 1) / pieces;
        void Item(int item)
        {
            int first = item % pieces * tilesPerPiece * RowTile;
            int end = Math.Min(shape.Rows, first + tilesPerPiece * RowTile);
            fixed (double* pc = c, pa = a, pb = b)
            {
                ColumnBlockProduct<TVector>(pc + shape.C0, pa + shape.A0, pb + shape.B0, shape,
                    item / pieces * ColumnBlock, first, end, symmetric, accumulate);
            }
        }

        // On one core, a plain loop: the small products made by many work items at once (the reflections' blocks)
        // would otherwise each pay for a hand-out to themselves.
        if (threads == 1)
        {
            for (int item = 0; item < blocks * pieces; item++) Item(item);
            return;
        }
        // Dynamic hand-out: with symmetric, block j sums j + 1 blocks of rows, so the blocks differ in cost.
        Parallel.For(0, blocks * pieces, new ParallelOptions { MaxDegreeOfParallelism = threads }, Item);
    }

    /// <summary>Columns j0..j0+ColumnBlock of C's rows first..end: B packed DepthBlock rows at a time, then every
    /// row tile of C (those on and above the diagonal when symmetric) summed over the packed rows. C's block is
    /// cleared first unless <paramref name="accumulate"/>.</summary>
    [SkipLocalsInit]
    private static void ColumnBlockProduct<TVector>(double* c, double* a, double* b, Shape shape, int j0, int first,
        int end, bool symmetric, bool accumulate)
        where TVector : struct
    {
        int width = 2 * DoubleSimd<TVector>.Count; // a panel: two vectors of C's columns
        int j1 = Math.Min(shape.Columns, j0 + ColumnBlock);
        int panels = (j1 - j0 + width - 1) / width;
        int rowsEnd = symmetric ? Math.Min(end, j1) : end, depth = shape.Depth;
        if (!accumulate)
        {
            for (int i = first; i < end; i++)
            for (int j = j0; j < j1; j++)
                c[(long)i * shape.Ldc + j] = 0;
        }
        var rented = ArrayPool<double>.Shared.Rent(DepthBlock * panels * width);
        fixed (double* packed = rented)
        {
            for (int p0 = 0; p0 < depth; p0 += DepthBlock)
            {
                int kc = Math.Min(DepthBlock, depth - p0);
                // Pack: panel q holds B[p0.., j0 + q*width ..] as [p][width], zeros past the block's last column
                // (from B^T: each of the panel's columns is a row there, read along and written across).
                for (int q = 0; q < panels; q++)
                {
                    int column = j0 + q * width, count = Math.Min(width, j1 - column);
                    double* dst = packed + (long)q * kc * width;
                    if (shape.TransposedB)
                    {
                        for (int j = 0; j < count; j++)
                        {
                            double* src = b + (long)(column + j) * shape.Ldb + p0;
                            for (int p = 0; p < kc; p++) dst[(long)p * width + j] = src[p];
                        }
                        for (int j = count; j < width; j++)
                        for (int p = 0; p < kc; p++)
                            dst[(long)p * width + j] = 0;
                        continue;
                    }
                    for (int p = 0; p < kc; p++, dst += width)
                    {
                        double* src = b + (long)(p0 + p) * shape.Ldb + column;
                        for (int j = 0; j < count; j++) dst[j] = src[j];
                        for (int j = count; j < width; j++) dst[j] = 0;
                    }
                }
                for (int i = first; i < rowsEnd; i += RowTile)
                {
                    int rows = Math.Min(RowTile, rowsEnd - i);
                    for (int q = 0; q < panels; q++)
                    {
                        int column = j0 + q * width;
                        Tile<TVector>(c + (long)i * shape.Ldc + column, shape.Ldc, a + (long)i * shape.Lda + p0,
                            shape.Lda, packed + (long)q * kc * width, kc, rows, Math.Min(width, j1 - column));
                    }
                }
            }
        }
        ArrayPool<double>.Shared.Return(rented);
    }

    /// <summary>
    /// The micro-kernel: C[rows x cols] (row stride <paramref name="n"/>) += A[rows x kc] (row stride
    /// <paramref name="lda"/>) times a packed panel [kc][2L], in 4 x 2 vector accumulators. Rows past
    /// <paramref name="rows"/> read row 0 again and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [SkipLocalsInit]
    private static void Tile<TVector>(double* c, int n, double* a, int lda, double* panel, int kc, int rows,
        int cols)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count;
        double* a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2L * lda : a;
        double* a3 = rows > 3 ? a + 3L * lda : a;
        TVector c00 = default, c01 = default, c10 = default, c11 = default;
        TVector c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kc; p++, panel += 2 * lanes)
        {
            var b0 = DoubleSimd<TVector>.Load(panel);
            var b1 = DoubleSimd<TVector>.Load(panel + lanes);
            var x = DoubleSimd<TVector>.Broadcast(a0[p]);
            c00 = DoubleSimd<TVector>.MultiplyAdd(x, b0, c00);
            c01 = DoubleSimd<TVector>.MultiplyAdd(x, b1, c01);
            x = DoubleSimd<TVector>.Broadcast(a1[p]);
            c10 = DoubleSimd<TVector>.MultiplyAdd(x, b0, c10);
            c11 = DoubleSimd<TVector>.MultiplyAdd(x, b1, c11);
            x = DoubleSimd<TVector>.Broadcast(a2[p]);
            c20 = DoubleSimd<TVector>.MultiplyAdd(x, b0, c20);
            c21 = DoubleSimd<TVector>.MultiplyAdd(x, b1, c21);
            x = DoubleSimd<TVector>.Broadcast(a3[p]);
            c30 = DoubleSimd<TVector>.MultiplyAdd(x, b0, c30);
            c31 = DoubleSimd<TVector>.MultiplyAdd(x, b1, c31);
        }
        if (rows == RowTile && cols == 2 * lanes)
        {
            AddTo(c, c00, c01, lanes);
            AddTo(c + n, c10, c11, lanes);
            AddTo(c + 2L * n, c20, c21, lanes);
            AddTo(c + 3L * n, c30, c31, lanes);
            return;
        }
        // An edge tile: through a buffer, only the rows and columns that exist.
        double* t = stackalloc double[RowTile * 16];
        int w = 2 * lanes;
        DoubleSimd<TVector>.Store(c00, t);
        DoubleSimd<TVector>.Store(c01, t + lanes);
        DoubleSimd<TVector>.Store(c10, t + w);
        DoubleSimd<TVector>.Store(c11, t + w + lanes);
        DoubleSimd<TVector>.Store(c20, t + 2 * w);
        DoubleSimd<TVector>.Store(c21, t + 2 * w + lanes);
        DoubleSimd<TVector>.Store(c30, t + 3 * w);
        DoubleSimd<TVector>.Store(c31, t + 3 * w + lanes);
        for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            c[(long)r * n + j] += t[r * w + j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo<TVector>(double* row, TVector low, TVector high, int lanes)
        where TVector : struct
    {
        DoubleSimd<TVector>.Store(DoubleSimd<TVector>.Add(DoubleSimd<TVector>.Load(row), low), row);
        DoubleSimd<TVector>.Store(DoubleSimd<TVector>.Add(DoubleSimd<TVector>.Load(row + lanes), high), row + lanes);
    }
}

/// <summary>
/// The vector operations of the double-precision host code, for one vector type: <c>Vector512&lt;double&gt;</c>,
/// <c>Vector256&lt;double&gt;</c> or <c>Vector128&lt;double&gt;</c> (the width <see cref="CpuVector.Bits"/> picks).
/// As in <see cref="Simd{TVector}"/>, each test of the type folds away when the JIT compiles a kernel for one.
/// </summary>
/// <typeparam name="TVector">One of the three double vector types.</typeparam>
internal static unsafe class DoubleSimd<TVector>
    where TVector : struct
{
    /// <summary>Doubles per vector.</summary>
    public static int Count
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => typeof(TVector) == typeof(Vector512<double>) ? 8 : typeof(TVector) == typeof(Vector256<double>) ? 4 : 2;
    }

    /// <summary>Count doubles from <paramref name="p"/> (no alignment needed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load(double* p)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(Vector512.Load(p));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(Vector256.Load(p));
        return As(Vector128.Load(p));
    }

    /// <summary>Stores the lanes at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(TVector v, double* p)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) Vector512.Store(V512(v), p);
        else if (typeof(TVector) == typeof(Vector256<double>)) Vector256.Store(V256(v), p);
        else Vector128.Store(V128(v), p);
    }

    /// <summary><paramref name="value"/> in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Broadcast(double value)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(Vector512.Create(value));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(Vector256.Create(value));
        return As(Vector128.Create(value));
    }

    /// <summary><c>a * b + c</c>, fused where the processor has FMA (as <see cref="Simd{TVector}.MultiplyAdd"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector MultiplyAdd(TVector a, TVector b, TVector c)
    {
        if (typeof(TVector) == typeof(Vector512<double>))
            return As(Vector512.MultiplyAddEstimate(V512(a), V512(b), V512(c)));
        if (typeof(TVector) == typeof(Vector256<double>))
            return As(Vector256.MultiplyAddEstimate(V256(a), V256(b), V256(c)));
        return As(Vector128.MultiplyAddEstimate(V128(a), V128(b), V128(c)));
    }

    /// <summary>a + b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Add(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(V512(a) + V512(b));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(V256(a) + V256(b));
        return As(V128(a) + V128(b));
    }

    /// <summary>a - b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Subtract(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(V512(a) - V512(b));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(V256(a) - V256(b));
        return As(V128(a) - V128(b));
    }

    /// <summary>a * s, lane by lane (no fused operation: the scalar code's rounding).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Multiply(TVector a, double s)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(V512(a) * s);
        if (typeof(TVector) == typeof(Vector256<double>)) return As(V256(a) * s);
        return As(V128(a) * s);
    }

    /// <summary>a * b, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Multiply(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(V512(a) * V512(b));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(V256(a) * V256(b));
        return As(V128(a) * V128(b));
    }

    /// <summary>a / b, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Divide(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return As(V512(a) / V512(b));
        if (typeof(TVector) == typeof(Vector256<double>)) return As(V256(a) / V256(b));
        return As(V128(a) / V128(b));
    }

    /// <summary>The sum of the lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<double>)) return Vector512.Sum(V512(a));
        if (typeof(TVector) == typeof(Vector256<double>)) return Vector256.Sum(V256(a));
        return Vector128.Sum(V128(a));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector As<TFrom>(TFrom value)
        where TFrom : struct => Unsafe.As<TFrom, TVector>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> V512(TVector value) => Unsafe.As<TVector, Vector512<double>>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> V256(TVector value) => Unsafe.As<TVector, Vector256<double>>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<double> V128(TVector value) => Unsafe.As<TVector, Vector128<double>>(ref value);
}
