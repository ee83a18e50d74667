using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// A layer's Wasserstein-2 style target, fixed for a scale: the blended mean <c>mu_s</c>, the root
/// <c>R = Sigma_s^(1/2)</c> of the covariance formed from the blended moments, and <c>tr Sigma_s</c>.
/// </summary>
/// <param name="Buffer">(C*C + C): R, then mu_s.</param>
/// <param name="Channels">C.</param>
/// <param name="Trace">tr Sigma_s, in double.</param>
/// <param name="RootDouble">R in double on the host, for the roots' fallback.</param>
public sealed record W2Target(ArrayView<float> Buffer, int Channels, double Trace, double[] RootDouble)
{
    /// <summary>Floats of a target for C channels: R and mu_s.</summary>
    public static long Floats(int channels) => (long)channels * channels + channels;

    /// <summary>R = Sigma_s^(1/2), C x C.</summary>
    public ArrayView<float> Root => Buffer.SubView(0, (long)Channels * Channels);

    /// <summary>mu_s, C.</summary>
    public ArrayView<float> Mean => Buffer.SubView((long)Channels * Channels, Channels);

    /// <summary>
    /// Adds <paramref name="blend"/> times the mean and second moment of <paramref name="activation"/> to
    /// <paramref name="moments"/> (C + C*C: mu, then S), with <paramref name="scratch"/> of as many floats.
    /// </summary>
    public static void AddMoments(KernelSet kernels, ArrayView<float> moments, DeviceTensor activation, float blend,
        ArrayView<float> scratch)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        var shape = GramShape.Of(activation.Shape);
        int c = shape.Channels;
        kernels.Wasserstein.RowMeans(scratch.SubView(0, c), activation.View, shape);
        kernels.Gram.Forward(scratch.SubView(c, shape.GramLength), activation.View, shape, 1f / shape.Positions);
        kernels.Vectors.Axpy(moments, blend, scratch);
    }

    /// <summary>
    /// The target from the blended <paramref name="moments"/> (mu, then S), written into
    /// <paramref name="buffer"/>: the covariance and its root in double on the host, once per scale (an
    /// eigendecomposition, exact whatever the conditioning; the peer's own method).
    /// </summary>
    public static W2Target FromMoments(KernelSet kernels, ArrayView<float> moments, ArrayView<float> buffer,
        int channels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        kernels.Accelerator.Synchronize();
        var values = ArrayViewExtensions.GetAsArray1D<float>(moments);
        var mean = new double[channels];
        var moment = new double[channels * channels];
        for (int i = 0; i < channels; i++) mean[i] = values[i];
        for (int i = 0; i < moment.Length; i++) moment[i] = values[channels + i];
        var cov = Wasserstein.CovarianceReference(mean, moment);
        var root = SymmetricEigen.Sqrt(cov, channels, kernels.Host.Threads);
        double trace = 0;
        for (int i = 0; i < channels; i++) trace += cov[i * channels + i];
        var upload = new float[Floats(channels)];
        for (int i = 0; i < root.Length; i++) upload[i] = (float)root[i];
        for (int i = 0; i < channels; i++) upload[root.Length + i] = values[i];
        buffer.SubView(0, upload.Length).CopyFromCPU(upload);
        return new W2Target(buffer.SubView(0, upload.Length), channels, trace, root);
    }
}

/// <summary>
/// The Wasserstein-2 style loss on one layer (SPEC.md, "Wasserstein-2 style loss"; crowsonkb's
/// style-transfer-pytorch): the features' Gaussian, mean and covariance, against the style's, under the W2
/// distance, <c>w (1/C) (|mu - mu_s|^2 + tr(Sigma + Sigma_s - 2 (R Sigma R)^(1/2)))</c> with
/// <c>R = Sigma_s^(1/2)</c>.
/// </summary>
/// <remarks>
/// <para>Forward: mu and S (the Gram forward with s = 1/M), Sigma in place, P = R Sigma R as two products, P's
/// roots by Newton-Schulz (<see cref="MatrixRoot"/>), the loss. Backward in closed form from what forward kept:
/// <c>G = (w/C)(I - R P^(-1/2) R)</c> (two products), then <c>dF += (2/M) G F + b 1^T</c> (the Gram backward and a
/// row broadcast; see <see cref="Wasserstein"/>). Regions and tiles are refused where the loss is planned.</para>
/// <para>When the iteration cannot meet its rule in float32 (a real layer's P, with the eps floor on both
/// covariances, is far too ill-conditioned), the exact path takes over (<see cref="SolveExact"/>): P in double
/// on the host, its eigendecomposition, and only what the loss and gradient use, <c>tr P^(1/2)</c> and
/// <c>I - R P^(-1/2) R</c>, found once every tap of the network has formed its Sigma, side by side with the other
/// taps' (<see cref="W2ExactRoots"/>). A layer that needed it once keeps needing it (its conditioning comes from the
/// style's covariance, fixed for the scale), so its later evaluations go to it at once.</para>
/// </remarks>
public sealed class W2StyleLoss : ILossTap
{
    private readonly KernelSet _kernels;
    private readonly W2Target _target;
    private readonly ArrayView<float> _loss;
    private readonly GramShape _shape;
    private readonly GramShape _square;
    private readonly float _weight;
    private readonly GradientNormalizer? _normalizer;
    private readonly ArrayView<float> _mean, _b, _cov, _q, _p, _sqrt, _inverseSqrt, _scratch;
    private readonly W2ExactRoots _roots;
    private float[]? _transport; // I - R P^(-1/2) R from the exact path; null after the iteration
    private ExactWork? _exact; // the exact path's host arrays, made the first time it runs

    /// <summary>A tap on <paramref name="layer"/> (activation shape <paramref name="activation"/>) against
    /// <paramref name="target"/>, adding <c>w L</c> to <paramref name="loss"/>; its exact root found with the other
    /// taps of <paramref name="roots"/> (the same network's), or alone when none is given.</summary>
    public W2StyleLoss(string layer, ChwShape activation, KernelSet kernels, DeviceMemory memory, W2Target target,
        ArrayView<float> loss, float weight, GradientNormalizer? normalizer, W2ExactRoots? roots = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(target);
        Layer = layer;
        _kernels = kernels;
        _target = target;
        _loss = loss;
        _weight = weight;
        _normalizer = normalizer;
        _shape = GramShape.Of(activation);
        int c = _shape.Channels;
        if (target.Channels != c)
            throw new ArgumentException($"The target has {target.Channels} channels, {layer} {c}.", nameof(target));
        _square = new GramShape(c, c);
        var work = memory.Floats(WorkFloats(c)).View;
        long cc = (long)c * c, at = 0;
        ArrayView<float> Take(long n)
        {
            var view = work.SubView(at, n);
            at += n;
            return view;
        }
        _mean = Take(c);
        _b = Take(c);
        _cov = Take(cc);
        _q = Take(cc);
        _p = Take(cc);
        _sqrt = Take(cc);
        _inverseSqrt = Take(cc);
        _scratch = Take(MatrixRoot.ScratchFloats(c));
        _roots = roots ?? new W2ExactRoots(kernels);
        _roots.Join();
    }

    /// <summary>Floats a tap holds for C channels: mu, b, Sigma, two products, P's two roots and the root's
    /// scratch.</summary>
    public static long WorkFloats(int channels) =>
        2L * channels + 5L * channels * channels + MatrixRoot.ScratchFloats(channels);

    /// <inheritdoc/>
    public string Layer { get; }

    /// <summary>How the last forward's root was found (iterations, residual, whether it fell back).</summary>
    public RootReport LastRoot { get; private set; }

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation) => Forward(activation, markPiece: null);

    /// <inheritdoc/>
    public void Forward(DeviceTensor activation, Action<string>? markPiece)
    {
        var k = _kernels;
        int n = _shape.Channels;
        _transport = null;
        k.Wasserstein.RowMeans(_mean, activation.View, _shape);
        k.Gram.Forward(_cov, activation.View, _shape, 1f / _shape.Positions);
        k.Wasserstein.Covariance(_cov, _mean);
        bool exact = LastRoot.FellBack;
        if (exact) LastRoot = new RootReport(0, 0, true);
        else
        {
            markPiece?.Invoke("root: Newton-Schulz");
            k.Gram.Backward(_q, _cov, _target.Root, _square, 0.5f, accumulate: false); // Sigma R
            k.Gram.Backward(_p, _target.Root, _q, _square, 0.5f, accumulate: false);   // R Sigma R
            LastRoot = k.Root.Roots(_sqrt, _inverseSqrt, _p, n, _scratch, hostFallback: false);
            exact = LastRoot.FellBack;
        }
        if (!exact)
        {
            markPiece?.Invoke("forward");
            k.Wasserstein.Loss(_loss, _mean, _target.Mean, _cov, _sqrt, _weight, _target.Trace);
        }
        _roots.Arrive(this, exact, markPiece); // on the exact path, the loss follows with the group's roots
    }

    /// <summary>C, this tap's channels (the size of its root).</summary>
    internal int Channels => _shape.Channels;

    /// <summary>
    /// The exact path, in double on the host, in arrays kept from one evaluation to the next
    /// (<see cref="ExactWork"/>), in three steps so that a group's taps can solve theirs side by side
    /// (<see cref="W2ExactRoots"/>): <see cref="ReadCovariance"/> and <see cref="AddExactLoss"/> use the device, on
    /// the caller's thread; <see cref="SolveExact"/> between them is host arithmetic alone (<see cref="DoubleGemm"/>,
    /// <see cref="SymmetricEigen.DecomposeApplied"/>). P = R Sigma R from the device's Sigma and the target's
    /// double R (a P formed in float32 has lost the small eigenvalues), <c>P = V diag(l) V^T</c>, and with
    /// <c>l' = max(l, eps^2)</c> (P &gt;= eps^2 I exactly, since Sigma and Sigma_s are both &gt;= eps I; a smaller
    /// l is rounding's): <c>tr P^(1/2) = sum_k sqrt(l'_k)</c> for the loss, and
    /// <c>R P^(-1/2) R = U U^T</c> with <c>U = R V diag(l'^(-1/4))</c> for the gradient, kept as
    /// <c>I - R P^(-1/2) R</c> in double until it is rounded (near the target it is close to 0, and formed in
    /// float32 it would keep only the first digits of the gradient). Two products for P (one symmetric, half the
    /// work), the eigendecomposition with R V made from its reflections, never V itself
    /// (<see cref="SymmetricEigen.DecomposeApplied"/>), and U U^T (symmetric); neither root is formed.
    /// </summary>
    /// <remarks>Sigma read back from the device (which must have finished its forward: the caller synchronises)
    /// into the exact path's arrays.</remarks>
    internal void ReadCovariance()
    {
        var w = _exact ??= new ExactWork(_shape.Channels);
        _cov.CopyToCPU(ref w.Single[0], w.Single.Length);
    }

    /// <summary>The exact path's arithmetic on <paramref name="threads"/> cores (see <see cref="ReadCovariance"/>):
    /// the roots of P's eigenvalues into <c>RootEigenvalues</c>, the transport into <see cref="_transport"/>.</summary>
    internal void SolveExact(int threads)
    {
        int n = _shape.Channels;
        var w = _exact!;
        for (int i = 0; i < w.Single.Length; i++) w.Cov[i] = w.Single[i];
        var r = _target.RootDouble;
        DoubleGemm.Multiply(w.Product, w.Cov, r, n, threads);
        DoubleGemm.Multiply(w.P, r, w.Product, n, threads, symmetric: true);

        // U = R V diag(l'^(-1/4)), R V without V (SymmetricEigen.DecomposeApplied), column k scaled.
        var u = w.Product;
        var values = SymmetricEigen.DecomposeApplied(w.P, r, n, threads, w.Eigen, u);

        double floor = (double)Wasserstein.Epsilon * Wasserstein.Epsilon;
        var roots = w.RootEigenvalues; // tr P^(1/2) is their sum
        for (int k = 0; k < n; k++) roots[k] = Math.Sqrt(Math.Max(values[k], floor));
        var scale = w.Scale;
        for (int k = 0; k < n; k++) scale[k] = Math.Sqrt(roots[k]);
        for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            u[i * n + k] /= scale[k];
        var rzr = w.P;
        DoubleGemm.MultiplyTransposed(rzr, u, u, n, threads, symmetric: true);
        var transport = _transport = w.Single;
        for (int i = 0; i < rzr.Length; i++) transport[i] = (float)-rzr[i];
        for (int i = 0; i < n; i++) transport[i * n + i] = (float)(1 - rzr[i * n + i]);
    }

    /// <summary>The exact path's loss, from P^(1/2)'s eigenvalues, whose sum is its trace (see
    /// <see cref="ReadCovariance"/>), added on the device.</summary>
    internal void AddExactLoss()
    {
        int n = _shape.Channels;
        _sqrt.SubView(0, n).CopyFromCPU(Array.ConvertAll(_exact!.RootEigenvalues, v => (float)v));
        _kernels.Wasserstein.LossFromRootTerms(_loss, _mean, _target.Mean, _cov, _sqrt.SubView(0, n), _weight,
            _target.Trace);
    }

    /// <summary>
    /// The exact path's arrays for C channels, in host memory (not the device's, so not in the plan's device
    /// accounting): Sigma read back, then the transport rounded (C^2 floats); three C^2 doubles that serve in turn
    /// as Sigma, Sigma R, P, U and U U^T; P^(1/2)'s eigenvalues and the scales of U's columns (C doubles each); and the
    /// eigendecomposition's workspace. About 20 MB at C = 512, made
    /// once, the first time a tap takes the exact path, and reused by every later evaluation: made afresh each
    /// time they cost more in allocation, zeroing and page faults than some of the products that fill them.
    /// </summary>
    private sealed class ExactWork(int n)
    {
        public float[] Single { get; } = new float[n * n];

        public double[] Cov { get; } = new double[n * n];

        public double[] Product { get; } = new double[n * n];

        public double[] P { get; } = new double[n * n];

        public double[] RootEigenvalues { get; } = new double[n];

        public double[] Scale { get; } = new double[n];

        public SymmetricEigen.Workspace Eigen { get; } = new(n);
    }

    /// <inheritdoc/>
    public void Backward(ArrayView<float> dActivation, DeviceTensor activation)
    {
        var k = _kernels;
        float weight = _normalizer is null ? _weight : 1f;
        if (_transport is null)
        {
            k.Gram.Backward(_q, _inverseSqrt, _target.Root, _square, 0.5f, accumulate: false); // P^(-1/2) R
            k.Gram.Backward(_p, _target.Root, _q, _square, 0.5f, accumulate: false);          // R P^(-1/2) R
            k.Wasserstein.GradientMatrix(_p, _shape.Channels, weight);                          // G
        }
        else
        {
            _p.CopyFromCPU(_transport);
            k.Vectors.Scale(_p, weight / _shape.Channels);                                      // G
        }
        k.Wasserstein.MeanGradient(_b, _p, _mean, _target.Mean, _shape, weight);
        var destination = _normalizer is null ? dActivation : _normalizer.Scratch(dActivation.Length);
        k.Gram.Backward(destination, _p, activation.View, _shape, 1f / _shape.Positions,
            accumulate: _normalizer is null);                                                 // (2/M) G F
        k.Wasserstein.AddRows(destination, _b, _shape);
        _normalizer?.AddNormalized(dActivation, destination, _weight);
    }
}
