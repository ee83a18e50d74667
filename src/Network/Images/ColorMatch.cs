namespace IlgpuStyle.Network.Images;

/// <summary>How <see cref="ColorMatch"/> maps a style image's colours onto the content's.</summary>
public enum ColorMatchMethod
{
    /// <summary>A = S_c^1/2 S_s^-1/2, both square roots from the eigendecomposition (the paper's "PCA").</summary>
    Pca,

    /// <summary>A = L_c L_s^-1 from the Cholesky factors S = L L^T.</summary>
    Chol,

    /// <summary>The symmetric map A = S_s^-1/2 (S_s^1/2 S_c S_s^1/2)^1/2 S_s^-1/2 (the Monge map between
    /// two Gaussians: of all maps that match the covariance, the one that moves colours least).</summary>
    Sym,

    /// <summary>Each channel's histogram made the content's, by rank (not a linear map).</summary>
    Histogram,
}

/// <summary>
/// Colour matching before the style targets are computed (Gatys et al. 2017, "Controlling Perceptual
/// Factors in Neural Style Transfer", section 5.2): the style image's colours are mapped so that their
/// mean and covariance (or, with <see cref="ColorMatchMethod.Histogram"/>, each channel's histogram)
/// equal the content's. The style then carries no colour of its own into the Gram targets.
/// </summary>
/// <remarks>
/// <para>Pixels are <c>(N, 3)</c> row-major doubles, <c>p[i*3 + c]</c>, on any scale. The linear maps
/// are <c>p' = A (p - m_s) + m_c</c> with a 3x3 A such that <c>A S_s A^T = S_c</c> (S the 3x3 covariance,
/// m the mean): then p' has mean m_c and covariance S_c exactly. The three methods differ only in which
/// of the many such A they take.</para>
/// <para>A style image with a (nearly) singular covariance (a grey image has colour only along the grey
/// axis) has no inverse square root: its covariance gets a tiny ridge (1e-10 of its trace) first, which
/// moves the match by that relative amount where the style has variance and leaves directions it has none
/// in (almost) unchanged: no map can create variance there.</para>
/// </remarks>
public static class ColorMatch
{
    private const double Ridge = 1e-10;

    /// <summary>The style image with its colours matched to the content's: mapped in double, then clamped
    /// to [0, 255] and rounded.</summary>
    /// <remarks>The clamp is where a linear match stops being exact: pixels pushed outside the cube of valid
    /// colours are cut back, which pulls the mean and shrinks the covariance of the clipped channel a little.
    /// Images whose mapped colours stay inside the cube match exactly (up to the 8-bit rounding). Histogram
    /// matching only reuses the content's own levels and never needs the clamp.</remarks>
    public static RgbImage Match(RgbImage style, RgbImage content, ColorMatchMethod method)
    {
        if (method == ColorMatchMethod.Histogram)
            return new RgbImage(style.Width, style.Height, MatchHistograms(style.Pixels, content.Pixels));
        var mapped = MatchLinear(ToDoubles(style.Pixels), ToDoubles(content.Pixels), method);
        var pixels = new byte[mapped.Length];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)Math.Clamp(Math.Round(mapped[i]), 0, 255);
        return new RgbImage(style.Width, style.Height, pixels);
    }

    /// <summary><paramref name="source"/> (N, 3) mapped by <c>A (p - m_s) + m_c</c> so that its mean and
    /// covariance become those of <paramref name="target"/> (M, 3); no clamping.</summary>
    public static double[] MatchLinear(double[] source, double[] target, ColorMatchMethod method)
    {
        var (sourceMean, sourceCovariance) = Moments(source);
        var (targetMean, targetCovariance) = Moments(target);
        var a = Map(sourceCovariance, targetCovariance, method);
        var result = new double[source.Length];
        for (int i = 0; i < source.Length; i += 3)
        {
            for (int r = 0; r < 3; r++)
            {
                double sum = targetMean[r];
                for (int c = 0; c < 3; c++) sum += a[r, c] * (source[i + c] - sourceMean[c]);
                result[i + r] = sum;
            }
        }
        return result;
    }

    /// <summary>
    /// A 3x3 A with <c>A S A^T = T</c> for covariances S (the style's) and T (the content's), as
    /// <paramref name="method"/> chooses it among the many (any A times an orthogonal matrix that keeps S's
    /// shape also works).
    /// </summary>
    public static double[,] Map(double[,] s, double[,] t, ColorMatchMethod method)
    {
        s = WithRidge(s);
        switch (method)
        {
            case ColorMatchMethod.Pca:
                // T^1/2 S^-1/2 S S^-1/2 T^1/2 = T: both roots symmetric.
                return Multiply(Power(t, 0.5), Power(s, -0.5));
            case ColorMatchMethod.Chol:
                // L_t L_s^-1 L_s L_s^T L_s^-T L_t^T = L_t L_t^T.
                return Multiply(Cholesky(t), InverseLower(Cholesky(s)));
            case ColorMatchMethod.Sym:
            {
                // With M = S^1/2 T S^1/2: A S A = S^-1/2 M^1/2 (S^-1/2 S S^-1/2) M^1/2 S^-1/2 = S^-1/2 M S^-1/2 = T.
                var root = Power(s, 0.5);
                var inverseRoot = Power(s, -0.5);
                var m = Multiply(Multiply(root, t), root);
                return Multiply(Multiply(inverseRoot, Power(Symmetrized(m), 0.5)), inverseRoot);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method, "Not a linear colour map.");
        }
    }

    /// <summary>
    /// Each channel of <paramref name="source"/> (N, 3 bytes) given exactly the histogram of the same channel
    /// of <paramref name="target"/> (M, 3 bytes): the source's values are ranked (ties by position, which keeps
    /// equal values together) and the k-th of them takes the level where the target's cumulative count reaches
    /// <c>(k + 1/2) M / N</c>. So the result's cumulative histogram at every level is the target's scaled to N
    /// pixels, rounded: exactly the target's when N = M.
    /// </summary>
    public static byte[] MatchHistograms(byte[] source, byte[] target)
    {
        int n = source.Length / 3, m = target.Length / 3;
        var result = new byte[source.Length];
        var order = new int[n];
        for (int c = 0; c < 3; c++)
        {
            // The target's cumulative counts: below[l] = pixels with a value below level l.
            var below = new long[257];
            for (int i = 0; i < m; i++) below[target[i * 3 + c] + 1]++;
            for (int l = 1; l <= 256; l++) below[l] += below[l - 1];

            for (int i = 0; i < n; i++) order[i] = i;
            var keys = new long[n];
            for (int i = 0; i < n; i++) keys[i] = source[i * 3 + c] * (long)n + i; // value, then position: stable
            Array.Sort(keys, order);

            int level = 0;
            for (int k = 0; k < n; k++)
            {
                // Rank k of n sits at the target's quantile (k + 1/2)/n; in counts of m: (2k + 1) m / (2n).
                long position = ((2L * k + 1) * m) / (2L * n);
                while (below[level + 1] <= position) level++;
                result[order[k] * 3 + c] = (byte)level;
            }
        }
        return result;
    }

    /// <summary>The mean (3) and covariance (3x3, divided by N) of (N, 3) pixels.</summary>
    public static (double[] Mean, double[,] Covariance) Moments(double[] pixels)
    {
        int n = pixels.Length / 3;
        if (n == 0) throw new ArgumentException("An image needs at least one pixel.", nameof(pixels));
        var mean = new double[3];
        for (int i = 0; i < pixels.Length; i++) mean[i % 3] += pixels[i];
        for (int c = 0; c < 3; c++) mean[c] /= n;
        var covariance = new double[3, 3];
        for (int i = 0; i < pixels.Length; i += 3)
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            covariance[r, c] += (pixels[i + r] - mean[r]) * (pixels[i + c] - mean[c]);
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            covariance[r, c] /= n;
        return (mean, covariance);
    }

    /// <summary>Bytes as doubles, same order.</summary>
    public static double[] ToDoubles(byte[] pixels) => pixels.Select(p => (double)p).ToArray();

    // ---------------------------------------------------------------- 3x3 symmetric matrices, in double

    /// <summary>S + ridge * trace(S) * I: positive definite for any covariance that is not all zero.</summary>
    private static double[,] WithRidge(double[,] s)
    {
        double trace = s[0, 0] + s[1, 1] + s[2, 2];
        var result = (double[,])s.Clone();
        double ridge = Ridge * trace + double.Epsilon;
        for (int i = 0; i < 3; i++) result[i, i] += ridge;
        return result;
    }

    /// <summary>S^p of a symmetric positive semi-definite matrix, <c>Q diag(lambda^p) Q^T</c>; eigenvalues are
    /// floored at 0 (rounding can make a zero one slightly negative).</summary>
    public static double[,] Power(double[,] s, double p)
    {
        var (values, vectors) = SymmetricEigen(s);
        var result = new double[3, 3];
        for (int k = 0; k < 3; k++)
        {
            double scaled = Math.Pow(Math.Max(values[k], 0), p);
            for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                result[r, c] += vectors[r, k] * scaled * vectors[c, k];
        }
        return result;
    }

    /// <summary>
    /// Eigenvalues and eigenvectors (columns of Q) of a symmetric 3x3 matrix by cyclic Jacobi rotations: each
    /// rotation zeroes one off-diagonal pair; a few sweeps reach double precision, and the result is accurate
    /// for small eigenvalues too (unlike the closed-form cubic).
    /// </summary>
    public static (double[] Values, double[,] Vectors) SymmetricEigen(double[,] s)
    {
        var a = Symmetrized(s);
        var q = new double[3, 3] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
        for (int sweep = 0; sweep < 50; sweep++)
        {
            double off = a[0, 1] * a[0, 1] + a[0, 2] * a[0, 2] + a[1, 2] * a[1, 2];
            double diagonal = a[0, 0] * a[0, 0] + a[1, 1] * a[1, 1] + a[2, 2] * a[2, 2];
            if (off <= 1e-32 * diagonal || off == 0) break;
            foreach (var (p, r) in new[] { (0, 1), (0, 2), (1, 2) })
            {
                if (a[p, r] == 0) continue;
                // The rotation angle that zeroes a[p, r] (Golub and Van Loan, section 8.5.2).
                double theta = (a[r, r] - a[p, p]) / (2 * a[p, r]);
                double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                double cos = 1 / Math.Sqrt(t * t + 1), sin = t * cos;
                for (int k = 0; k < 3; k++) // A <- A J (columns p, r)
                {
                    double kp = a[k, p], kr = a[k, r];
                    a[k, p] = cos * kp - sin * kr;
                    a[k, r] = sin * kp + cos * kr;
                }
                for (int k = 0; k < 3; k++) // A <- J^T A (rows p, r)
                {
                    double pk = a[p, k], rk = a[r, k];
                    a[p, k] = cos * pk - sin * rk;
                    a[r, k] = sin * pk + cos * rk;
                }
                for (int k = 0; k < 3; k++) // Q <- Q J
                {
                    double kp = q[k, p], kr = q[k, r];
                    q[k, p] = cos * kp - sin * kr;
                    q[k, r] = sin * kp + cos * kr;
                }
            }
        }
        return ([a[0, 0], a[1, 1], a[2, 2]], q);
    }

    /// <summary>The lower-triangular L with <c>L L^T = S</c> (S positive definite).</summary>
    public static double[,] Cholesky(double[,] s)
    {
        var l = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c <= r; c++)
        {
            double sum = s[r, c];
            for (int k = 0; k < c; k++) sum -= l[r, k] * l[c, k];
            if (r == c)
            {
                if (!(sum > 0)) throw new ArgumentException("The covariance is not positive definite.", nameof(s));
                l[r, r] = Math.Sqrt(sum);
            }
            else
            {
                l[r, c] = sum / l[c, c];
            }
        }
        return l;
    }

    /// <summary>The inverse of a lower-triangular matrix with a non-zero diagonal, by forward substitution.</summary>
    private static double[,] InverseLower(double[,] l)
    {
        var inverse = new double[3, 3];
        for (int c = 0; c < 3; c++)
        for (int r = c; r < 3; r++)
        {
            double sum = r == c ? 1 : 0;
            for (int k = c; k < r; k++) sum -= l[r, k] * inverse[k, c];
            inverse[r, c] = sum / l[r, r];
        }
        return inverse;
    }

    /// <summary>The 3x3 product A B.</summary>
    public static double[,] Multiply(double[,] a, double[,] b)
    {
        var result = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++)
            result[r, c] += a[r, k] * b[k, c];
        return result;
    }

    /// <summary>(A + A^T) / 2: removes the asymmetry rounding leaves in a product that is symmetric in exact
    /// arithmetic.</summary>
    private static double[,] Symmetrized(double[,] a)
    {
        var result = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            result[r, c] = (a[r, c] + a[c, r]) / 2;
        return result;
    }
}
