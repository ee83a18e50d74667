using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// The Wasserstein-2 style loss's own steps, in two files (SPEC.md, "Wasserstein-2 style loss"):
//   Wasserstein.cs      glossary; the double-precision reference of the whole layer loss; kernel 1 of each step
//   Wasserstein.Cpu.cs  kernel 2: the steps as host code (the CPU accelerator)
// The n x n products are the Gram kernels' and the roots MatrixRoot's; the layer's tap (W2StyleLoss) chains them.
//
// Glossary: C channels, M = H*W positions, eps = 1e-4, w the term's weight.
//   features : (C, M)  F[c*M + m]
//   mean     : (C)     mu = F 1 / M
//   cov      : (C, C)  Sigma = F F^T / M - mu mu^T + eps I      (the Gram forward with s = 1/M, then Covariance)
//   target   : mu_s (C), R = Sigma_s^(1/2) (C, C), tr Sigma_s   (fixed for a scale)
//   P = R Sigma R,  L = (w/C) (|mu - mu_s|^2 + tr Sigma + tr Sigma_s - 2 tr P^(1/2))
//   G = dL/dSigma = (w/C) (I - R P^(-1/2) R)
//   dF = (2/M) G (F - mu 1^T) + (2w/(C M)) (mu - mu_s) 1^T
//      = (2/M) G F  +  b 1^T,   b = (2/M) (-G mu + (w/C) (mu - mu_s))

/// <summary>
/// The steps of the Wasserstein-2 style loss that are not products: the features' mean, the covariance from the
/// second moment, the loss value, the gradient's matrix and its mean term, and the broadcast of that term.
/// </summary>
/// <remarks>
/// The gradient is in closed form (no autodiff through any iteration): for symmetric positive definite A,
/// <c>d tr (R Sigma R)^(1/2) = (1/2) tr (R P^(-1/2) R dSigma)</c>, so <c>dL/dSigma = (w/C)(I - R P^(-1/2) R)</c>;
/// then <c>Sigma = S - mu mu^T</c> with <c>S = F F^T / M</c> and <c>mu = F 1 / M</c> gives
/// <c>dF = (2/M) G F</c> through S and <c>(-2 G mu / M) 1^T</c> through mu, plus the mean term's
/// <c>(2w/(C M)) (mu - mu_s) 1^T</c>: the features centred, as the issue puts it.
/// </remarks>
public sealed partial class Wasserstein
{
    /// <summary>SPEC.md's eps, added to both covariances' diagonals.</summary>
    public const float Epsilon = 1e-4f;

    private readonly KernelChoice _choice;
    private readonly CpuHost _host;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, GramShape>> _rowMeans;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, int>> _covariance;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int, float, float>> _loss;
    private readonly Lazy<Action<Index1D, ArrayView<float>, int, float>> _gradientMatrix;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        GramShape, float>> _meanGradient;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, GramShape>> _addRows;

    /// <summary>Kernel 1 of every step for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    public Wasserstein(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _rowMeans = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            GramShape>(RowMeansKernel));
        _covariance = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            int>(CovarianceKernel));
        _loss = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(LossKernel));
        _gradientMatrix = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int,
            float>(GradientMatrixKernel));
        _meanGradient = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, GramShape, float>(MeanGradientKernel));
        _addRows = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            GramShape>(AddRowsKernel));
    }

    // ---------------------------------------------------------------- CPU reference (double)

    /// <summary>The mean and the second raw moment <c>F F^T / M</c> of the features.</summary>
    public static (double[] Mean, double[] SecondMoment) MomentsReference(double[] features, GramShape s)
    {
        var mean = new double[s.Channels];
        for (int c = 0; c < s.Channels; c++)
        {
            double sum = 0;
            for (int m = 0; m < s.Positions; m++) sum += features[c * s.Positions + m];
            mean[c] = sum / s.Positions;
        }
        var moment = new double[s.GramLength];
        Gram.ForwardReference(moment, features, s, 1.0 / s.Positions);
        return (mean, moment);
    }

    /// <summary><c>S - mu mu^T + eps I</c>.</summary>
    public static double[] CovarianceReference(double[] mean, double[] secondMoment)
    {
        int n = mean.Length;
        var cov = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            cov[i * n + j] = secondMoment[i * n + j] - mean[i] * mean[j] + (i == j ? Epsilon : 0);
        return cov;
    }

    /// <summary>
    /// The layer loss <c>L</c> and its gradient with respect to the features by the definitions, in double with
    /// eigendecompositions: the target is the (blended) mean and second moment.
    /// </summary>
    public static (double Loss, double[] Gradient) LayerReference(double[] features, GramShape s,
        double[] targetMean, double[] targetMoment, double weight)
    {
        int n = s.Channels, m = s.Positions;
        var (mean, moment) = MomentsReference(features, s);
        var cov = CovarianceReference(mean, moment);
        var targetCov = CovarianceReference(targetMean, targetMoment);
        var r = SymmetricEigen.Sqrt(targetCov, n);
        var p = Multiply(Multiply(r, cov, n), r, n);
        var (root, inverse) = MatrixRoot.RootsReference(p, n);
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double d = mean[i] - targetMean[i];
            loss += d * d + cov[i * n + i] + targetCov[i * n + i] - 2 * root[i * n + i];
        }
        var rzr = Multiply(Multiply(r, inverse, n), r, n);
        var g = new double[n * n];
        for (int i = 0; i < n * n; i++) g[i] = weight / n * ((i / n == i % n ? 1 : 0) - rzr[i]);
        var gradient = new double[s.FeatureLength];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
        for (int q = 0; q < m; q++)
            gradient[i * m + q] += 2.0 / m * g[i * n + j] * (features[j * m + q] - mean[j]);
        for (int i = 0; i < n; i++)
        for (int q = 0; q < m; q++)
            gradient[i * m + q] += 2 * weight / ((double)n * m) * (mean[i] - targetMean[i]);
        return (weight / n * loss, gradient);
    }

    /// <summary>A B for n x n row-major matrices.</summary>
    public static double[] Multiply(double[] a, double[] b, int n)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
        {
            double aik = a[i * n + k];
            for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
        }
        return c;
    }

    // ---------------------------------------------------------------- kernel 1: one thread per output

    /// <summary>One thread per channel: mean[c] = sum_m F[c, m] / M.</summary>
    public static void RowMeansKernel(Index1D c, ArrayView<float> mean, ArrayView<float> features, GramShape s)
    {
        float sum = 0f;
        for (int m = 0; m < s.Positions; m++) sum += features[c * s.Positions + m];
        mean[c] = sum / s.Positions;
    }

    /// <summary>One thread per entry, in place on S: cov = S - mu mu^T + eps I.</summary>
    public static void CovarianceKernel(Index1D index, ArrayView<float> cov, ArrayView<float> mean, int n)
    {
        int i = index / n, j = index % n;
        cov[index] = cov[index] - mean[i] * mean[j] + (i == j ? Epsilon : 0f);
    }

    /// <summary>
    /// One thread: loss[0] += (w/C) (|mu - mu_s|^2 + tr Sigma - 2 tr P^(1/2)) + (w/C) tr Sigma_s (the target's
    /// trace comes in as <paramref name="targetTraceTerm"/>, already times w/C). P^(1/2)'s diagonal is
    /// <c>root[i * rootStride]</c>: n + 1 in the matrix, 1 in a vector of the diagonal alone.
    /// </summary>
    public static void LossKernel(Index1D index, ArrayView<float> loss, ArrayView<float> mean,
        ArrayView<float> targetMean, ArrayView<float> cov, ArrayView<float> root, int n, int rootStride,
        float weightOverC, float targetTraceTerm)
    {
        float sum = 0f;
        for (int i = 0; i < n; i++)
        {
            float d = mean[i] - targetMean[i];
            sum += d * d + cov[i * n + i] - 2f * root[i * rootStride];
        }
        loss[0] += weightOverC * sum + targetTraceTerm;
    }

    /// <summary>One thread per entry, in place: G = (w/C) (I - R P^(-1/2) R).</summary>
    public static void GradientMatrixKernel(Index1D index, ArrayView<float> g, int n, float weightOverC) =>
        g[index] = weightOverC * ((index / n == index % n ? 1f : 0f) - g[index]);

    /// <summary>One thread per channel: b = (2/M) (-G mu + (w/C) (mu - mu_s)).</summary>
    public static void MeanGradientKernel(Index1D c, ArrayView<float> b, ArrayView<float> g, ArrayView<float> mean,
        ArrayView<float> targetMean, GramShape s, float weightOverC)
    {
        float sum = 0f;
        for (int j = 0; j < s.Channels; j++) sum += g[c * s.Channels + j] * mean[j];
        b[c] = 2f / s.Positions * (weightOverC * (mean[c] - targetMean[c]) - sum);
    }

    /// <summary>One thread per feature element: dF[c, m] += b[c].</summary>
    public static void AddRowsKernel(Index1D index, ArrayView<float> dFeatures, ArrayView<float> b, GramShape s) =>
        dFeatures[index] += b[index / s.Positions];

    // ---------------------------------------------------------------- kernel 2: host code (Wasserstein.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    private bool InHostCode(KernelVariant variant) => KernelChoice.Resolve(variant, _choice.Wasserstein()) switch
    {
        KernelVariant.PerElement => false,
        KernelVariant.Cpu => true,
        var other => throw KernelChoice.NotOffered("Wasserstein-2 loss", other),
    };

    /// <summary>mean = F 1 / M.</summary>
    public void RowMeans(ArrayView<float> mean, ArrayView<float> features, GramShape shape,
        KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate();
        Require.Length(mean, shape.Channels, nameof(mean));
        Require.Length(features, shape.FeatureLength, nameof(features));
        if (InHostCode(variant)) RowMeansCpu(mean, features, shape);
        else _rowMeans.Value(shape.Channels, mean, features, shape);
    }

    /// <summary>In place on the second moment S: cov = S - mu mu^T + eps I.</summary>
    public void Covariance(ArrayView<float> cov, ArrayView<float> mean, KernelVariant variant = KernelVariant.Auto)
    {
        int n = (int)mean.Length;
        Require.Length(cov, (long)n * n, nameof(cov));
        if (InHostCode(variant)) CovarianceCpu(cov, mean, n);
        else _covariance.Value(n * n, cov, mean, n);
    }

    /// <summary>
    /// Adds <c>(w/C)(|mu - mu_s|^2 + tr Sigma + tr Sigma_s - 2 tr P^(1/2))</c> to <paramref name="loss"/>[0];
    /// <paramref name="targetTrace"/> is tr Sigma_s.
    /// </summary>
    public void Loss(ArrayView<float> loss, ArrayView<float> mean, ArrayView<float> targetMean, ArrayView<float> cov,
        ArrayView<float> root, float weight, double targetTrace, KernelVariant variant = KernelVariant.Auto)
    {
        int n = (int)mean.Length;
        Require.Length(root, (long)n * n, nameof(root));
        Loss(loss, mean, targetMean, cov, root, n + 1, weight, targetTrace, variant);
    }

    /// <summary>The same loss from C floats whose sum is tr P^(1/2) (its eigenvalues, which the exact path
    /// computes, or its diagonal).</summary>
    public void LossFromRootTerms(ArrayView<float> loss, ArrayView<float> mean, ArrayView<float> targetMean,
        ArrayView<float> cov, ArrayView<float> rootTerms, float weight, double targetTrace,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(rootTerms, mean.Length, nameof(rootTerms));
        Loss(loss, mean, targetMean, cov, rootTerms, 1, weight, targetTrace, variant);
    }

    private void Loss(ArrayView<float> loss, ArrayView<float> mean, ArrayView<float> targetMean,
        ArrayView<float> cov, ArrayView<float> root, int rootStride, float weight, double targetTrace,
        KernelVariant variant)
    {
        int n = (int)mean.Length;
        Require.Length(loss, 1, nameof(loss));
        Require.Length(targetMean, n, nameof(targetMean));
        Require.Length(cov, (long)n * n, nameof(cov));
        float weightOverC = weight / n, traceTerm = (float)(weight / n * targetTrace);
        if (InHostCode(variant)) LossCpu(loss, mean, targetMean, cov, root, n, rootStride, weightOverC, traceTerm);
        else _loss.Value(1, loss, mean, targetMean, cov, root, n, rootStride, weightOverC, traceTerm);
    }

    /// <summary>In place on <c>R P^(-1/2) R</c>: G = (w/C) (I - R P^(-1/2) R).</summary>
    public void GradientMatrix(ArrayView<float> g, int n, float weight, KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(g, (long)n * n, nameof(g));
        if (InHostCode(variant)) GradientMatrixCpu(g, n, weight / n);
        else _gradientMatrix.Value(n * n, g, n, weight / n);
    }

    /// <summary>The gradient's mean term <c>b = (2/M) (-G mu + (w/C)(mu - mu_s))</c>.</summary>
    public void MeanGradient(ArrayView<float> b, ArrayView<float> g, ArrayView<float> mean,
        ArrayView<float> targetMean, GramShape shape, float weight, KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate();
        Require.Length(b, shape.Channels, nameof(b));
        Require.Length(g, shape.GramLength, nameof(g));
        Require.Length(mean, shape.Channels, nameof(mean));
        Require.Length(targetMean, shape.Channels, nameof(targetMean));
        if (InHostCode(variant)) MeanGradientCpu(b, g, mean, targetMean, shape, weight / shape.Channels);
        else _meanGradient.Value(shape.Channels, b, g, mean, targetMean, shape, weight / shape.Channels);
    }

    /// <summary>dF[c, m] += b[c].</summary>
    public void AddRows(ArrayView<float> dFeatures, ArrayView<float> b, GramShape shape,
        KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate();
        Require.Length(dFeatures, shape.FeatureLength, nameof(dFeatures));
        Require.Length(b, shape.Channels, nameof(b));
        if (InHostCode(variant)) AddRowsCpu(dFeatures, b, shape);
        else _addRows.Value(shape.FeatureLength, dFeatures, b, shape);
    }
}
