using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Batched vector operations: many dot products against one vector, and a linear combination of
/// many vectors, each in a fixed number of launches however many vectors take part. L-BFGS uses
/// them so that an iteration's launches and host reads do not grow with its history.
/// </summary>
public sealed partial class VectorOps
{
    /// <summary>Partial sums per row of <see cref="Dots"/> on a device (fixed: the sums are deterministic).</summary>
    public const int DotPartials = 64;

    private Action<Index1D, ArrayView<float>, ArrayView<float>, DotVectors, int>? _dotsPartial;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _dotsFinish;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _combineRows;

    /// <summary>Floats of the scratch <see cref="Dots"/> needs for <paramref name="rows"/> rows (three
    /// vectors).</summary>
    public static long DotsScratchLength(int rows) => 3L * rows * DotPartials;

    // ---------------------------------------------------------------- CPU references

    /// <summary>Reference for <see cref="Dots"/> with one vector.</summary>
    public static void DotsReference(double[] result, double[] rows, int count, double[] v)
    {
        for (int r = 0; r < count; r++)
        {
            double sum = 0;
            for (int i = 0; i < v.Length; i++) sum += rows[r * v.Length + i] * v[i];
            result[r] = sum;
        }
    }

    /// <summary>Reference for <see cref="CombineRows"/>.</summary>
    public static void CombineRowsReference(double[] z, double[] rows, double[] coefficients, int count,
        bool accumulate)
    {
        for (int i = 0; i < z.Length; i++)
        {
            double value = accumulate ? z[i] : 0;
            for (int r = 0; r < count; r++) value += coefficients[r] * rows[r * z.Length + i];
            z[i] = value;
        }
    }

    // ---------------------------------------------------------------- kernel 1: partial sums, one thread per element

    /// <summary>
    /// Pass 1 of <see cref="Dots"/>: thread (r, p) sums rows[r][i] v_j[i] for i = p, p+P, ... for
    /// each vector j (Kahan), into partials[(j*count + r)*P + p].
    /// </summary>
    public static void DotsPartialKernel(Index1D index, ArrayView<float> partials, ArrayView<float> rows,
        DotVectors vectors, int count)
    {
        int r = index / DotPartials, p = index % DotPartials, k = vectors.Count;
        long n = vectors.V0.Length, start = r * n;
        float sum0 = 0f, sum1 = 0f, sum2 = 0f, c0 = 0f, c1 = 0f, c2 = 0f;
        for (long i = p; i < n; i += DotPartials)
        {
            float x = rows[start + i];
            KahanAdd(ref sum0, ref c0, x * vectors.V0[i]);
            if (k > 1) KahanAdd(ref sum1, ref c1, x * vectors.V1[i]);
            if (k > 2) KahanAdd(ref sum2, ref c2, x * vectors.V2[i]);
        }
        partials[(long)r * DotPartials + p] = sum0;
        if (k > 1) partials[((long)count + r) * DotPartials + p] = sum1;
        if (k > 2) partials[(2L * count + r) * DotPartials + p] = sum2;
    }

    private static void KahanAdd(ref float sum, ref float compensation, float value)
    {
        float term = value - compensation;
        float next = sum + term;
        compensation = next - sum - term;
        sum = next;
    }

    /// <summary>Pass 2 of <see cref="Dots"/>: thread (j, r) adds its partials in order.</summary>
    public static void DotsFinishKernel(Index1D index, ArrayView<float> result, ArrayView<float> partials, int count,
        int stride)
    {
        float sum = 0f;
        for (int p = 0; p < DotPartials; p++) sum += partials[(long)(int)index * DotPartials + p];
        result[index / count * stride + index % count] = sum;
    }

    /// <summary>One thread per element i: z[i] (+)= sum over rows of coefficients[r] * rows[r][i].</summary>
    public static void CombineRowsKernel(Index1D i, ArrayView<float> z, ArrayView<float> rows,
        ArrayView<float> coefficients,
        int count, int accumulate)
    {
        long n = z.Length;
        float value = accumulate != 0 ? z[i] : 0f;
        for (int r = 0; r < count; r++) value += coefficients[r] * rows[r * n + i];
        z[i] = value;
    }

    // ---------------------------------------------------------------- kernel 2: host code (VectorOps.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>
    /// result[j*stride + r] = rows[r]·v_j for r &lt; count and each of the (up to three) vectors,
    /// where rows holds vectors of v_0's length one after another. Each row is read once for all
    /// the vectors: two launches (partial sums, then their sum in a fixed order) or one host pass.
    /// </summary>
    /// <param name="result">At least (vectors - 1)*stride + count floats.</param>
    /// <param name="stride">Floats between the results of consecutive vectors (at least count).</param>
    /// <param name="rows">At least count rows of v_0.Length floats.</param>
    /// <param name="count">How many rows take part (0: nothing happens).</param>
    /// <param name="vectors">The vectors every row is multiplied with.</param>
    /// <param name="scratch">At least <see cref="DotsScratchLength"/>(count) floats (unused in host code).</param>
    /// <param name="variant">Kernel 1 (two launches) or the host code; Auto: the rule's.</param>
    public void Dots(ArrayView<float> result, int stride, ArrayView<float> rows, int count, DotVectors vectors,
        ArrayView<float> scratch, KernelVariant variant = KernelVariant.Auto)
    {
        long n = vectors.V0.Length;
        int k = vectors.Count;
        if (count < 0 || stride < count || result.Length < (long)(k - 1) * stride + count || rows.Length < count * n)
        {
            throw new ArgumentException(
                $"Dots of {count} rows of {n} with {k} vectors need {(k - 1) * stride + count} results " +
                $"and {count * n} row floats.");
        }
        if (vectors.V1.Length is not 0 && vectors.V1.Length !=
            n || vectors.V2.Length is not 0 && vectors.V2.Length != n)
            throw new ArgumentException("Every vector of a batched dot product needs the same length.", nameof(
                vectors));
        if (count == 0) return;
        if (InHostCode(variant))
        {
            DotsCpu(result, stride, rows, count, vectors);
            return;
        }
        if (scratch.Length < DotsScratchLength(count))
        {
            throw new ArgumentException($"Dots of {count} rows need {DotsScratchLength(count)} floats of scratch.",
                nameof(scratch));
        }
        _dotsPartial ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            DotVectors, int>(DotsPartialKernel);
        _dotsFinish ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int,
            int>(DotsFinishKernel);
        _dotsPartial(count * DotPartials, scratch, rows, vectors, count);
        _dotsFinish(k * count, result, scratch, count, stride);
    }

    /// <summary>
    /// z = (accumulate ? z : 0) + sum over r &lt; count of coefficients[r] * rows[r], rows holding
    /// vectors of z's length one after another: one launch or one host pass.
    /// </summary>
    public void CombineRows(ArrayView<float> z, ArrayView<float> rows, ArrayView<float> coefficients, int count,
        bool accumulate, KernelVariant variant = KernelVariant.Auto)
    {
        long n = z.Length;
        if (count < 0 || coefficients.Length < count || rows.Length < count * n)
            throw new ArgumentException(
                $"A combination of {count} rows of {n} needs {count} coefficients and {count * n} row floats.");
        if (InHostCode(variant))
        {
            CombineRowsCpu(z, rows, coefficients, count, accumulate);
            return;
        }
        _combineRows ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(CombineRowsKernel);
        if (n > 0) _combineRows((int)n, z, rows, coefficients, count, accumulate ? 1 : 0);
    }
}

/// <summary>The one to three vectors of a batched dot product (<see cref="VectorOps.Dots"/>): V0, then
/// V1 and V2 when not empty.</summary>
/// <param name="V0">The first vector.</param>
/// <param name="V1">A second vector of the same length, or empty.</param>
/// <param name="V2">A third vector of the same length (only with a second), or empty.</param>
public readonly record struct DotVectors(ArrayView<float> V0, ArrayView<float> V1 = default,
    ArrayView<float> V2 = default)
{
    /// <summary>How many vectors take part.</summary>
    public int Count => V1.Length == 0 ? 1 : V2.Length == 0 ? 2 : 3;
}
