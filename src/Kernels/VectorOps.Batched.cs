using System.Runtime.Intrinsics;
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

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _dotsPartial;
    private Action<Index1D, ArrayView<float>, ArrayView<float>>? _dotsFinish;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _combineRows;

    /// <summary>Floats of the scratch <see cref="Dots"/> needs for <paramref name="rows"/> rows.</summary>
    public static long DotsScratchLength(int rows) => (long)rows * DotPartials;

    /// <summary>
    /// result[r] = rows[r]·v for r &lt; count, where rows holds vectors of v's length one after
    /// another: two launches (partial sums, then their sum per row in a fixed order) or one host pass.
    /// </summary>
    /// <param name="result">At least count floats.</param>
    /// <param name="rows">At least count rows of v.Length floats.</param>
    /// <param name="count">How many rows take part (0: nothing happens).</param>
    /// <param name="v">The vector every row is multiplied with.</param>
    /// <param name="scratch">At least <see cref="DotsScratchLength"/>(count) floats (unused in host code).</param>
    public void Dots(ArrayView<float> result, ArrayView<float> rows, int count, ArrayView<float> v,
        ArrayView<float> scratch)
    {
        long n = v.Length;
        if (count < 0 || result.Length < count || rows.Length < count * n)
            throw new ArgumentException(
                $"Dots of {count} rows of {n} need {count} results and {count * n} row floats.");
        if (count == 0) return;
        if (_hostCode)
        {
            DotsCpu(result, rows, count, v);
            return;
        }
        if (scratch.Length < DotsScratchLength(count))
            throw new ArgumentException($"Dots of {count} rows need {DotsScratchLength(count)} floats of scratch.",
                nameof(scratch));
        var partials = scratch.SubView(0, DotsScratchLength(count));
        _dotsPartial ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(DotsPartialKernel);
        _dotsFinish ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(
            DotsFinishKernel);
        _dotsPartial((int)partials.Length, partials, rows, v, (int)n);
        _dotsFinish(count, result, partials);
    }

    /// <summary>
    /// z = (accumulate ? z : 0) + sum over r &lt; count of coefficients[r] * rows[r], rows holding
    /// vectors of z's length one after another: one launch or one host pass.
    /// </summary>
    public void CombineRows(ArrayView<float> z, ArrayView<float> rows, ArrayView<float> coefficients, int count,
        bool accumulate)
    {
        long n = z.Length;
        if (count < 0 || coefficients.Length < count || rows.Length < count * n)
            throw new ArgumentException(
                $"A combination of {count} rows of {n} needs {count} coefficients and {count * n} row floats.");
        if (_hostCode)
        {
            CombineRowsCpu(z, rows, coefficients, count, accumulate);
            return;
        }
        _combineRows ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(CombineRowsKernel);
        if (n > 0) _combineRows((int)n, z, rows, coefficients, count, accumulate ? 1 : 0);
    }

    /// <summary>Pass 1 of <see cref="Dots"/>: thread (r, p) sums rows[r][i] v[i] for i = p, p+P, ... (Kahan).</summary>
    public static void DotsPartialKernel(Index1D index, ArrayView<float> partials, ArrayView<float> rows,
        ArrayView<float> v, int n)
    {
        int r = index / DotPartials, p = index % DotPartials;
        long start = (long)r * n;
        float sum = 0f, compensation = 0f;
        for (int i = p; i < n; i += DotPartials)
        {
            float term = rows[start + i] * v[i] - compensation;
            float next = sum + term;
            compensation = next - sum - term;
            sum = next;
        }
        partials[index] = sum;
    }

    /// <summary>Pass 2 of <see cref="Dots"/>: thread r adds its row's partials in order.</summary>
    public static void DotsFinishKernel(Index1D r, ArrayView<float> result, ArrayView<float> partials)
    {
        float sum = 0f;
        for (int p = 0; p < DotPartials; p++) sum += partials[r * DotPartials + p];
        result[r] = sum;
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

    private unsafe void DotsCpu(ArrayView<float> result, ArrayView<float> rows, int count, ArrayView<float> v)
    {
        CpuHost.Begin(_accelerator);
        float* pr = CpuHost.Pointer(rows), pv = CpuHost.Pointer(v), presult = CpuHost.Pointer(result);
        long n = v.Length;
        // One row per work item, summed in order by one core: the result does not depend on the threads.
        CpuHost.For(count, (first, end) =>
        {
            for (int r = first; r < end; r++)
            {
                float* row = pr + r * n;
                double total = 0;
                for (long start = 0; start < n; start += 16384)
                {
                    long stop = Math.Min(n, start + 16384), i = start;
                    var lanes = Vector512<float>.Zero;
                    for (; i + 16 <= stop; i += 16) lanes = Vector512.FusedMultiplyAdd(Vector512.Load(row + i),
                        Vector512.Load(pv + i), lanes);
                    total += Vector512.Sum(Vector512.WidenLower(lanes)) + Vector512.Sum(Vector512.WidenUpper(lanes));
                    for (; i < stop; i++) total += (double)row[i] * pv[i];
                }
                presult[r] = (float)total;
            }
        });
    }

    private unsafe void CombineRowsCpu(ArrayView<float> z, ArrayView<float> rows, ArrayView<float> coefficients,
        int count,
        bool accumulate)
    {
        CpuHost.Begin(_accelerator);
        float* pz = CpuHost.Pointer(z), pr = CpuHost.Pointer(rows), pc = CpuHost.Pointer(coefficients);
        long n = z.Length;
        // Element ranges of 4096 (16 KB of z, kept in L1 while every row's slice streams past).
        CpuHost.ForElements(n, (first, end) =>
        {
            for (long block = first; block < end; block += 4096)
            {
                long stop = Math.Min(end, block + 4096);
                if (!accumulate) new Span<float>(pz + block, (int)(stop - block)).Clear();
                for (int r = 0; r < count; r++)
                {
                    float* row = pr + r * n;
                    var c = Vector512.Create(pc[r]);
                    long i = block;
                    for (; i + 16 <= stop; i += 16)
                        Vector512.Store(Vector512.FusedMultiplyAdd(c, Vector512.Load(row + i), Vector512.Load(
                            pz + i)), pz + i);
                    for (; i < stop; i++) pz[i] = MathF.FusedMultiplyAdd(pc[r], row[i], pz[i]);
                }
            }
        });
    }

    /// <summary>Reference for <see cref="Dots"/>.</summary>
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
}
