using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// The square root and inverse square root of a symmetric positive definite matrix, in three files:
//   MatrixRoot.cs      glossary; the reference; the element kernels; the coupled Newton-Schulz iteration
//   MatrixRoot.Cpu.cs  the element kernels as host code (the CPU accelerator)
//   SymmetricEigen.cs  the double-precision eigendecomposition: the reference and the fallback
// The products are the Gram matrix's backward kernel (every variant of it: per element, tiled, CpuGemm), which
// computes s (A + A^T) B: with s = 1/2 and A symmetric, exactly A B.
//
// Glossary: n the size; P (n, n) the matrix, symmetric positive definite; c = ||P||_F its scale.
//   Y_0 = P / c, Z_0 = I;  T_k = (3 I - Z_k Y_k) / 2;  Y_{k+1} = Y_k T_k;  Z_{k+1} = T_k Z_k
//   Y_k -> (P/c)^(1/2),  Z_k -> (P/c)^(-1/2),  so  P^(1/2) = sqrt(c) Y,  P^(-1/2) = Z / sqrt(c).

/// <summary>How a root was found: the iteration's count, its last residual, and whether it fell back.</summary>
/// <param name="Iterations">Newton-Schulz steps taken.</param>
/// <param name="Residual">The last <c>||Z Y - I||_F / sqrt(n)</c> (0 after the fallback).</param>
/// <param name="FellBack">Whether the roots came from the host's double-precision eigendecomposition.</param>
public readonly record struct RootReport(int Iterations, float Residual, bool FellBack);

/// <summary>
/// <c>P^(1/2)</c> and <c>P^(-1/2)</c> of a symmetric positive definite matrix by the coupled Newton-Schulz
/// iteration (Higham, Functions of Matrices, sec. 6.3): three n x n products a step, no inverse, no
/// eigendecomposition, on whatever runs the products.
/// </summary>
/// <remarks>
/// <para>Scaling: P is divided by its Frobenius norm, so every eigenvalue of <c>P/c</c> lies in (0, 1] and the
/// iteration converges (it does for eigenvalues in (0, 3)). An eigenvalue <c>l</c> of P/c grows by about 9/4 a
/// step in <c>Z Y</c> until it nears 1, then the convergence is quadratic: a condition number of 1e6 takes about
/// 25 steps.</para>
/// <para>Stopping rule: after each step the residual <c>r = ||Z Y - I||_F / sqrt(n)</c> (from <c>T</c>:
/// <c>Z Y - I = 2 (I - T)</c>) is read back. In exact arithmetic every eigenvalue x of <c>Z Y</c> moves to
/// <c>x (3 - x)^2 / 4</c>, monotonically towards 1, so r only falls. The iteration stops when
/// <c>r &lt;= </c><see cref="Tolerance"/>, or at the first step that does not lower r (float rounding's floor,
/// or the growth of rounding errors that makes the coupled iteration diverge on an ill-conditioned P), keeping
/// the step before. It is accepted when its <c>r &lt;= </c><see cref="Acceptable"/>.</para>
/// <para>Fallback: a residual above that when the iteration stops, after <see cref="MaxIterations"/> steps,
/// or not finite (a matrix too ill-conditioned for float32) hands P to the host, which takes both roots by a
/// double-precision eigendecomposition (<see cref="SymmetricEigen"/>) and writes them back, exact to float
/// rounding. A caller with a better exact path of its own (the Wasserstein-2 tap, which needs neither root itself,
/// only <c>tr P^(1/2)</c> and <c>R P^(-1/2) R</c>) can ask for the report alone instead.</para>
/// </remarks>
public sealed partial class MatrixRoot
{
    /// <summary>The residual that ends the iteration at once.</summary>
    public const float Tolerance = 1e-6f;

    /// <summary>The largest residual whose roots are kept; above it the host's eigendecomposition takes
    /// over.</summary>
    public const float Acceptable = 2e-5f;

    /// <summary>The most steps before the fallback.</summary>
    public const int MaxIterations = 40;

    private readonly Accelerator _accelerator;
    private readonly KernelChoice _choice;
    private readonly CpuHost _host;
    private readonly Gram _gram;
    private readonly Reduction _reduction;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>> _start;
    private readonly Lazy<Action<Index1D, ArrayView<float>, int>> _step;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, float, float>> _finish;

    /// <summary>The element kernels for <paramref name="accelerator"/> (each compiled at its first launch); the
    /// products are <paramref name="gram"/>'s.</summary>
    public MatrixRoot(Accelerator accelerator, KernelChoice choice, CpuHost host, Gram gram, Reduction reduction)
    {
        _accelerator = accelerator;
        _choice = choice;
        _host = host;
        _gram = gram;
        _reduction = reduction;
        _start = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, float>(StartKernel));
        _step = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int>(StepKernel));
        _finish = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float,
            float>(FinishKernel));
    }

    /// <summary>Floats of scratch <see cref="Roots"/> needs for an n x n matrix: three matrices and the
    /// residual.</summary>
    public static long ScratchFloats(int n) => 3L * n * n + 1;

    // ---------------------------------------------------------------- CPU reference

    /// <summary>The reference: <c>P^(1/2)</c> and <c>P^(-1/2)</c> by a double-precision
    /// eigendecomposition.</summary>
    /// <param name="p">The matrix, n x n.</param>
    /// <param name="n">Its size.</param>
    /// <param name="floor">A lower bound of P's spectrum known from how P was made (the Wasserstein-2 loss's
    /// <c>eps^2</c>): eigenvalues below it, float rounding's in a P formed in float32, are raised to it, so that
    /// the inverse root stays as bounded as the exact one.</param>
    /// <param name="threads">Cores for the eigendecomposition and the products.</param>
    public static (double[] Sqrt, double[] InverseSqrt) RootsReference(double[] p, int n, double floor = 0,
        int threads = 1)
    {
        var (values, vectors) = SymmetricEigen.Decompose(p, n, threads);
        double least = Math.Max(floor, double.Epsilon);
        return (SymmetricEigen.Compose(values, vectors, n, l => Math.Sqrt(Math.Max(l, floor)), threads),
            SymmetricEigen.Compose(values, vectors, n, l => 1 / Math.Sqrt(Math.Max(l, least)), threads));
    }

    // ---------------------------------------------------------------- element kernels (one thread per entry)

    /// <summary>Y = P * scale, Z = I.</summary>
    public static void StartKernel(Index1D i, ArrayView<float> y, ArrayView<float> z, ArrayView<float> p, int n,
        float scale)
    {
        y[i] = p[i] * scale;
        z[i] = i / n == i % n ? 1f : 0f;
    }

    /// <summary>In place: W = Z Y becomes T = (3 I - W) / 2.</summary>
    public static void StepKernel(Index1D i, ArrayView<float> t, int n) =>
        t[i] = (i / n == i % n ? 1.5f : 0f) - 0.5f * t[i];

    /// <summary>Undoes the scaling: Y = P^(1/2) = sqrt(c) Y, Z = P^(-1/2) = Z / sqrt(c).</summary>
    public static void FinishKernel(Index1D i, ArrayView<float> y, ArrayView<float> z, float yScale, float zScale)
    {
        y[i] *= yScale;
        z[i] *= zScale;
    }

    /// <summary>The residual's summand: <c>(2 (T - I))^2</c> per entry, so the sum is <c>||Z Y - I||_F^2</c>.</summary>
    public readonly struct DeviationSummand(ArrayView<float> t, int n) : ISummand
    {
        private readonly ArrayView<float> _t = t;
        private readonly int _n = n;

        /// <inheritdoc/>
        public float At(int index)
        {
            float d = 2f * (_t[index] - (index / _n == index % _n ? 1f : 0f));
            return d * d;
        }
    }

    // ---------------------------------------------------------------- the iteration

    /// <summary>
    /// Writes <c>P^(1/2)</c> into <paramref name="sqrt"/> and <c>P^(-1/2)</c> into <paramref name="inverseSqrt"/>
    /// (n x n each), for the symmetric positive definite <paramref name="p"/> (n x n, left unchanged), with
    /// <paramref name="scratch"/> of <see cref="ScratchFloats"/>; synchronises (the stopping rule reads each
    /// residual). <paramref name="floor"/>: a known lower bound of P's spectrum, which the fallback keeps
    /// (<see cref="RootsReference"/>). <paramref name="maxIterations"/> below the default forces the fallback
    /// sooner (its test). <paramref name="hostFallback"/> false: when the iteration fails, nothing is written and
    /// the report (FellBack) tells the caller to take its own exact path.
    /// </summary>
    public RootReport Roots(ArrayView<float> sqrt, ArrayView<float> inverseSqrt, ArrayView<float> p, int n,
        ArrayView<float> scratch, double floor = 0, int maxIterations = MaxIterations, bool hostFallback = true,
        KernelVariant variant = KernelVariant.Auto)
    {
        long nn = (long)n * n;
        Require.Length(p, nn, nameof(p));
        Require.Length(sqrt, nn, nameof(sqrt));
        Require.Length(inverseSqrt, nn, nameof(inverseSqrt));
        Require.Length(scratch, ScratchFloats(n), nameof(scratch));
        bool host = KernelChoice.Resolve(variant, _choice.MatrixRoot()) switch
        {
            KernelVariant.PerElement => false,
            KernelVariant.Cpu => true,
            var other => throw KernelChoice.NotOffered("matrix root", other),
        };
        var shape = new GramShape(n, n);
        var y = sqrt;
        var z = inverseSqrt;
        var t = scratch.SubView(0, nn);
        var y2 = scratch.SubView(nn, nn);
        var z2 = scratch.SubView(2 * nn, nn);
        var residual = scratch.SubView(3 * nn, 1);

        double norm = FrobeniusNorm(p, residual, host);
        if (!(norm > 0) || !double.IsFinite(norm))
            return hostFallback ? Fallback(sqrt, inverseSqrt, p, n, 0, floor) : new RootReport(0, 0, true);
        if (host) StartCpu(y, z, p, n, (float)(1 / norm));
        else _start.Value((int)nn, y, z, p, n, (float)(1 / norm));

        float previous = float.PositiveInfinity;
        int steps = 0;
        bool swapped = false;
        while (true)
        {
            // T = (3 I - Z Y) / 2, and r = ||Z Y - I|| / sqrt(n) from it.
            _gram.Backward(t, z, y, shape, 0.5f, accumulate: false);
            float r = host ? StepCpu(t, n) : StepDevice(t, n, residual);
            if (!float.IsFinite(r) || r >= previous)
            {
                // No progress: rounding's floor, or the divergence of an ill-conditioned P. The step before is the
                // better one; its Y and Z are in the other pair of buffers.
                if (!(previous <= Acceptable)) break;
                (y, y2) = (y2, y);
                (z, z2) = (z2, z);
                swapped = !swapped;
                r = previous;
                steps--;
            }
            else if (r > Tolerance && steps < maxIterations)
            {
                previous = r;
                // Y' = Y T, Z' = T Z: both products read their left factor's symmetric part.
                _gram.Backward(y2, y, t, shape, 0.5f, accumulate: false);
                _gram.Backward(z2, t, z, shape, 0.5f, accumulate: false);
                (y, y2) = (y2, y);
                (z, z2) = (z2, z);
                swapped = !swapped;
                steps++;
                continue;
            }
            if (r > Acceptable) break;
            if (swapped)
            {
                // The roots are in the scratch.
                y.CopyTo(sqrt);
                z.CopyTo(inverseSqrt);
            }
            float root = (float)Math.Sqrt(norm);
            if (host) FinishCpu(sqrt, inverseSqrt, root, 1 / root);
            else _finish.Value((int)nn, sqrt, inverseSqrt, root, 1 / root);
            return new RootReport(steps, r, false);
        }
        return hostFallback ? Fallback(sqrt, inverseSqrt, p, n, steps, floor) : new RootReport(steps, 0, true);
    }
    private float StepDevice(ArrayView<float> t, int n, ArrayView<float> residual)
    {
        _step.Value(n * n, t, n);
        _reduction.Sum(residual, n * n, new DeviationSummand(t, n), finish: SumFinish.ScaleSqrt);
        return Read(residual)[0] / MathF.Sqrt(n);
    }

    private double FrobeniusNorm(ArrayView<float> p, ArrayView<float> result, bool host)
    {
        if (host) return FrobeniusNormCpu(p);
        _reduction.Sum(result, (int)p.Length, new VectorSquares(p), finish: SumFinish.ScaleSqrt);
        return Read(result)[0];
    }

    /// <summary>A device view's values (a copy that synchronises).</summary>
    private static float[] Read(ArrayView<float> view) => ArrayViewExtensions.GetAsArray1D<float>(view);

    /// <summary>x[i]^2, the Frobenius norm's summand.</summary>
    private readonly struct VectorSquares(ArrayView<float> x) : ISummand
    {
        private readonly ArrayView<float> _x = x;

        public float At(int index) => _x[index] * _x[index];
    }

    /// <summary>Both roots from the host's double eigendecomposition of P, written back.</summary>
    private RootReport Fallback(ArrayView<float> sqrt, ArrayView<float> inverseSqrt, ArrayView<float> p, int n,
        int steps, double floor)
    {
        _accelerator.Synchronize();
        var matrix = Array.ConvertAll(Read(p), v => (double)v);
        var (root, inverse) = RootsReference(matrix, n, floor, _host.Threads);
        sqrt.CopyFromCPU(Array.ConvertAll(root, v => (float)v));
        inverseSqrt.CopyFromCPU(Array.ConvertAll(inverse, v => (float)v));
        return new RootReport(steps, 0, true);
    }
}
