using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>Arithmetic on one-element device views ("device scalars"), for optimizers that must
/// not read intermediate values back to the host.</summary>
public enum ScalarOp
{
    /// <summary><c>a + b</c></summary>
    Add,
    /// <summary><c>a - b</c></summary>
    Subtract,
    /// <summary><c>a * b</c></summary>
    Multiply,
    /// <summary><c>a / b</c>, or 0 when <c>b == 0</c> (an L-BFGS curvature pair with no curvature
    /// must contribute nothing rather than poison every later step with infinities).</summary>
    Divide,
}

/// <summary>Term i of a dot product x·y.</summary>
public readonly struct ProductSummand(ArrayView<float> x, ArrayView<float> y) : ISummand
{
    private readonly ArrayView<float> _x = x;
    private readonly ArrayView<float> _y = y;

    /// <inheritdoc/>
    public float At(int index) => _x[index] * _y[index];
}

/// <summary>Term i of an L1 norm, |x_i|.</summary>
public readonly struct AbsSummand(ArrayView<float> x) : ISummand
{
    private readonly ArrayView<float> _x = x;

    /// <inheritdoc/>
    public float At(int index) => MathF.Abs(_x[index]);
}

/// <summary>
/// The vector operations the optimizers need, on device buffers of one length n.
/// </summary>
/// <remarks>
/// <para>Every method only enqueues work on the accelerator's default stream; nothing synchronises.
/// Reductions (<see cref="Dot"/>, norms) write a one-element device view. Where a coefficient is
/// itself a device scalar (L-BFGS's alpha and beta), the "...ByScalar" forms read it on the device.
/// In-place use is allowed where an output may alias an input: each thread reads element i of its
/// inputs before writing element i of its output, and touches no other element.</para>
/// <para>Reading order: the CPU references, kernel 1 (one thread per element, the device sums of
/// <see cref="Reduction"/>), kernel 2 (host code, VectorOps.Cpu.cs), the launchers; the batched forms
/// of the same in VectorOps.Batched.cs.</para>
/// </remarks>
public sealed partial class VectorOps
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Reduction _reduction;
    private readonly Accelerator _accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, float>> _fill;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        float, float, float>> _combine;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _multiply;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, float, ArrayView<float>>> _axpyByScalar;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScalarOp>> _scalar;

    /// <summary>
    /// The kernels for <paramref name="accelerator"/>, each compiled at its first launch; reductions go through
    /// <paramref name="reduction"/>.
    /// </summary>
    /// <param name="accelerator">Where the operations run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    /// <param name="reduction">The device sums (kernel 1's).</param>
    public VectorOps(Accelerator accelerator, KernelChoice choice, CpuHost host, Reduction reduction)
    {
        _choice = choice;
        _host = host;
        _reduction = reduction;
        _accelerator = accelerator;
        _fill = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(FillKernel));
        _combine = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float>(CombineKernel));
        _multiply = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(MultiplyKernel));
        _axpyByScalar = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, float, ArrayView<float>>(AxpyByScalarKernel));
        _scalar = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScalarOp>(ScalarKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>Reference for <see cref="LinearCombination"/>.</summary>
    public static void LinearCombinationReference(double[] z, double a, double[] x, double b, double[] y, double c)
    {
        for (int i = 0; i < z.Length; i++)
            z[i] = c + (a != 0 ? a * x[i] : 0) + (b != 0 ? b * y[i] : 0);
    }

    /// <summary>Reference for <see cref="Dot"/>.</summary>
    public static double DotReference(double[] x, double[] y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += x[i] * y[i];
        return sum;
    }

    /// <summary>Reference for <see cref="L1Norm"/>.</summary>
    public static double L1NormReference(double[] x)
    {
        double sum = 0;
        foreach (double v in x) sum += Math.Abs(v);
        return sum;
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>x[i] = value</summary>
    public static void FillKernel(Index1D i, ArrayView<float> x, float value) => x[i] = value;

    /// <summary>z[i] = a*x[i] + b*y[i] + c. Terms whose coefficient is 0 are skipped, so that a NaN in
    /// an unused input (a poisoned or uninitialised buffer) cannot leak into the result.</summary>
    public static void CombineKernel(Index1D i, ArrayView<float> z, ArrayView<float> x, ArrayView<float> y,
        float a, float b, float c)
    {
        float value = c;
        if (a != 0f) value += a * x[i];
        if (b != 0f) value += b * y[i];
        z[i] = value;
    }

    /// <summary>z[i] = x[i] * y[i]</summary>
    public static void MultiplyKernel(Index1D i, ArrayView<float> z, ArrayView<float> x, ArrayView<float> y) =>
        z[i] = x[i] * y[i];

    /// <summary>y[i] += factor * alpha[0] * x[i]. Every thread reads the same scalar: it is cached.</summary>
    public static void AxpyByScalarKernel(Index1D i, ArrayView<float> y, ArrayView<float> alpha, float factor,
        ArrayView<float> x) =>
        y[i] += factor * alpha[0] * x[i];

    /// <summary>One thread: result[0] = a[0] op b[0].</summary>
    public static void ScalarKernel(Index1D index, ArrayView<float> result, ArrayView<float> a, ArrayView<float> b,
        ScalarOp op) =>
        result[0] = Apply(a[0], op, b[0]);

    /// <summary>x op y, as <see cref="ScalarOp"/> defines it (kernel 1's and the host code's).</summary>
    private static float Apply(float x, ScalarOp op, float y) => op switch
    {
        ScalarOp.Add => x + y,
        ScalarOp.Subtract => x - y,
        ScalarOp.Multiply => x * y,
        _ => y == 0f ? 0f : x / y,
    };

    // ---------------------------------------------------------------- kernel 2: host code (VectorOps.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>
    /// Whether <paramref name="variant"/> (Auto: the rule's) is the host code: what every launcher
    /// switches on, each operation having kernel 1 and the host code.
    /// </summary>
    private bool InHostCode(KernelVariant variant) => KernelChoice.Resolve(variant, _choice.Vectors()) switch
    {
        KernelVariant.Cpu => true,
        KernelVariant.PerElement => false,
        _ => throw KernelChoice.NotOffered("vector operation", variant),
    };

    /// <summary><c>x[i] = value</c></summary>
    public void Fill(ArrayView<float> x, float value, KernelVariant variant = KernelVariant.Auto)
    {
        if (InHostCode(variant)) FillCpu(x, value);
        else if (x.Length > 0) _fill.Value((int)x.Length, x, value);
    }

    /// <summary><c>destination[i] = source[i]</c></summary>
    public void Copy(ArrayView<float> destination, ArrayView<float> source,
        KernelVariant variant = KernelVariant.Auto) =>
        LinearCombination(destination, 1f, source, 0f, source, 0f, variant);

    /// <summary><c>x[i] *= alpha</c></summary>
    public void Scale(ArrayView<float> x, float alpha, KernelVariant variant = KernelVariant.Auto) =>
        LinearCombination(x, alpha, x, 0f, x, 0f, variant);

    /// <summary><c>y[i] += alpha * x[i]</c></summary>
    public void Axpy(ArrayView<float> y, float alpha, ArrayView<float> x, KernelVariant variant = KernelVariant.Auto) =>
        LinearCombination(y, 1f, y, alpha, x, 0f, variant);

    /// <summary><c>z[i] = x[i] + y[i]</c></summary>
    public void Add(ArrayView<float> z, ArrayView<float> x, ArrayView<float> y,
        KernelVariant variant = KernelVariant.Auto) =>
        LinearCombination(z, 1f, x, 1f, y, 0f, variant);

    /// <summary><c>z[i] = x[i] - y[i]</c></summary>
    public void Subtract(ArrayView<float> z, ArrayView<float> x, ArrayView<float> y,
        KernelVariant variant = KernelVariant.Auto) =>
        LinearCombination(z, 1f, x, -1f, y, 0f, variant);

    /// <summary><c>z[i] = a * x[i] + b * y[i] + c</c>: the general elementwise affine operation that
    /// fill, copy, scale, axpy, add and subtract are special cases of.</summary>
    public void LinearCombination(ArrayView<float> z, float a, ArrayView<float> x, float b, ArrayView<float> y, float c,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(x, z.Length, nameof(x));
        Require.Length(y, z.Length, nameof(y));
        if (InHostCode(variant)) LinearCombinationCpu(z, a, x, b, y, c);
        else if (z.Length > 0) _combine.Value((int)z.Length, z, x, y, a, b, c);
    }

    /// <summary><c>z[i] = x[i] * y[i]</c> (elementwise product).</summary>
    public void Multiply(ArrayView<float> z, ArrayView<float> x, ArrayView<float> y,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(x, z.Length, nameof(x));
        Require.Length(y, z.Length, nameof(y));
        if (InHostCode(variant)) MultiplyCpu(z, x, y);
        else if (z.Length > 0) _multiply.Value((int)z.Length, z, x, y);
    }

    /// <summary><c>y[i] += factor * alpha[0] * x[i]</c>, with alpha a device scalar.</summary>
    public void AxpyByScalar(ArrayView<float> y, ArrayView<float> alpha, float factor, ArrayView<float> x,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(alpha, 1, nameof(alpha));
        Require.Length(x, y.Length, nameof(x));
        if (InHostCode(variant)) AxpyByScalarCpu(y, alpha, factor, x);
        else if (y.Length > 0) _axpyByScalar.Value((int)y.Length, y, alpha, factor, x);
    }

    /// <summary><c>result[0] = x · y</c></summary>
    public void Dot(ArrayView<float> result, ArrayView<float> x, ArrayView<float> y,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(result, 1, nameof(result));
        Require.Length(y, x.Length, nameof(y));
        if (InHostCode(variant)) SumCpu(result, x, y, SumKind.Dot);
        else _reduction.Sum(result, (int)x.Length, new ProductSummand(x, y));
    }

    /// <summary><c>result[0] = sum |x[i]|</c></summary>
    public void L1Norm(ArrayView<float> result, ArrayView<float> x, KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(result, 1, nameof(result));
        if (InHostCode(variant)) SumCpu(result, x, x, SumKind.Abs);
        else _reduction.Sum(result, (int)x.Length, new AbsSummand(x));
    }

    /// <summary><c>result[0] = sqrt(sum x[i]^2)</c></summary>
    public void L2Norm(ArrayView<float> result, ArrayView<float> x, KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(result, 1, nameof(result));
        if (InHostCode(variant)) SumCpu(result, x, x, SumKind.Square);
        else _reduction.Sum(result, (int)x.Length, new ProductSummand(x, x), finish: SumFinish.ScaleSqrt);
    }

    /// <summary><c>result[0] = a[0] op b[0]</c> on device scalars (result may alias a or b).</summary>
    public void Scalar(ArrayView<float> result, ArrayView<float> a, ScalarOp op, ArrayView<float> b,
        KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(result, 1, nameof(result));
        Require.Length(a, 1, nameof(a));
        Require.Length(b, 1, nameof(b));
        if (InHostCode(variant)) ScalarCpu(result, a, op, b);
        else _scalar.Value(1, result, a, b, op);
    }
}
