using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>Term i of 1/2 d_i (x_i - c_i)^2.</summary>
public readonly struct QuadraticSummand(ArrayView<float> x, ArrayView<float> diagonal,
    ArrayView<float> center) : ISummand
{
    private readonly ArrayView<float> _x = x;
    private readonly ArrayView<float> _d = diagonal;
    private readonly ArrayView<float> _c = center;

    public float At(int index)
    {
        float r = _x[index] - _c[index];
        return 0.5f * _d[index] * r * r;
    }
}

/// <summary>
/// f(x) = 1/2 sum d_i (x_i - c_i)^2 on the device: minimum 0 at x = c, Hessian diag(d), so its
/// condition number is max d / min d.
/// </summary>
public sealed class DiagonalQuadratic : IObjective, IDisposable
{
    private readonly KernelSet _kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _diagonal;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _center;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> _gradient;

    public DiagonalQuadratic(KernelSet kernels, double[] diagonal, double[] center)
    {
        _kernels = kernels;
        Diagonal = diagonal;
        Center = center;
        _diagonal = kernels.Accelerator.Allocate1D(Array.ConvertAll(diagonal, v => (float)v));
        _center = kernels.Accelerator.Allocate1D(Array.ConvertAll(center, v => (float)v));
        _gradient = kernels.Accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GradientKernel);
    }

    /// <summary>d_i = condition^(i/(n-1)): eigenvalues spread evenly on a log scale from 1 to condition.</summary>
    public static DiagonalQuadratic IllConditioned(KernelSet kernels, int n, double condition, int seed)
    {
        var diagonal = new double[n];
        for (int i = 0; i < n; i++) diagonal[i] = Math.Pow(condition, n == 1 ? 0 : (double)i / (n - 1));
        var random = new Random(seed);
        var center = new double[n];
        for (int i = 0; i < n; i++) center[i] = 2 * random.NextDouble() - 1;
        return new DiagonalQuadratic(kernels, diagonal, center);
    }

    public double[] Diagonal { get; }

    public double[] Center { get; }

    public int Length => Diagonal.Length;

    public int Evaluations { get; private set; }

    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss)
    {
        Evaluations++;
        _gradient(Length, gradient, x, _diagonal.View, _center.View);
        _kernels.Reduction.Sum(loss, Length, new QuadraticSummand(x, _diagonal.View, _center.View));
    }

    /// <summary>f in double on the host, for checking reported losses.</summary>
    public double Value(float[] x)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += 0.5 * Diagonal[i] * (x[i] - Center[i]) * (x[i] - Center[i]);
        return sum;
    }

    /// <summary>g_i = d_i (x_i - c_i).</summary>
    public static void GradientKernel(Index1D i, ArrayView<float> gradient, ArrayView<float> x,
        ArrayView<float> diagonal, ArrayView<float> center) =>
        gradient[i] = diagonal[i] * (x[i] - center[i]);

    public void Dispose()
    {
        _diagonal.Dispose();
        _center.Dispose();
    }
}

/// <summary>Term i of the chained Rosenbrock function (zero for the last element).</summary>
public readonly struct RosenbrockSummand(ArrayView<float> x) : ISummand
{
    private readonly ArrayView<float> _x = x;

    public float At(int index)
    {
        if (index + 1 >= _x.Length) return 0f;
        float xi = _x[index];
        float a = _x[index + 1] - xi * xi;
        float b = 1f - xi;
        return 100f * a * a + b * b;
    }
}

/// <summary>
/// The chained Rosenbrock function f(x) = sum_{i &lt; n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 on
/// the device: minimum 0 at x = (1, ..., 1), at the end of a long curved valley.
/// </summary>
public sealed class Rosenbrock(KernelSet kernels, int n) : IObjective
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _gradient =
        kernels.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(GradientKernel);

    public int Length => n;

    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss)
    {
        _gradient(n, gradient, x);
        kernels.Reduction.Sum(loss, n, new RosenbrockSummand(x));
    }

    /// <summary>g_i gets -400 x_i (x_{i+1} - x_i^2) - 2 (1 - x_i) from term i and
    /// 200 (x_i - x_{i-1}^2) from term i-1.</summary>
    public static void GradientKernel(Index1D i, ArrayView<float> gradient, ArrayView<float> x)
    {
        float xi = x[i];
        float g = 0f;
        if (i + 1 < x.Length) g += -400f * xi * (x[i + 1] - xi * xi) - 2f * (1f - xi);
        if (i > 0) g += 200f * (xi - x[i - 1] * x[i - 1]);
        gradient[i] = g;
    }
}
