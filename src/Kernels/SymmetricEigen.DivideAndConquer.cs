using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

// The eigenvectors of a symmetric tridiagonal matrix by divide and conquer (Cuppen 1981; the eigenvectors as Gu and
// Eisenstat 1995 make them orthogonal), the plan LAPACK's dstedc follows (dlaed0 to dlaed4): the second step of
// SymmetricEigen.DecomposeTransposed, where the QL iteration's rotations cost more than the reduction itself.
//
// Glossary: T (n x n) symmetric tridiagonal, diagonal d[0..n), off-diagonal off[0..n-1) (off[i] couples rows i and
//   i+1). Z^T (n, n) row-major, Z^T[k*n + i]: T's eigenvectors as rows, T = Z diag(d) Z^T on return (rows, so that
//   a rotation of two and a copy are contiguous). A sub-problem [lo, lo + m) owns the diagonal block of Z^T at
//   (lo, lo) (row stride n) and d[lo..lo+m); off the blocks Z^T stays 0.
//   In a merge: D the children's eigenvalues (the poles), z the rank-one vector, rho > 0 its weight, k the poles
//   left after deflation, lambda_j the roots of the secular equation, tau_j = lambda_j - D[origin_j].

public static partial class SymmetricEigen
{
    /// <summary>Sub-problems of at most this size are solved by the QL iteration (their rotations applied to an
    /// identity block are cheap at this size); larger ones are split in two.</summary>
    internal const int LeafSize = 16;

    /// <summary>Sub-problems from this size on share out their halves and their merges' roots and products among
    /// the cores; smaller ones are done on one (a hand-over costs a few microseconds, a merge of 64 about as
    /// much).</summary>
    private const int SharedMerge = 128;

    /// <summary>
    /// The arrays of <see cref="DivideAndConquer"/> for an n x n tridiagonal matrix: three n x n matrices (the
    /// eigenvectors, the gathered columns of a merge, its secular matrix) and n-long vectors, each sub-problem
    /// working in its own rows and range of them, so that the two halves of a split can run side by side.
    /// </summary>
    internal sealed class TridiagonalWork(int n)
    {
        public int Size { get; } = n;

        public double[] Vectors { get; } = new double[(long)n * n]; // Z^T (n, n): eigenvectors as rows

        public double[] Gathered { get; } = new double[(long)n * n]; // a merge's rows of Z^T, kept ones first

        public double[] Secular { get; } = new double[(long)n * n]; // D_i - lambda_j, then the merged eigenvectors

        public double[] Off { get; } = new double[n];

        public double[] Z { get; } = new double[n];

        public double[] Poles { get; } = new double[n];

        public double[] Weights { get; } = new double[n]; // z_i^2 of the kept poles

        public double[] Tau { get; } = new double[n];

        public double[] PoleAt { get; } = new double[n];

        public double[] Scale { get; } = new double[n];

        public int[] Order { get; } = new int[n];

        public int[] Kept { get; } = new int[n];

        public int[] Deflated { get; } = new int[n];

        public int[] Type { get; } = new int[n];

        public int[] Position { get; } = new int[n];

        public int[] Origin { get; } = new int[n];
    }

    /// <summary>
    /// The eigenvalues (into <paramref name="d"/>, in no particular order) and eigenvectors (the rows of
    /// <c>work.Vectors</c>) of the symmetric tridiagonal matrix with diagonal <paramref name="d"/> and off-diagonal
    /// <c>work.Off</c>, by divide and conquer.
    /// </summary>
    /// <remarks>
    /// <para>Cuppen's idea: T with its coupling <c>beta</c> between rows h-1 and h is two tridiagonal matrices plus a
    /// rank-one matrix, <c>T = diag(T1, T2) + |beta| u u^T</c> with <c>u = e_(h-1) + sign(beta) e_h</c>, once
    /// |beta| is taken off <c>d[h-1]</c> and <c>d[h]</c> (the "tear"). Solve the halves (recursively; the smallest by
    /// the QL iteration), <c>T1 = Q1 D1 Q1^T</c>, <c>T2 = Q2 D2 Q2^T</c>; then with <c>Q = diag(Q1, Q2)</c>,
    /// <c>T = Q (D + rho z z^T) Q^T</c>, where <c>z = Q^T u</c> is the last row of Q1 beside the first row of Q2
    /// (<see cref="Merge"/>). The eigenproblem of a diagonal plus a rank-one matrix is what a merge solves: its
    /// eigenvalues are the roots of the secular equation <c>1/rho + sum_i z_i^2 / (D_i - lambda) = 0</c>, one
    /// between each pair of neighbouring poles D_i (and one past the last), and its eigenvectors are
    /// <c>(D - lambda_j I)^(-1) z</c>, normalised. Multiplying them by Q is a matrix product, which is where the
    /// time goes and what the processor does fastest (<see cref="DoubleGemm"/>): about <c>n^3</c> multiply-adds for
    /// the whole solve at most, against the QL iteration's <c>3 n^3</c> in Givens rotations, and far fewer when
    /// eigenvalues deflate (below).</para>
    /// <para>The matrix is scaled by a power of two (exact) so that its largest element is near 1, as dstedc does,
    /// so that the deflation's tolerance is relative to it; the eigenvalues are scaled back.</para>
    /// <para>The result does not depend on <paramref name="threads"/>: each root and each element of a product is
    /// computed by one thread in one order.</para>
    /// </remarks>
    internal static void DivideAndConquer(double[] d, TridiagonalWork work, int threads)
    {
        int n = work.Size;
        var off = work.Off;
        double largest = 0;
        for (int i = 0; i < n; i++) largest = Math.Max(largest, Math.Abs(d[i]));
        for (int i = 0; i + 1 < n; i++) largest = Math.Max(largest, Math.Abs(off[i]));
        Array.Clear(work.Vectors);
        if (largest == 0)
        {
            for (int i = 0; i < n; i++) work.Vectors[(long)i * n + i] = 1;
            return;
        }
        int exponent = Math.ILogB(largest);
        for (int i = 0; i < n; i++) d[i] = Math.ScaleB(d[i], -exponent);
        for (int i = 0; i + 1 < n; i++) off[i] = Math.ScaleB(off[i], -exponent);
        Solve(d, work, 0, n, threads);
        for (int i = 0; i < n; i++) d[i] = Math.ScaleB(d[i], exponent);
    }

    /// <summary>The sub-problem [lo, lo + m): a leaf by the QL iteration, else torn in two halves, each solved (side
    /// by side when there are cores to spare and the halves are large enough to pay for the hand-off), then
    /// merged.</summary>
    private static void Solve(double[] d, TridiagonalWork work, int lo, int m, int threads)
    {
        if (m <= LeafSize)
        {
            Leaf(d, work, lo, m);
            return;
        }
        int h = m / 2;
        double beta = work.Off[lo + h - 1];
        d[lo + h - 1] -= Math.Abs(beta);
        d[lo + h] -= Math.Abs(beta);
        if (threads > 1 && m >= SharedMerge)
        {
            int split = threads / 2;
            var first = Task.Run(() => Solve(d, work, lo, h, split));
            Solve(d, work, lo + h, m - h, threads - split);
            first.GetAwaiter().GetResult();
        }
        else
        {
            Solve(d, work, lo, h, threads);
            Solve(d, work, lo + h, m - h, threads);
        }
        Merge(d, work, lo, h, m, beta, m >= SharedMerge ? threads : 1);
    }

    /// <summary>A small sub-problem: the QL iteration (<see cref="DiagonalizeTridiagonal"/>) on it, its rotations
    /// applied to the rows of an m x m identity, which so become the block's eigenvectors.</summary>
    private static void Leaf(double[] d, TridiagonalWork work, int lo, int m)
    {
        int n = work.Size;
        var diagonal = new double[m];
        var sub = new double[m]; // DiagonalizeTridiagonal's layout: sub[i] couples i-1 and i, sub[0] = 0
        for (int i = 0; i < m; i++)
        {
            diagonal[i] = d[lo + i];
            if (i > 0) sub[i] = work.Off[lo + i - 1];
        }
        var rotations = new Rotations();
        DiagonalizeTridiagonal(rotations, diagonal, sub, m);
        var vt = new double[m * m];
        for (int i = 0; i < m; i++) vt[i * m + i] = 1;
        for (int r = 0; r < rotations.Count; r++) Rotate(vt, rotations.Row[r], m, rotations.Cos[r], rotations.Sin[r]);
        for (int k = 0; k < m; k++)
        {
            d[lo + k] = diagonal[k];
            Array.Copy(vt, k * m, work.Vectors, (long)(lo + k) * n + lo, m);
        }
    }

    /// <summary>
    /// Merges the solved halves [lo, lo + h) and [lo + h, lo + m) of a sub-problem torn at coupling
    /// <paramref name="beta"/>: deflation, the secular equation's roots, Gu and Eisenstat's z, and the product of
    /// the merged eigenvectors with the halves'.
    /// </summary>
    /// <remarks>
    /// <para><b>Deflation</b> (dlaed2). Some eigenpairs of <c>D + rho z z^T</c> are known without solving anything:
    /// where <c>rho |z_i|</c> is below the tolerance (8 eps times the largest |D| or |z|), <c>(D_i, e_i)</c> is one to
    /// rounding; and where two poles are closer than the tolerance allows (<c>|(D_j - D_i) c s|</c> small, with
    /// <c>(c, s)</c> the Givens rotation that moves <c>z_i</c> into <c>z_j</c>), that rotation of the two eigenvectors
    /// makes <c>z_i = 0</c>, and pole i deflates. Equal eigenvalues (clusters at a floor) all deflate but one, so
    /// they make the merge cheaper; and the poles left are distinct, which the secular equation needs.</para>
    /// <para><b>The product</b> (dlaed3). An eigenvector of the upper half is 0 in the lower half's components and
    /// the other way round, unless a deflating rotation mixed two from different halves. So the kept ones are
    /// gathered in that order, upper-only, mixed, lower-only, and the upper components of the product take only
    /// the first two groups, the lower components only the last two: about half the multiply-adds of a dense
    /// product.</para>
    /// </remarks>
    private static void Merge(double[] d, TridiagonalWork work, int lo, int h, int m, double beta, int threads)
    {
        int n = work.Size;
        var q = work.Vectors; // eigenvector i of the block: row lo + i, components from column lo
        var z = work.Z;
        var (order, type) = (work.Order, work.Type);
        // z = Q^T u, normalised: component h-1 of the upper half's eigenvectors and component h of the lower's; each
        // half's is a row of an orthogonal matrix, so |z|^2 = 2 before the scaling.
        double rho = 2 * Math.Abs(beta), sign = beta >= 0 ? 1 : -1, half = Math.Sqrt(0.5);
        for (int i = 0; i < h; i++) z[lo + i] = half * q[(long)(lo + i) * n + lo + h - 1];
        for (int i = h; i < m; i++) z[lo + i] = sign * half * q[(long)(lo + i) * n + lo + h];
        double largest = 0, zLargest = 0;
        for (int i = 0; i < m; i++)
        {
            order[lo + i] = i;
            type[lo + i] = i < h ? 1 : 3; // 1: components of the upper half only, 3: of the lower, 2: both
            largest = Math.Max(largest, Math.Abs(d[lo + i]));
            zLargest = Math.Max(zLargest, Math.Abs(z[lo + i]));
        }
        // The poles in ascending order (a sort of index keys: deterministic, whatever the cores).
        var keys = new double[m];
        for (int i = 0; i < m; i++) keys[i] = d[lo + i];
        keys.AsSpan().Sort(order.AsSpan(lo, m));
        double tolerance = 8 * Epsilon * Math.Max(largest, zLargest);

        // Deflation: walk the poles upwards, holding the last one not deflated (previous) until the next one shows
        // whether the two are too close.
        var (kept, deflated) = (work.Kept, work.Deflated);
        int k = 0, gone = 0, previous = -1;
        foreach (int i in order.AsSpan(lo, m))
        {
            if (rho * Math.Abs(z[lo + i]) <= tolerance)
            {
                deflated[lo + gone++] = i;
                continue;
            }
            if (previous < 0)
            {
                previous = i;
                continue;
            }
            double s = z[lo + previous], c = z[lo + i];
            double norm = Hypot(c, s);
            c /= norm;
            s = -s / norm;
            double gap = d[lo + i] - d[lo + previous];
            if (Math.Abs(gap * c * s) <= tolerance)
            {
                // Rotate eigenvectors previous and i by (c, s): z_previous becomes 0, z_i takes the norm of both.
                z[lo + i] = norm;
                z[lo + previous] = 0;
                var x = q.AsSpan((int)((long)(lo + previous) * n + lo), m);
                var y = q.AsSpan((int)((long)(lo + i) * n + lo), m);
                for (int r = 0; r < m; r++) (x[r], y[r]) = (c * x[r] + s * y[r], c * y[r] - s * x[r]);
                if (type[lo + previous] != type[lo + i]) type[lo + i] = 2;
                double dp = d[lo + previous], di = d[lo + i];
                d[lo + previous] = dp * c * c + di * s * s;
                d[lo + i] = dp * s * s + di * c * c;
                deflated[lo + gone++] = previous;
            }
            else kept[lo + k++] = previous;
            previous = i;
        }
        if (previous >= 0) kept[lo + k++] = previous;

        // The kept eigenvectors in the order upper-only, mixed, lower-only (each group ascending), then the deflated
        // ones, copied out of the block (the product overwrites it).
        var position = work.Position;
        int[] count = [0, 0, 0, 0];
        for (int j = 0; j < k; j++) count[type[lo + kept[lo + j]]]++;
        int[] next = [0, 0, count[1], count[1] + count[2]];
        for (int j = 0; j < k; j++) position[lo + j] = next[type[lo + kept[lo + j]]]++;
        var gathered = work.Gathered;
        long block = (long)lo * n + lo;
        for (int j = 0; j < k; j++)
            Array.Copy(q, block + (long)kept[lo + j] * n, gathered, block + (long)position[lo + j] * n, m);
        for (int j = 0; j < gone; j++)
            Array.Copy(q, block + (long)deflated[lo + j] * n, gathered, block + (long)(k + j) * n, m);
        for (int j = 0; j < gone; j++) keys[j] = d[lo + deflated[lo + j]];

        SolveSecular(d, work, lo, k, rho, threads);

        // The block's new eigenvectors (rows) = the merged ones (rows, components in the gathered order) times the
        // gathered rows: the upper components from the upper-only and mixed rows, the lower from the mixed and
        // lower-only ones.
        int upper = count[1] + count[2], lower = count[2] + count[3];
        DoubleGemm.Multiply(q, (int)block, n, work.Secular, (int)block, n, gathered, (int)block, n, k, upper, h,
            threads);
        DoubleGemm.Multiply(q, (int)block + h, n, work.Secular, (int)block + count[1], n, gathered,
            (int)(block + (long)count[1] * n + h), n, k, lower, m - h, threads);
        for (int j = 0; j < gone; j++)
            Array.Copy(gathered, block + (long)(k + j) * n, q, block + (long)(k + j) * n, m);
        for (int j = 0; j < gone; j++) d[lo + k + j] = keys[j];
    }

    /// <summary>
    /// The k roots of the secular equation of the kept poles of a merge and their eigenvectors: on return
    /// <c>d[lo + j]</c> is root j and row j of the block of <c>work.Secular</c> at (lo, lo) its normalised
    /// eigenvector, component i in column <c>position[i]</c> (the gathered order).
    /// </summary>
    /// <remarks>
    /// <para><b>The roots</b> (dlaed4). Root j lies between poles j and j+1 (the last one between pole k-1 and
    /// <c>pole + rho |z|^2</c>). It is found as an offset tau from the nearer of its two poles (the sign of the secular
    /// function at the middle of the gap says which), so that the differences <c>D_i - lambda_j =
    /// (D_i - D_origin) - tau</c> that the eigenvectors divide by carry no cancellation, even where a root sits a
    /// rounding error from its pole. Each step models the sum over the poles left of the root and the sum over
    /// those right of it by one pole each (the nearest, with the value and slope of the sum: Bunch, Nielsen and
    /// Sorensen's rational model) and takes the model's root, a quadratic; the function increases between its
    /// poles, so its sign keeps a bracket, and a step that would leave it bisects instead.</para>
    /// <para><b>The eigenvectors</b> (Gu and Eisenstat). The computed roots are the exact eigenvalues of
    /// <c>D + rho z' z'^T</c> for a z' near z, <c>z'_i^2 = prod_j (lambda_j - D_i) / (rho prod_(j != i) (D_j -
    /// D_i))</c>: with z' rather than z the vectors <c>(D - lambda_j)^(-1) z'</c> come out orthogonal to rounding
    /// however close the roots are, where those with z need not. The product is taken as one ratio per factor,
    /// each near 1 because the roots interlace the poles (no overflow); rho only scales z', which the normalisation
    /// removes.</para>
    /// </remarks>
    private static void SolveSecular(double[] d, TridiagonalWork work, int lo, int k, double rho, int threads)
    {
        switch (CpuVector.Bits)
        {
            case 512: SolveSecular<Vector512<double>>(d, work, lo, k, rho, threads); break;
            case 256: SolveSecular<Vector256<double>>(d, work, lo, k, rho, threads); break;
            default: SolveSecular<Vector128<double>>(d, work, lo, k, rho, threads); break;
        }
    }

    private static unsafe void SolveSecular<TVector>(double[] d, TridiagonalWork work, int lo, int k, double rho,
        int threads)
        where TVector : struct
    {
        int n = work.Size;
        var (poles, weights, tau, origin) = (work.Poles, work.Weights, work.Tau, work.Origin);
        var (kept, position, z, scale) = (work.Kept, work.Position, work.Z, work.Scale);
        var at = work.PoleAt; // the poles by gathered position
        for (int j = 0; j < k; j++)
        {
            poles[lo + j] = d[lo + kept[lo + j]];
            weights[lo + j] = z[lo + kept[lo + j]] * z[lo + kept[lo + j]];
            at[lo + position[lo + j]] = poles[lo + j];
        }
        var secular = work.Secular;
        long block = (long)lo * n + lo;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            fixed (double* pp = poles, pw = weights, pa = at, ps = secular)
            {
                // Roots t, t + threads, ...: neighbouring roots cost alike, so striding balances the cores.
                for (int j = t; j < k; j += threads)
                {
                    (origin[lo + j], tau[lo + j]) = SecularRoot<TVector>(pp + lo, pw + lo, k, rho, j);
                    Differences<TVector>(ps + block + (long)j * n, pa + lo, k, pp[lo + origin[lo + j]], tau[lo + j]);
                }
            }
        });
        // z'_i = prod_j (D_i - lambda_j) / prod_(j != i) (D_i - D_j), for every i at once, root by root (scale
        // holds the running products, by position).
        for (int p = 0; p < k; p++) scale[lo + p] = 1;
        fixed (double* ps = secular, pa = at, pscale = scale)
        {
            for (int j = 0; j < k; j++)
            {
                double* row = ps + block + (long)j * n;
                int own = position[lo + j];
                double pole = poles[lo + j];
                // Component own is pole j's: its factor is D_j - lambda_j alone (the ratio would divide by 0).
                Ratios<TVector>(pscale + lo, row, pa + lo, pole, own);
                pscale[lo + own] *= row[own];
                Ratios<TVector>(pscale + lo + own + 1, row + own + 1, pa + lo + own + 1, pole, k - own - 1);
            }
        }
        var signed = work.Weights; // z'_i by position, signed as z_i (weights are not needed after the roots)
        for (int i = 0; i < k; i++)
        {
            int p = position[lo + i];
            signed[lo + p] = Math.CopySign(Math.Sqrt(Math.Max(-scale[lo + p], 0)), z[lo + kept[lo + i]]);
        }
        // Eigenvector j: z'_i / (D_i - lambda_j), normalised.
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            fixed (double* ps = secular, pz = signed)
            {
                for (int j = t; j < k; j += threads) Eigenvector<TVector>(ps + block + (long)j * n, pz + lo, k);
            }
        });
        for (int j = 0; j < k; j++) d[lo + j] = poles[lo + origin[lo + j]] + tau[lo + j];
    }

    /// <summary>row[p] = (at[p] - pole) - tau over k doubles: D_i - lambda_j without cancellation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Differences<TVector>(double* row, double* at, int k, double pole, double tau)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, p = 0;
        var pv = DoubleSimd<TVector>.Broadcast(pole);
        var tv = DoubleSimd<TVector>.Broadcast(tau);
        for (; p + lanes <= k; p += lanes)
        {
            DoubleSimd<TVector>.Store(DoubleSimd<TVector>.Subtract(
                DoubleSimd<TVector>.Subtract(DoubleSimd<TVector>.Load(at + p), pv), tv), row + p);
        }
        for (; p < k; p++) row[p] = (at[p] - pole) - tau;
    }

    /// <summary>product[p] *= row[p] / (at[p] - pole) over count doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Ratios<TVector>(double* product, double* row, double* at, double pole, int count)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, p = 0;
        var pv = DoubleSimd<TVector>.Broadcast(pole);
        for (; p + lanes <= count; p += lanes)
        {
            var ratio = DoubleSimd<TVector>.Divide(DoubleSimd<TVector>.Load(row + p),
                DoubleSimd<TVector>.Subtract(DoubleSimd<TVector>.Load(at + p), pv));
            DoubleSimd<TVector>.Store(DoubleSimd<TVector>.Multiply(DoubleSimd<TVector>.Load(product + p), ratio),
                product + p);
        }
        for (; p < count; p++) product[p] *= row[p] / (at[p] - pole);
    }

    /// <summary>row[p] = z'[p] / row[p] over k doubles, then the row normalised.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Eigenvector<TVector>(double* row, double* signed, int k)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, p = 0;
        var squares = default(TVector);
        for (; p + lanes <= k; p += lanes)
        {
            var v = DoubleSimd<TVector>.Divide(DoubleSimd<TVector>.Load(signed + p), DoubleSimd<TVector>.Load(row + p));
            DoubleSimd<TVector>.Store(v, row + p);
            squares = DoubleSimd<TVector>.MultiplyAdd(v, v, squares);
        }
        double sum = DoubleSimd<TVector>.Sum(squares);
        for (; p < k; p++)
        {
            row[p] = signed[p] / row[p];
            sum += row[p] * row[p];
        }
        double inverse = 1 / Math.Sqrt(sum);
        var iv = DoubleSimd<TVector>.Broadcast(inverse);
        for (p = 0; p + lanes <= k; p += lanes)
            DoubleSimd<TVector>.Store(DoubleSimd<TVector>.Multiply(DoubleSimd<TVector>.Load(row + p), iv), row + p);
        for (; p < k; p++) row[p] *= inverse;
    }

    /// <summary>
    /// Root j of <c>f(lambda) = 1/rho + sum_i w_i / (D_i - lambda)</c> (the k poles D ascending and distinct,
    /// weights <c>w_i = z_i^2 &gt; 0</c>) as (origin, tau): <c>lambda = D_origin + tau</c>, origin the nearer pole.
    /// See <see cref="SolveSecular"/>.
    /// </summary>
    private static unsafe (int Origin, double Tau) SecularRoot<TVector>(double* poles, double* weights, int k,
        double rho, int j)
        where TVector : struct
    {
        double inverse = 1 / rho;
        if (k == 1) return (0, rho * weights[0]);
        int origin;
        double low, high;
        if (j < k - 1)
        {
            double gap = poles[j + 1] - poles[j];
            double middle = Sums<TVector>(poles, weights, k, poles[j], gap / 2, out _);
            // f increases between its poles: f >= 0 at the middle puts the root in the lower half, nearer pole j.
            if (inverse + middle >= 0) (origin, low, high) = (j, 0, gap / 2);
            else (origin, low, high) = (j + 1, -gap / 2, 0);
        }
        else
        {
            // Past the last pole f rises from -infinity towards 1/rho and is >= 0 at rho |z|^2.
            double sum = 0;
            for (int i = 0; i < k; i++) sum += weights[i];
            (origin, low, high) = (k - 1, 0, rho * sum);
        }
        // The model's two poles: the nearest left of the root (j) and right of it (j + 1; for the last root, the two
        // last poles, both left of it).
        int left = j < k - 1 ? j : k - 2, right = left + 1;
        double pole = poles[origin];
        double t = origin == j ? high : low; // an end of the bracket not at a pole
        for (int iteration = 0; iteration < 200; iteration++)
        {
            double psi = Sums<TVector>(poles, weights, right, pole, t, out double dpsi);
            double phi = Sums<TVector>(poles + right, weights + right, k - right, pole, t, out double dphi);
            double f = inverse + psi + phi;
            // The rounding error of the sum, bounding how near 0 f can be told apart from 0.
            double error = Epsilon * (8 * (inverse + Math.Abs(psi) + Math.Abs(phi)) + Math.Abs(t) * (dpsi + dphi));
            if (Math.Abs(f) <= error) break;
            if (f < 0) low = t;
            else high = t;
            double a1 = poles[left] - pole - t, a2 = poles[right] - pole - t;
            double p = dpsi * a1 * a1, s = dphi * a2 * a2;
            // Model: c + p / (a1 - x) + s / (a2 - x) = 0 in the step x, i.e. c x^2 - b x + a1 a2 f = 0.
            double c = f - p / a1 - s / a2;
            double b = c * (a1 + a2) + p + s, constant = a1 * a2 * f;
            double root = Math.Sqrt(Math.Max(b * b - 4 * c * constant, 0));
            double denominator = b >= 0 ? b + root : b - root;
            double next = double.NaN;
            if (denominator != 0 && Inside(t + 2 * constant / denominator, low, high))
                next = t + 2 * constant / denominator;
            else if (c != 0 && Inside(t + denominator / (2 * c), low, high)) next = t + denominator / (2 * c);
            if (double.IsNaN(next)) next = low + (high - low) / 2;
            if (next == t || next <= low || next >= high) break; // the bracket is as narrow as doubles allow
            t = next;
        }
        return (origin, t);

        static bool Inside(double x, double low, double high) => x > low && x < high;
    }

    /// <summary>The sum of <c>w_i / ((D_i - pole) - t)</c> over count poles, and of its terms' slopes,
    /// <c>w_i / ((D_i - pole) - t)^2</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe double Sums<TVector>(double* poles, double* weights, int count, double pole, double t,
        out double slope)
        where TVector : struct
    {
        int lanes = DoubleSimd<TVector>.Count, i = 0;
        var pv = DoubleSimd<TVector>.Broadcast(pole);
        var tv = DoubleSimd<TVector>.Broadcast(t);
        var one = DoubleSimd<TVector>.Broadcast(1);
        TVector sums = default, slopes = default;
        for (; i + lanes <= count; i += lanes)
        {
            var difference = DoubleSimd<TVector>.Subtract(DoubleSimd<TVector>.Load(poles + i), pv);
            var inv = DoubleSimd<TVector>.Divide(one, DoubleSimd<TVector>.Subtract(difference, tv));
            var term = DoubleSimd<TVector>.Multiply(DoubleSimd<TVector>.Load(weights + i), inv);
            sums = DoubleSimd<TVector>.Add(sums, term);
            slopes = DoubleSimd<TVector>.MultiplyAdd(term, inv, slopes);
        }
        double sum = DoubleSimd<TVector>.Sum(sums);
        slope = DoubleSimd<TVector>.Sum(slopes);
        for (; i < count; i++)
        {
            double inv = 1 / (poles[i] - pole - t), term = weights[i] * inv;
            sum += term;
            slope += term * inv;
        }
        return sum;
    }

    private const double Epsilon = 2.220446049250313e-16; // 2^-52
}
