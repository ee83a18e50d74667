namespace IlgpuStyle.Kernels;

/// <summary>
/// The eigendecomposition of a real symmetric matrix in double precision on the host, and the matrix functions
/// built from it (<c>V f(L) V^T</c>): the references of the Wasserstein-2 loss's square roots, its target's root
/// (once per scale) and the fallback of the device's Newton-Schulz iteration.
/// </summary>
/// <remarks>
/// The classic two-step method (Householder's reduction to a tridiagonal matrix, then the QL iteration with
/// implicit shifts on it), as in EISPACK's tred2 and tql2: about <c>9 n^3</c> operations, a second or so at
/// n = 512, where cyclic Jacobi takes several times that. It is exact to rounding whatever the conditioning, which
/// is what a reference and a fallback need; every result is checked by reconstruction in the tests.
/// Matrices are n x n, row-major.
/// </remarks>
public static class SymmetricEigen
{
    /// <summary>
    /// The eigenvalues (ascending) and eigenvectors of the symmetric matrix <paramref name="a"/> (only read):
    /// <c>A = V diag(values) V^T</c>, with the eigenvector of <c>values[k]</c> in column k of V (row-major n x n).
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] a, int n)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (n <= 0 || a.Length != n * n) throw new ArgumentException($"Not an {n}x{n} matrix.", nameof(a));
        var v = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            v[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]); // the symmetric part, as the peer's eigh reads it
        var d = new double[n];
        var e = new double[n];
        Tridiagonalize(v, d, e, n);
        // The QL rotations combine two columns of V at a time: on V^T they combine two contiguous rows.
        var vt = Transpose(v, n);
        DiagonalizeTridiagonal(vt, d, e, n);
        var order = Enumerable.Range(0, n).OrderBy(k => d[k]).ToArray();
        var values = new double[n];
        var vectors = new double[n * n];
        for (int k = 0; k < n; k++)
        {
            values[k] = d[order[k]];
            for (int i = 0; i < n; i++) vectors[i * n + k] = vt[order[k] * n + i];
        }
        return (values, vectors);
    }

    /// <summary><c>V diag(f(values)) V^T</c> for the symmetric matrix <paramref name="a"/>.</summary>
    public static double[] Function(double[] a, int n, Func<double, double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        var (values, vectors) = Decompose(a, n);
        return Compose(values, vectors, n, f);
    }

    /// <summary><c>V diag(f(values)) V^T</c> from a decomposition.</summary>
    public static double[] Compose(double[] values, double[] vectors, int n, Func<double, double> f)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(f);
        var fv = values.Select(f).ToArray();
        var vt = Transpose(vectors, n); // rows are eigenvectors: contiguous dot products below
        var result = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            var row = result.AsSpan(i * n, n);
            for (int k = 0; k < n; k++)
            {
                double vik = vectors[i * n + k] * fv[k];
                if (vik == 0) continue;
                var vk = vt.AsSpan(k * n, n);
                for (int j = 0; j < n; j++) row[j] += vik * vk[j];
            }
        }
        return result;
    }

    /// <summary>The principal square root of a symmetric positive semi-definite matrix (negative rounding noise in
    /// its eigenvalues taken as 0, as the peer does).</summary>
    public static double[] Sqrt(double[] a, int n) => Function(a, n, l => Math.Sqrt(Math.Max(l, 0)));

    private static double[] Transpose(double[] m, int n)
    {
        var t = new double[n * n];
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
    /// The QL iteration with implicit shifts on the tridiagonal (d, e): on return d holds the eigenvalues and the
    /// rows of <paramref name="vt"/> (the reduction's matrix, transposed) the eigenvectors.
    /// </summary>
    private static void DiagonalizeTridiagonal(double[] vt, double[] d, double[] e, int n)
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
                        Rotate(vt, i, n, c, s);
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
}
