using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The eigendecomposition of a real symmetric matrix in double precision on the host, and the matrix functions
/// built from it (<c>V f(L) V^T</c>): the references of the Wasserstein-2 loss's square roots, its target's root
/// (once per scale) and the fallback of the device's Newton-Schulz iteration.
/// </summary>
/// <remarks>
/// <para>The classic two-step method (Householder's reduction to a tridiagonal matrix, then the QL iteration with
/// implicit shifts on it), as in EISPACK's tred2 and tql2: about <c>9 n^3</c> operations, where cyclic Jacobi takes
/// several times that. It is exact to rounding whatever the conditioning, which is what a reference and a fallback
/// need; every result is checked by reconstruction in the tests. Matrices are n x n, row-major.</para>
/// <para>Two versions: <see cref="DecomposeReference"/>, tred2 and tql2 as scalar loops (about a second at n = 512 on
/// the build machine), and <see cref="Decompose(double[], int, int)"/>, arranged for vectors and cores: the reduction
/// goes row by row over the upper triangle (contiguous dot products and updates, fixed chunks of rows over the cores),
/// its orthogonal matrix is formed from blocks of 32 reflections as matrix products (the compact WY representation,
/// <see cref="AccumulateReflections"/>), and the tridiagonal matrix's eigenproblem is solved by divide and conquer
/// (<see cref="DivideAndConquer"/>, LAPACK's dstedc), which turns the QL iteration's Givens rotations (about
/// 230 000 of them at n = 512, 6 n operations each: 10-17 ms of the 30 this took before) into matrix products
/// (<see cref="DoubleGemm"/>): the tridiagonal eigenvectors Z, then <c>V^T = Z^T Q^T</c>. At n = 512 on the build
/// machine's two cores the divide and conquer took the decomposition from about 33 ms to about 23, and the blocked
/// reflections to about 20 (their product from 7 ms to 3.1; 11.6 to 4.9 on one core; 2026-12-07); most of what is
/// left is the reduction (about 10 ms on two cores, 11.6 on one, memory-bound: a pass over the trailing block's
/// upper triangle a step). <see cref="DecomposeApplied"/> gives <c>B V</c> and the eigenvalues without forming V.
/// Details in docs/PERFORMANCE.md (issue 28).</para>
/// </remarks>
public static partial class SymmetricEigen
{
    /// <summary>
    /// The reference: the eigenvalues (ascending) and eigenvectors of the symmetric matrix <paramref name="a"/>
    /// (only read) by tred2 and tql2 as scalar loops: <c>A = V diag(values) V^T</c>, with the eigenvector of
    /// <c>values[k]</c> in column k of V (row-major n x n).
    /// </summary>
    public static (double[] Values, double[] Vectors) DecomposeReference(double[] a, int n)
    {
        var v = SymmetricPart(a, n);
        var d = new double[n];
        var e = new double[n];
        Tridiagonalize(v, d, e, n);
        // The QL rotations combine two columns of V at a time: on V^T they combine two contiguous rows.
        var vt = Transpose(v, n);
        var rotations = new Rotations();
        DiagonalizeTridiagonal(rotations, d, e, n);
        for (int r = 0; r < rotations.Count; r++)
            Rotate(vt, rotations.Row[r], n, rotations.Cos[r], rotations.Sin[r]);
        return Sorted(d, vt, n);
    }

    /// <summary>
    /// As <see cref="DecomposeReference"/>, arranged for vectors and <paramref name="threads"/> cores: the same
    /// eigenvalues and eigenvectors to rounding (an eigenvector's sign may differ; a vector of a repeated eigenvalue
    /// may be another of its space), about forty times faster at n = 512; the result does not depend on the number of
    /// threads.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] a, int n, int threads = 1) =>
        Decompose(a, n, threads, new Workspace(n));

    /// <summary>
    /// As <see cref="Decompose(double[], int, int)"/>, in <paramref name="workspace"/>'s arrays: the values and
    /// vectors returned are the workspace's own, valid until its next decomposition. For a caller that decomposes
    /// an n x n matrix again and again (the W2 loss's exact path, every evaluation), so that each call does not
    /// allocate and fault in a dozen megabytes afresh; the results are the same to the bit.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] a, int n, int threads, Workspace workspace)
    {
        var (values, transposed) = DecomposeTransposed(a, n, threads, workspace);
        Sorted(values, transposed, n, workspace.Values, workspace.Vectors);
        return (workspace.Values, workspace.Vectors);
    }

    /// <summary>
    /// As <see cref="Decompose(double[], int, int, Workspace)"/>, but as the iteration leaves them: the eigenvalues
    /// in no particular order, and the eigenvector of <c>Values[k]</c> in row k of <c>Transposed</c> (V^T), both the
    /// workspace's own. For a caller that only sums over the eigenpairs (the W2 loss's exact path), which so skips
    /// the sort's strided copy of V.
    /// </summary>
    public static (double[] Values, double[] Transposed) DecomposeTransposed(double[] a, int n, int threads,
        Workspace workspace)
    {
        CheckWorkspace(workspace, n, threads);
        // Q^T, then the tridiagonal matrix's eigenvectors, as rows (Z^T), then V^T = Z^T Q^T.
        Reduce(a, n, threads, workspace);
        int cores = Cores(n, threads);
        var zt = SolveTridiagonal(workspace, cores);
        DoubleGemm.Multiply(workspace.Transposed, zt, workspace.Vectors, n, cores);
        return (workspace.D, workspace.Transposed);
    }

    /// <summary>
    /// The eigenvalues of the symmetric A in no particular order (the workspace's own array), and
    /// <paramref name="product"/> = <c>B V</c>, V's column k the eigenvector of value k, without V itself:
    /// with <c>A = Q T Q^T</c> and <c>T = Z diag(values) Z^T</c>, <c>B V = (B Q) Z</c>, B Q from the reduction's
    /// reflections in blocks (<see cref="ApplyReflections"/>, B's n x n in the workspace), then one product. For the
    /// W2 loss's exact path, which needs <c>R V</c> and the eigenvalues alone: B Q costs 2 n^3 operations where
    /// forming Q costs 4/3 n^3 and V = Q Z another 2 n^3 before R V. The results do not depend on the cores.
    /// </summary>
    public static double[] DecomposeApplied(double[] a, double[] b, int n, int threads, Workspace workspace,
        double[] product)
    {
        CheckWorkspace(workspace, n, threads);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(product);
        if (b.Length != (long)n * n || product.Length != (long)n * n)
            throw new ArgumentException($"B and the product must be {n} x {n}.", nameof(b));
        Tridiagonalize(a, n, threads, workspace);
        int cores = Cores(n, threads);
        var zt = SolveTridiagonal(workspace, cores);
        var bq = workspace.Transposed; // free: no V^T is formed here
        Array.Copy(b, bq, b.Length);
        ApplyReflections(bq, workspace.Reduced, workspace.Beta, n, cores, workspace);
        DoubleGemm.MultiplyTransposed(product, bq, zt, n, cores); // (B Q) (Z^T)^T
        return workspace.D;
    }

    /// <summary>The checks of the decompositions in a workspace: at least one thread, a workspace for n.</summary>
    private static void CheckWorkspace(Workspace workspace, int n, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentNullException.ThrowIfNull(workspace);
        if (workspace.Size != n)
            throw new ArgumentException($"The workspace is for {workspace.Size} x {workspace.Size}, not {n}.",
                nameof(workspace));
    }

    /// <summary>The reduced T's eigenproblem by divide and conquer: its eigenvalues in place of its diagonal
    /// (<c>workspace.D</c>), and Z^T, its eigenvectors as rows, returned (the workspace's own).</summary>
    private static double[] SolveTridiagonal(Workspace workspace, int cores)
    {
        var tridiagonal = workspace.Tridiagonal;
        for (int i = 0; i + 1 < workspace.Size; i++) tridiagonal.Off[i] = workspace.E[i + 1];
        DivideAndConquer(workspace.D, tridiagonal, cores);
        return tridiagonal.Vectors;
    }

    /// <summary>
    /// The first step of <see cref="DecomposeTransposed"/>: A's symmetric part reduced to the tridiagonal T
    /// (diagonal <c>workspace.D</c>, subdiagonal <c>workspace.E</c>, e[0] = 0 and e[i] beside d[i-1]) with
    /// <c>A = Q T Q^T</c>, and Q^T into <c>workspace.Vectors</c> (free until the sort at the end).
    /// </summary>
    internal static void Reduce(double[] a, int n, int threads, Workspace workspace)
    {
        Tridiagonalize(a, n, threads, workspace);
        AccumulateReflections(workspace.Vectors, workspace.Reduced, workspace.Beta, n, Cores(n, threads), workspace);
    }

    /// <summary>A's symmetric part reduced to T (d, e), its reflections in <c>workspace.Reduced</c> and
    /// <c>workspace.Beta</c> (<see cref="ReduceRows{TVector}"/>).</summary>
    private static void Tridiagonalize(double[] a, int n, int threads, Workspace workspace)
    {
        var reduced = workspace.Reduced;
        SymmetricPart(a, n, reduced);
        var (d, e, beta) = (workspace.D, workspace.E, workspace.Beta);
        Array.Clear(d);
        Array.Clear(e);
        Array.Clear(beta);
        switch (CpuVector.Bits)
        {
            case 512: ReduceRows<Vector512<double>>(reduced, d, e, beta, n, threads, workspace); break;
            case 256: ReduceRows<Vector256<double>>(reduced, d, e, beta, n, threads, workspace); break;
            default: ReduceRows<Vector128<double>>(reduced, d, e, beta, n, threads, workspace); break;
        }
    }

    /// <summary>The cores of the steps after the reduction (Q^T, the divide and conquer, Z^T Q^T): all of them from
    /// n = 128 on; below, one (the hand-overs would cost more than the work).</summary>
    private static int Cores(int n, int threads) => n >= 128 ? threads : 1;

    /// <summary>
    /// The arrays <see cref="Decompose(double[], int, int, Workspace)"/> works in for an n x n matrix: host memory
    /// (about 6.5 n^2 doubles, 14 MB at n = 512), made once and reused, each call overwriting what the last one left.
    /// </summary>
    public sealed class Workspace
    {
        /// <summary>A workspace for n x n matrices.</summary>
        public Workspace(int n)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
            Size = n;
            Reduced = new double[(long)n * n];
            Transposed = new double[(long)n * n];
            Vectors = new double[(long)n * n];
            D = new double[n];
            E = new double[n];
            Beta = new double[n];
            P = new double[n];
            W = new double[n];
            Partials = new double[(long)((n + ReductionChunk - 1) / ReductionChunk) * n];
            Values = new double[n];
            Tridiagonal = new TridiagonalWork(n);
            Reflectors = new double[PreparedAtOnce * ReflectionBlock * n];
            Combined = new double[PreparedAtOnce * ReflectionBlock * n];
            Projections = new double[(long)ReflectionBlock * n];
        }

        /// <summary>n.</summary>
        public int Size { get; }

        internal double[] Reduced { get; } // the reduction's matrix, then its reflections (0 left of them)
        internal double[] Transposed { get; } // V^T: the reflections' product, then the eigenvectors
        internal double[] Vectors { get; } // Q^T during a decomposition, then the sorted V
        internal double[] D { get; }
        internal double[] E { get; }
        internal double[] Beta { get; }
        internal double[] P { get; }
        internal double[] W { get; }
        internal double[] Partials { get; } // the reduction's chunks' terms of the next p, a row each
        internal double[] Values { get; }
        internal TridiagonalWork Tridiagonal { get; } // the divide and conquer's: Z^T and its merges' arrays
        internal double[] Reflectors { get; } // blocks' V (m, b), PreparedAtOnce slots (BlockOffset)
        internal double[] Combined { get; } // blocks' Y = -T^T V^T (b, m), likewise
        internal double[] Projections { get; } // X_t V (m, b) of the block being applied
    }

    /// <summary>The symmetric part of <paramref name="a"/>, as the peer's eigh reads it (its lower triangle; for a
    /// matrix symmetric to rounding the two agree to rounding).</summary>
    private static double[] SymmetricPart(double[] a, int n) => SymmetricPart(a, n, new double[(long)n * n]);

    /// <summary>As <see cref="SymmetricPart(double[], int)"/>, into <paramref name="v"/>: 8 x 8 tiles on and above the
    /// diagonal, each element written with its mirror (the same sum), so that a tile's strided reads and writes
    /// touch 8 rows, not all of them (at n = 512, 4 KB a row, a column read whole walks a page a step). In the
    /// decomposition at n = 512 this takes about 0.5 ms against 0.78 by plain rows and columns; at n = 256, where
    /// the plain loops' streams suit the prefetcher, about 0.15 against 0.10 (2026-12-07): less in all over a W2
    /// evaluation, which decomposes two 512 x 512 matrices for one of 256.</summary>
    private static double[] SymmetricPart(double[] a, int n, double[] v)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (n <= 0 || a.Length != n * n) throw new ArgumentException($"Not an {n}x{n} matrix.", nameof(a));
        const int Tile = 8;
        for (int i0 = 0; i0 < n; i0 += Tile)
        {
            int iEnd = Math.Min(n, i0 + Tile);
            for (int j0 = i0; j0 < n; j0 += Tile)
            {
                int jEnd = Math.Min(n, j0 + Tile);
                for (int i = i0; i < iEnd; i++)
                for (int j = Math.Max(i, j0); j < jEnd; j++)
                    v[i * n + j] = v[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
            }
        }
        return v;
    }

    /// <summary>The eigenvalues ascending and V (eigenvector k in column k) from d and the rows of V^T.</summary>
    private static (double[] Values, double[] Vectors) Sorted(double[] d, double[] vt, int n) =>
        Sorted(d, vt, n, new double[n], new double[(long)n * n]);

    private static (double[] Values, double[] Vectors) Sorted(double[] d, double[] vt, int n, double[] values,
        double[] vectors)
    {
        var order = Enumerable.Range(0, n).OrderBy(k => d[k]).ToArray();
        for (int k = 0; k < n; k++)
        {
            values[k] = d[order[k]];
            for (int i = 0; i < n; i++) vectors[i * n + k] = vt[order[k] * n + i];
        }
        return (values, vectors);
    }

    /// <summary><c>V diag(f(values)) V^T</c> for the symmetric matrix <paramref name="a"/>, on
    /// <paramref name="threads"/> cores.</summary>
    public static double[] Function(double[] a, int n, Func<double, double> f, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(f);
        var (values, vectors) = Decompose(a, n, threads);
        return Compose(values, vectors, n, f, threads);
    }

    /// <summary><c>V diag(f(values)) V^T</c> from a decomposition: <c>(V diag(f))</c> times <c>V^T</c>, a symmetric
    /// product with V read by rows as its transpose (<see cref="DoubleGemm.MultiplyTransposed"/>), on
    /// <paramref name="threads"/> cores.</summary>
    public static double[] Compose(double[] values, double[] vectors, int n, Func<double, double> f, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(f);
        var fv = values.Select(f).ToArray();
        var scaled = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            scaled[i * n + k] = vectors[i * n + k] * fv[k];
        var product = new double[n * n];
        DoubleGemm.MultiplyTransposed(product, scaled, vectors, n, threads, symmetric: true);
        return product;
    }

    /// <summary>The principal square root of a symmetric positive semi-definite matrix (negative rounding noise in
    /// its eigenvalues taken as 0, as the peer does), on <paramref name="threads"/> cores.</summary>
    public static double[] Sqrt(double[] a, int n, int threads = 1) =>
        Function(a, n, l => Math.Sqrt(Math.Max(l, 0)), threads);

    /// <summary>The transpose of the n x n matrix <paramref name="m"/>.</summary>
    public static double[] Transpose(double[] m, int n)
    {
        ArgumentNullException.ThrowIfNull(m);
        var t = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            t[j * n + i] = m[i * n + j];
        return t;
    }

    /// <summary>
    /// Householder's reduction of the symmetric matrix in <paramref name="v"/> to a tridiagonal one: on return
    /// <paramref name="d"/> is its diagonal, <paramref name="e"/> its subdiagonal (e[0] = 0, e[i] beside d[i-1])
    /// and <paramref name="v"/> the orthogonal matrix of the reduction.
    /// </summary>
    private static void Tridiagonalize(double[] v, double[] d, double[] e, int n)
    {
        for (int j = 0; j < n; j++) d[j] = v[(n - 1) * n + j];
        for (int i = n - 1; i > 0; i--)
        {
            // The Householder vector that zeroes row i left of its subdiagonal, scaled against under/overflow.
            double scale = 0, h = 0;
            for (int k = 0; k < i; k++) scale += Math.Abs(d[k]);
            if (scale == 0)
            {
                e[i] = d[i - 1];
                for (int j = 0; j < i; j++)
                {
                    d[j] = v[(i - 1) * n + j];
                    v[i * n + j] = 0;
                    v[j * n + i] = 0;
                }
            }
            else
            {
                for (int k = 0; k < i; k++)
                {
                    d[k] /= scale;
                    h += d[k] * d[k];
                }
                double f = d[i - 1];
                double g = Math.Sqrt(h);
                if (f > 0) g = -g;
                e[i] = scale * g;
                h -= f * g;
                d[i - 1] = f - g;
                for (int j = 0; j < i; j++) e[j] = 0;
                // p = A u / h (in e), then the symmetric rank-2 update A -= u q^T + q u^T.
                for (int j = 0; j < i; j++)
                {
                    f = d[j];
                    v[j * n + i] = f;
                    g = e[j] + v[j * n + j] * f;
                    for (int k = j + 1; k <= i - 1; k++)
                    {
                        g += v[k * n + j] * d[k];
                        e[k] += v[k * n + j] * f;
                    }
                    e[j] = g;
                }
                f = 0;
                for (int j = 0; j < i; j++)
                {
                    e[j] /= h;
                    f += e[j] * d[j];
                }
                double hh = f / (h + h);
                for (int j = 0; j < i; j++) e[j] -= hh * d[j];
                for (int j = 0; j < i; j++)
                {
                    f = d[j];
                    g = e[j];
                    for (int k = j; k <= i - 1; k++) v[k * n + j] -= f * e[k] + g * d[k];
                    d[j] = v[(i - 1) * n + j];
                    v[i * n + j] = 0;
                }
            }
            d[i] = h;
        }
        // The product of the reflections, accumulated into v.
        for (int i = 0; i < n - 1; i++)
        {
            v[(n - 1) * n + i] = v[i * n + i];
            v[i * n + i] = 1;
            double h = d[i + 1];
            if (h != 0)
            {
                for (int k = 0; k <= i; k++) d[k] = v[k * n + i + 1] / h;
                for (int j = 0; j <= i; j++)
                {
                    double g = 0;
                    for (int k = 0; k <= i; k++) g += v[k * n + i + 1] * v[k * n + j];
                    for (int k = 0; k <= i; k++) v[k * n + j] -= g * d[k];
                }
            }
            for (int k = 0; k <= i; k++) v[k * n + i + 1] = 0;
        }
        for (int j = 0; j < n; j++)
        {
            d[j] = v[(n - 1) * n + j];
            v[(n - 1) * n + j] = 0;
        }
        v[(n - 1) * n + n - 1] = 1;
        e[0] = 0;
    }

    /// <summary>
    /// The QL iteration with implicit shifts on the tridiagonal (d, e): on return d holds the eigenvalues, and
    /// <paramref name="rotations"/> the Givens rotations that, applied in order to the rows of the reduction's matrix
    /// transposed, make them the eigenvectors (the rotations depend on d and e only, so they can wait).
    /// </summary>
    private static void DiagonalizeTridiagonal(Rotations rotations, double[] d, double[] e, int n)
    {
        for (int i = 1; i < n; i++) e[i - 1] = e[i];
        e[n - 1] = 0;
        double shift = 0, norm = 0;
        const double Epsilon = 2.220446049250313e-16; // 2^-52
        for (int l = 0; l < n; l++)
        {
            // The first negligible subdiagonal element at or after l splits the matrix there.
            norm = Math.Max(norm, Math.Abs(d[l]) + Math.Abs(e[l]));
            int m = l;
            while (m < n - 1 && Math.Abs(e[m]) > Epsilon * norm) m++;
            if (m > l)
            {
                int sweeps = 0;
                do
                {
                    if (++sweeps > 60) throw new InvalidOperationException("The QL iteration did not converge.");
                    // Wilkinson's shift from the leading 2x2 block.
                    double g = d[l];
                    double p = (d[l + 1] - g) / (2 * e[l]);
                    double r = Hypot(p, 1);
                    if (p < 0) r = -r;
                    d[l] = e[l] / (p + r);
                    d[l + 1] = e[l] * (p + r);
                    double dl1 = d[l + 1];
                    double h = g - d[l];
                    for (int i = l + 2; i < n; i++) d[i] -= h;
                    shift += h;
                    // The implicit QL step: Givens rotations from m-1 up to l, applied to the vectors as well.
                    p = d[m];
                    double c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
                    double el1 = e[l + 1];
                    for (int i = m - 1; i >= l; i--)
                    {
                        c3 = c2;
                        c2 = c;
                        s2 = s;
                        g = c * e[i];
                        h = c * p;
                        r = Hypot(p, e[i]);
                        e[i + 1] = s * r;
                        s = e[i] / r;
                        c = p / r;
                        p = c * d[i] - s * g;
                        d[i + 1] = h + s * (c * g + s * d[i]);
                        rotations.Add(i, c, s);
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1;
                    e[l] = s * p;
                    d[l] = c * p;
                }
                while (Math.Abs(e[l]) > Epsilon * norm);
            }
            d[l] += shift;
            e[l] = 0;
        }
    }

    /// <summary>Rows i and i+1 of V^T (columns of V) rotated: <c>v_{i+1} = s v_i + c v_{i+1}</c>,
    /// <c>v_i = c v_i - s v_{i+1}</c>.</summary>
    private static void Rotate(double[] vt, int i, int n, double c, double s)
    {
        var a = vt.AsSpan(i * n, n);
        var b = vt.AsSpan((i + 1) * n, n);
        for (int k = 0; k < n; k++)
        {
            double h = b[k];
            b[k] = s * a[k] + c * h;
            a[k] = c * a[k] - s * h;
        }
    }

    private static double Hypot(double a, double b)
    {
        double x = Math.Abs(a), y = Math.Abs(b);
        if (x < y) (x, y) = (y, x);
        if (x == 0) return 0;
        double t = y / x;
        return x * Math.Sqrt(1 + t * t);
    }

    // ---------------------------------------------------------------- the version for vectors and cores

    /// <summary>The Givens rotations of a QL iteration, in the order they were made: rows i and i+1 of V^T with
    /// cosine c and sine s (<see cref="Rotate"/>).</summary>
    internal sealed class Rotations
    {
        public int[] Row { get; private set; } = new int[256];

        public double[] Cos { get; private set; } = new double[256];

        public double[] Sin { get; private set; } = new double[256];

        public int Count { get; private set; }

        /// <summary>None recorded, the arrays kept for the next iteration.</summary>
        public void Clear() => Count = 0;

        public void Add(int row, double c, double s)
        {
            if (Count == Row.Length)
            {
                Row = Grow(Row);
                Cos = Grow(Cos);
                Sin = Grow(Sin);
            }
            Row[Count] = row;
            Cos[Count] = c;
            Sin[Count] = s;
            Count++;
        }

        private static T[] Grow<T>(T[] array)
        {
            var larger = new T[2 * array.Length];
            Array.Copy(array, larger, array.Length);
            return larger;
        }
    }

    /// <summary>
    /// Householder's reduction from the top (Golub and Van Loan, Matrix Computations, algorithm 8.3.1) on the
    /// symmetric matrix <paramref name="a"/>, row-major, of which only the upper triangle is read and kept: step k
    /// takes row k's part right of the diagonal, x, and the reflection <c>H = I - beta v v^T</c> with
    /// <c>H x = alpha e_1</c>; on the trailing block B, <c>p = beta B v</c>, <c>w = p - (beta p^T v / 2) v</c>,
    /// <c>B -= v w^T + w v^T</c>. One pass over the block's upper triangle a step: its first row is the next
    /// step's x, so it is updated first and the next reflection made from it; then each other row i is updated from
    /// its diagonal on and, while it is in registers, gives the next <c>B v</c> both its own dot product
    /// (<c>sum_(t&gt;=i) B_it v_t</c>) and, for each later column t, the term <c>B_it v_i</c> that the lower triangle
    /// would have given p_t (a symmetric product from one triangle, as BLAS's dsymv). Half the memory traffic of the
    /// full matrix, which is what this step is bound by.
    /// </summary>
    /// <remarks>
    /// The rows of a step go in fixed chunks of <see cref="ReductionChunk"/>, each summing its rows' terms into a
    /// vector of its own, and p is those vectors added in chunk order: the cores take whole chunks, so the sums, and
    /// the result, do not depend on how many there are. On return d is T's diagonal, e its subdiagonal (e[0] = 0,
    /// e[i] beside d[i-1]) as <see cref="DiagonalizeTridiagonal"/> reads them, and row k of <paramref name="a"/>
    /// holds v_k right of the diagonal, with <paramref name="beta"/>[k], for <see cref="AccumulateReflections"/>.
    /// </remarks>
    private static unsafe void ReduceRows<TVector>(double[] a, double[] d, double[] e, double[] beta, int n,
        int threads, Workspace workspace)
        where TVector : struct
    {
        var p = workspace.P; // p of the current step at rows k+1..n-1
        var w = workspace.W; // w likewise (a second array: the rows read all of w while the chunks sum the next p)
        var partials = workspace.Partials; // chunk c's terms of the next p, row c
        Array.Clear(p);
        Array.Clear(w);
        fixed (double* pa = a, pp = p, pw = w, pc = partials)
        {
            double* ap = pa, vp = pp, wp = pw, cp = pc; // for the lambdas
            if (n >= 3)
            {
                // The first p = beta_0 B v_0: the pass of a step whose update is zero (w = 0 leaves every row as it
                // is, exactly).
                beta[0] = Reflect(ap + 1, n - 1, out e[1]);
                NextProduct<TVector>(ap, -1, n, ap, wp, ap + 1, beta[0], vp, cp, threads);
            }
            for (int k = 0; k + 2 < n; k++)
            {
                int m = n - k - 1;
                double* v = ap + (long)k * n + k + 1; // v_k, m long; row or column i of the block is index i - k - 1
                d[k] = ap[(long)k * n + k];
                double pv = 0;
                for (int t = 0; t < m; t++) pv += vp[k + 1 + t] * v[t];
                double half = beta[k] * pv / 2;
                for (int t = 0; t < m; t++) wp[k + 1 + t] = vp[k + 1 + t] - half * v[t];
                double* wk = wp + k + 1;
                RankTwo<TVector>(ap + (long)(k + 1) * n + k + 1, v[0], wk, wk[0], v, m);
                if (k + 3 < n)
                {
                    // The next reflection, from row k+1 as just updated, and the rows below updated with the next p.
                    double* next = ap + (long)(k + 1) * n + k + 2;
                    beta[k + 1] = Reflect(next, m - 1, out e[k + 2]);
                    NextProduct<TVector>(ap, k, n, v, wk, next, beta[k + 1], vp, cp, threads);
                }
                else
                {
                    // The last step: the last row's one element of the upper triangle, its diagonal.
                    double* last = ap + (long)(n - 1) * n + n - 1;
                    *last = *last - v[1] * wk[1] - wk[1] * v[1];
                }
            }
            if (n >= 2)
            {
                d[n - 2] = ap[(long)(n - 2) * n + n - 2];
                e[n - 1] = ap[(long)(n - 2) * n + n - 1]; // row n-2 is the one updated whole
            }
            d[n - 1] = ap[(long)(n - 1) * n + n - 1];
            e[0] = 0;
        }
    }

    /// <summary>Rows of the reduction's step that a chunk takes (<see cref="ReduceRows{TVector}"/>): fixed, so that
    /// its sums do not depend on the number of cores; 32 rows keep a core's share of a 512 x 512 step in 8 chunks
    /// and the chunks' vectors small beside the block.</summary>
    private const int ReductionChunk = 32;

    /// <summary>
    /// Step k's rows k+2..n-1 of <see cref="ReduceRows{TVector}"/>, each updated from its diagonal on
    /// (<c>row -= v_i w + w_i v</c>, with v and w indexed from column k+1), and the next step's
    /// <c>p = beta B next</c> (<paramref name="next"/> indexed from column k+2) summed from them, chunk by chunk, on
    /// the cores when the step is large enough to pay for the hand-over. k = -1 with w = 0: the first p alone.
    /// </summary>
    private static unsafe void NextProduct<TVector>(double* a, int k, int n, double* v, double* w, double* next,
        double beta, double* p, double* partials, int threads)
        where TVector : struct
    {
        int first = k + 2, rows = n - first;
        int chunks = (rows + ReductionChunk - 1) / ReductionChunk;
        void Chunk(int c)
        {
            int lo = first + c * ReductionChunk, hi = Math.Min(n, lo + ReductionChunk);
            double* partial = partials + (long)c * n;
            new Span<double>(partial + lo, n - lo).Clear();
            for (int i = lo; i < hi; i++)
            {
                int r = i - k - 1;
                double* row = a + (long)i * n + i;
                double vi = v[r], wi = w[r], ni = next[i - first];
                double diagonal = row[0] - vi * w[r] - wi * v[r];
                row[0] = diagonal;
                double dot = UpdateRow<TVector>(row + 1, vi, w + r + 1, wi, v + r + 1, next + (i - first) + 1, ni,
                    partial + i + 1, n - i - 1);
                partial[i] += diagonal * ni + dot;
            }
        }
        bool shared = threads > 1 && chunks > 1 && (long)rows * rows / 2 >= 2 * 64 * 64; // 64 x 64 a core
        if (shared)
        {
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Chunk);
        }
        else
        {
            for (int c = 0; c < chunks; c++) Chunk(c);
        }
        for (int i = first; i < n; i++)
        {
            double sum = 0;
            for (int c = 0; c <= (i - first) / ReductionChunk; c++) sum += partials[(long)c * n + i];
            p[i] = beta * sum;
        }
    }
    /// <summary>
    /// The reflection of x (m long, turned into v in place): <c>H = I - beta v v^T</c> with
    /// <c>H x = alpha e_1</c>; returns beta (0 and x left as it is when x is 0: no reflection).
    /// </summary>
    private static unsafe double Reflect(double* x, int m, out double alpha)
    {
        double scale = 0; // ||x|| scaled against overflow
        for (int j = 0; j < m; j++) scale = Math.Max(scale, Math.Abs(x[j]));
        if (scale == 0)
        {
            alpha = 0;
            return 0;
        }
        double squares = 0;
        for (int j = 0; j < m; j++) squares += x[j] / scale * (x[j] / scale);
        double sigma = scale * Math.Sqrt(squares), x0 = x[0];
        alpha = x0 > 0 ? -sigma : sigma; // the sign that avoids cancellation in v0 = x0 - alpha
        x[0] = x0 - alpha;
        return 1 / (sigma * (sigma + Math.Abs(x0))); // 2 / v^T v
    }

    /// <summary>Reflections per block of <see cref="AccumulateReflections"/>: the depth of its update's product.
    /// At n = 512 on the build machine (all blocks' V and Y made first) 32 took 4.9 ms on one core against 4.9 with
    /// 16 and 5.3 and 5.7 with 48 and 64 (the blocks' T and Y cost b^2 m each, the products' depth wants b large),
    /// and 3.6 ms on two against 3.8, 3.7 and 4.2.</summary>
    internal const int ReflectionBlock = 32;

    /// <summary>Blocks whose V and Y <see cref="AccumulateReflections"/> makes at once (shared out among the cores)
    /// before applying them: few enough that they are still in the L2 when applied (about 0.5 MB at n = 512). At
    /// n = 512, all 16 at once took 5.0 ms on one core and 3.5 on two, four at a time 4.6 and 3.1 (two: 4.5 and 3.1;
    /// one, no sharing out: 4.6 and 3.6).</summary>
    private const int PreparedAtOnce = 4;

    /// <summary>Where block q's V (m x b) and Y (b x m) lie in <see cref="Workspace"/>'s arrays: one of
    /// <see cref="PreparedAtOnce"/> slots of <c>ReflectionBlock x n</c>.</summary>
    private static int BlockOffset(int q, int n) => q % PreparedAtOnce * ReflectionBlock * n;

    /// <summary>
    /// <c>Q^T = H_{n-3} ... H_1 H_0</c>, the transpose of the reduction's orthogonal matrix (A = Q T Q^T), in
    /// blocks of b = <see cref="ReflectionBlock"/> reflections as matrix products (the compact WY representation of
    /// Schreiber and Van Loan; the plan of LAPACK's dorgtr). Block q (reflections k0 = q b .. k0+b-1) is
    /// <c>H_{k0+b-1} ... H_{k0} = I - V T^T V^T</c> (<see cref="PrepareBlock"/>). Q^T is formed as
    /// <c>I H_{n-3} ... H_0</c>, the blocks applied on the right from the last to the first: before block q,
    /// <c>X = I H_{n-3} ... H_{k0+b}</c> is the identity's outside its rows and columns k0+b+1.., so the block
    /// changes only X's trailing m x m part X_t (rows and columns k0+1..), <c>X_t += (X_t V) Y</c> with
    /// <c>Y = -T^T V^T</c>; and as X_t's first b rows and columns are still the identity's,
    /// <c>X_t V</c> is V's first b rows above <c>X_t[b.., b..] V[b.., :]</c>. Two <see cref="DoubleGemm"/>
    /// products a block, each on every core; the blocks' V, T and Y made <see cref="PreparedAtOnce"/> at a time
    /// before them, those blocks shared out among the cores. Every sum is made in one order, so the result does not
    /// depend on the number of threads.
    /// </summary>
    private static void AccumulateReflections(double[] qt, double[] reduced, double[] beta, int n, int threads,
        Workspace workspace)
    {
        Array.Clear(qt);
        for (int i = 0; i < n; i++) qt[(long)i * n + i] = 1;
        var xv = workspace.Projections; // X_t V (m, b)
        var v = workspace.Reflectors;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        for (int end = Blocks(n); end > 0; end -= PreparedAtOnce)
        {
            int first = Math.Max(0, end - PreparedAtOnce);
            PrepareBlocks(first, end, reduced, beta, n, workspace, forward: false, options);
            for (int q = end - 1; q >= first; q--)
            {
                int k0 = q * ReflectionBlock, b = Math.Min(ReflectionBlock, n - 2 - k0), m = n - k0 - 1;
                int offset = BlockOffset(q, n), trailing = (k0 + 1) * n + k0 + 1;
                Array.Copy(v, offset, xv, 0, b * b); // V's first b rows: X_t's first b rows are e_0 .. e_(b-1)
                DoubleGemm.Multiply(xv, b * b, b, qt, trailing + b * n + b, n, v, offset + b * b, b, m - b, m - b,
                    b, threads);
                DoubleGemm.Multiply(qt, trailing, n, xv, 0, b, workspace.Combined, offset, m, m, b, m, threads,
                    accumulate: true);
            }
        }
    }

    /// <summary>
    /// <c>X = X Q = X H_0 H_1 ... H_{n-3}</c> for a dense n x n X (<see cref="DecomposeApplied"/>'s B): the blocks
    /// of <see cref="AccumulateReflections"/> applied on the right from the first to the last, block q
    /// (<c>H_{k0} ... H_{k0+b-1} = I - V T V^T</c>) changing X's columns k0+1.. on every row,
    /// <c>X_t += (X_t V) Y</c> with <c>Y = -T V^T</c>: two <see cref="DoubleGemm"/> products a block, 2 n^3
    /// operations in all (X has no identity's rows to skip).
    /// </summary>
    private static void ApplyReflections(double[] x, double[] reduced, double[] beta, int n, int threads,
        Workspace workspace)
    {
        var xv = workspace.Projections; // X_t V (n, b)
        var v = workspace.Reflectors;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        int blocks = Blocks(n);
        for (int start = 0; start < blocks; start += PreparedAtOnce)
        {
            int stop = Math.Min(blocks, start + PreparedAtOnce);
            PrepareBlocks(start, stop, reduced, beta, n, workspace, forward: true, options);
            for (int q = start; q < stop; q++)
            {
                int k0 = q * ReflectionBlock, b = Math.Min(ReflectionBlock, n - 2 - k0), m = n - k0 - 1;
                int offset = BlockOffset(q, n);
                DoubleGemm.Multiply(xv, 0, b, x, k0 + 1, n, v, offset, b, n, m, b, threads);
                DoubleGemm.Multiply(x, k0 + 1, n, xv, 0, b, workspace.Combined, offset, m, n, b, m, threads,
                    accumulate: true);
            }
        }
    }

    /// <summary>Blocks first..end-1's V and Y (<see cref="PrepareBlock{TVector}"/>), shared out among the
    /// cores.</summary>
    private static void PrepareBlocks(int first, int end, double[] reduced, double[] beta, int n,
        Workspace workspace, bool forward, ParallelOptions options) =>
        Parallel.For(first, end, options, q =>
        {
            switch (CpuVector.Bits)
            {
                case 512: PrepareBlock<Vector512<double>>(q, reduced, beta, n, workspace, forward); break;
                case 256: PrepareBlock<Vector256<double>>(q, reduced, beta, n, workspace, forward); break;
                default: PrepareBlock<Vector128<double>>(q, reduced, beta, n, workspace, forward); break;
            }
        });

    /// <summary>The number of blocks of <see cref="ReflectionBlock"/> among the n - 2 reflections.</summary>
    private static int Blocks(int n) => Math.Max(0, (n - 2 + ReflectionBlock - 1) / ReflectionBlock);

    /// <summary>
    /// Block q's V (m x b, row-major: reflection k0+j in column j, from row j, zeros above) and
    /// <c>Y = -T^T V^T</c> (b x m; with <paramref name="forward"/>, for <see cref="ApplyReflections"/>,
    /// <c>Y = -T V^T</c>) into the workspace, with T (b x b, upper triangular) such that
    /// <c>H_{k0} H_{k0+1} ... H_{k0+b-1} = I - V T V^T</c> (so the product in the other order is
    /// <c>I - V T^T V^T</c>), built column by column: <c>T[j, j] = beta_j</c>,
    /// <c>T[0..j, j] = -beta_j T[0..j, 0..j] (V[:, 0..j]^T v_j)</c>. V^T is read in place from the reduction's
    /// rows k0.. (v_{k0+j} right of the diagonal), once the diagonal and what is left of it in those rows, past
    /// column k0, is set to 0 (nothing reads it after the reduction).
    /// </summary>
    private static unsafe void PrepareBlock<TVector>(int q, double[] reduced, double[] beta, int n,
        Workspace workspace, bool forward)
        where TVector : struct
    {
        int k0 = q * ReflectionBlock, b = Math.Min(ReflectionBlock, n - 2 - k0), m = n - k0 - 1;
        long offset = BlockOffset(q, n);
        double* t = stackalloc double[ReflectionBlock * ReflectionBlock]; // T (b, b), upper triangular
        fixed (double* pr = reduced, pv = workspace.Reflectors, py = workspace.Combined)
        {
            double* vt = pr + (long)k0 * n + k0 + 1; // V^T (b, m), row stride n
            double* v = pv + offset, y = py + offset;
            for (int j = 0; j < b; j++)
            for (int r = 0; r < j; r++)
                vt[(long)j * n + r] = 0;
            // V from V^T, four rows of V^T at a time (four reads a row of V, not one 4 KB apart each).
            int four = 0;
            for (; four + 4 <= b; four += 4)
            {
                double* r0 = vt + (long)four * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
                for (int r = 0; r < m; r++)
                {
                    double* to = v + (long)r * b + four;
                    to[0] = r0[r];
                    to[1] = r1[r];
                    to[2] = r2[r];
                    to[3] = r3[r];
                }
            }
            for (int j = four; j < b; j++)
            for (int r = 0; r < m; r++)
                v[(long)r * b + j] = vt[(long)j * n + r];
            for (int j = 0; j < b; j++)
            {
                // v_i . v_j (v_j is 0 before column j) into T's column j, then T[0..j, 0..j] times it in place (row
                // i reads the column from i down).
                double* vj = vt + (long)j * n + j;
                for (int i = 0; i < j; i++) t[i * b + j] = Dot<TVector>(vt + (long)i * n + j, vj, m - j);
                double bj = beta[k0 + j];
                for (int i = 0; i < j; i++)
                {
                    double sum = 0;
                    for (int l = i; l < j; l++) sum += t[i * b + l] * t[l * b + j];
                    t[i * b + j] = -bj * sum;
                }
                t[j * b + j] = bj;
            }
            // Row i of Y: -sum_{j <= i} T[j, i] v_j, or forward, -sum_{j >= i} T[i, j] v_j.
            for (int i = 0; i < b; i++)
            {
                double* yi = y + (long)i * m;
                new Span<double>(yi, m).Clear();
                if (forward)
                {
                    for (int j = i; j < b; j++) Axpy<TVector>(yi + j, -t[i * b + j], vt + (long)j * n + j, m - j);
                }
                else
                {
                    for (int j = 0; j <= i; j++) Axpy<TVector>(yi + j, -t[j * b + i], vt + (long)j * n + j, m - j);
                }
            }
        }
    }

    /// <summary>x . y over m doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe double Dot<TVector>(double* x, double* y, int m)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, j = 0;
        var sum = default(TVector);
        for (; j + lanes <= m; j += lanes)
        {
            sum = DoubleSimd<TVector>.MultiplyAdd(DoubleSimd<TVector>.Load(x + j), DoubleSimd<TVector>.Load(y + j),
                sum);
        }
        double total = DoubleSimd<TVector>.Sum(sum);
        for (; j < m; j++) total += x[j] * y[j];
        return total;
    }

    /// <summary>y += s x over m doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Axpy<TVector>(double* y, double s, double* x, int m)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, j = 0;
        var scale = DoubleSimd<TVector>.Broadcast(s);
        for (; j + lanes <= m; j += lanes)
        {
            DoubleSimd<TVector>.Store(DoubleSimd<TVector>.MultiplyAdd(scale, DoubleSimd<TVector>.Load(x + j),
                DoubleSimd<TVector>.Load(y + j)), y + j);
        }
        for (; j < m; j++) y[j] += s * x[j];
    }

    /// <summary>One row of the reduction's update, row -= vi w + wi v over m doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RankTwo<TVector>(double* row, double vi, double* w, double wi, double* v, int m)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, j = 0;
        var nvi = DoubleSimd<TVector>.Broadcast(-vi);
        var nwi = DoubleSimd<TVector>.Broadcast(-wi);
        for (; j + lanes <= m; j += lanes)
        {
            var r = DoubleSimd<TVector>.MultiplyAdd(nvi, DoubleSimd<TVector>.Load(w + j),
                DoubleSimd<TVector>.Load(row + j));
            r = DoubleSimd<TVector>.MultiplyAdd(nwi, DoubleSimd<TVector>.Load(v + j), r);
            DoubleSimd<TVector>.Store(r, row + j);
        }
        for (; j < m; j++) row[j] = row[j] - vi * w[j] - wi * v[j];
    }

    /// <summary>
    /// The part of a row right of its diagonal in <see cref="NextProduct{TVector}"/>, m doubles: updated as
    /// <see cref="RankTwo{TVector}"/> does, then its dot product with <paramref name="next"/> returned and
    /// <c>ni row</c> added to <paramref name="partial"/> (the row's terms of the later rows' p, from the lower
    /// triangle it stands for), in one pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe double UpdateRow<TVector>(double* row, double vi, double* w, double wi, double* v,
        double* next, double ni, double* partial, int m)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, j = 0;
        var nvi = DoubleSimd<TVector>.Broadcast(-vi);
        var nwi = DoubleSimd<TVector>.Broadcast(-wi);
        var vni = DoubleSimd<TVector>.Broadcast(ni);
        var sum = default(TVector);
        for (; j + lanes <= m; j += lanes)
        {
            var r = DoubleSimd<TVector>.MultiplyAdd(nvi, DoubleSimd<TVector>.Load(w + j),
                DoubleSimd<TVector>.Load(row + j));
            r = DoubleSimd<TVector>.MultiplyAdd(nwi, DoubleSimd<TVector>.Load(v + j), r);
            DoubleSimd<TVector>.Store(r, row + j);
            sum = DoubleSimd<TVector>.MultiplyAdd(r, DoubleSimd<TVector>.Load(next + j), sum);
            DoubleSimd<TVector>.Store(DoubleSimd<TVector>.MultiplyAdd(vni, r, DoubleSimd<TVector>.Load(partial + j)),
                partial + j);
        }
        double dot = DoubleSimd<TVector>.Sum(sum);
        for (; j < m; j++)
        {
            double r = row[j] - vi * w[j] - wi * v[j];
            row[j] = r;
            dot += r * next[j];
            partial[j] += ni * r;
        }
        return dot;
    }
}
