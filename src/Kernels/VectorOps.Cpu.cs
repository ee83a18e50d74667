using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the vector operations, host code for the CPU accelerator: AVX-512 loops over the
/// buffers on every core (<see cref="CpuHost"/>). They are passes over memory, so the only blocking is
/// the split into ranges of at least 4096 elements per core; sums are taken in fixed chunks with
/// double partials (<see cref="CpuHost.Sum"/>), so they are deterministic.
/// </summary>
public sealed partial class VectorOps
{
    private unsafe void FillCpu(ArrayView<float> x, float value)
    {
        _host.Begin("vector fill");
        float* p = CpuHost.Pointer(x);
        _host.ForElements(x.Length, (first, end) => new Span<float>(p + first, (int)(end - first)).Fill(value));
    }

    private unsafe void LinearCombinationCpu(ArrayView<float> z, float a, ArrayView<float> x, float b,
        ArrayView<float> y, float c)
    {
        _host.Begin("linear combination");
        float* pz = CpuHost.Pointer(z), px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        _host.ForElements(z.Length, (first, end) =>
        {
            // Terms with a zero coefficient are not read, as in the kernel (a NaN there does not spread).
            var va = Vector512.Create(a); var vb = Vector512.Create(b); var vc = Vector512.Create(c);
            long i = first;
            for (; i + 16 <= end; i += 16)
            {
                var value = vc;
                if (a != 0f) value = Vector512.FusedMultiplyAdd(va, Vector512.Load(px + i), value);
                if (b != 0f) value = Vector512.FusedMultiplyAdd(vb, Vector512.Load(py + i), value);
                Vector512.Store(value, pz + i);
            }
            for (; i < end; i++)
            {
                float value = c;
                if (a != 0f) value = MathF.FusedMultiplyAdd(a, px[i], value);
                if (b != 0f) value = MathF.FusedMultiplyAdd(b, py[i], value);
                pz[i] = value;
            }
        });
    }

    private unsafe void MultiplyCpu(ArrayView<float> z, ArrayView<float> x, ArrayView<float> y)
    {
        _host.Begin("vector multiply");
        float* pz = CpuHost.Pointer(z), px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        _host.ForElements(z.Length, (first, end) =>
        {
            long i = first;
            for (; i + 16 <= end; i += 16) Vector512.Store(Vector512.Load(px + i) * Vector512.Load(py + i), pz + i);
            for (; i < end; i++) pz[i] = px[i] * py[i];
        });
    }

    private unsafe void AxpyByScalarCpu(ArrayView<float> y, ArrayView<float> alpha, float factor, ArrayView<float> x)
    {
        _host.Begin("axpy");
        float* py = CpuHost.Pointer(y), px = CpuHost.Pointer(x);
        float scale = factor * CpuHost.Pointer(alpha)[0];
        _host.ForElements(y.Length, (first, end) =>
        {
            var s = Vector512.Create(scale);
            long i = first;
            for (; i + 16 <= end; i += 16)
                Vector512.Store(Vector512.FusedMultiplyAdd(s, Vector512.Load(px + i), Vector512.Load(py + i)), py + i);
            for (; i < end; i++) py[i] = MathF.FusedMultiplyAdd(scale, px[i], py[i]);
        });
    }

    private unsafe void SumCpu(ArrayView<float> result, ArrayView<float> x, ArrayView<float> y, SumKind kind)
    {
        _host.Begin("vector sum");
        float* px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        double sum = kind == SumKind.Abs
            ? _host.Sum(x.Length, new AbsLanes(px))
            : _host.Sum(x.Length, new ProductLanes(px, py));
        CpuHost.Pointer(result)[0] = (float)(kind == SumKind.Square ? Math.Sqrt(sum) : sum);
    }

    private unsafe void ScalarCpu(ArrayView<float> result, ArrayView<float> a, ScalarOp op, ArrayView<float> b)
    {
        _host.Begin("scalar operation");
        CpuHost.Pointer(result)[0] = Apply(CpuHost.Pointer(a)[0], op, CpuHost.Pointer(b)[0]);
    }

    private unsafe void DotsCpu(ArrayView<float> result, int stride, ArrayView<float> rows, int count,
        DotVectors vectors)
    {
        _host.Begin("batched dot products");
        float* pr = CpuHost.Pointer(rows), presult = CpuHost.Pointer(result);
        float* v0 = CpuHost.Pointer(vectors.V0), v1 = CpuHost.Pointer(vectors.V1), v2 = CpuHost.Pointer(vectors.V2);
        int k = vectors.Count;
        long n = vectors.V0.Length;
        // One row per work item, summed in order by one core, chunk by chunk (CpuHost.SumChunk elements: the
        // float lanes never run long): the result does not depend on the threads. Each chunk of the row is
        // read once for all the vectors.
        _host.For(count, (first, end) =>
        {
            for (int r = first; r < end; r++)
            {
                float* row = pr + r * n;
                double t0 = 0, t1 = 0, t2 = 0;
                for (long start = 0; start < n; start += CpuHost.SumChunk)
                {
                    long stop = Math.Min(n, start + CpuHost.SumChunk), i = start;
                    var l0 = Vector512<float>.Zero;
                    var l1 = l0;
                    var l2 = l0;
                    for (; i + 16 <= stop; i += 16)
                    {
                        var x = Vector512.Load(row + i);
                        l0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(v0 + i), l0);
                        if (k > 1) l1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(v1 + i), l1);
                        if (k > 2) l2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(v2 + i), l2);
                    }
                    t0 += CpuHost.LaneSum(l0);
                    t1 += CpuHost.LaneSum(l1);
                    t2 += CpuHost.LaneSum(l2);
                    for (; i < stop; i++)
                    {
                        t0 += (double)row[i] * v0[i];
                        if (k > 1) t1 += (double)row[i] * v1[i];
                        if (k > 2) t2 += (double)row[i] * v2[i];
                    }
                }
                presult[r] = (float)t0;
                if (k > 1) presult[stride + r] = (float)t1;
                if (k > 2) presult[2L * stride + r] = (float)t2;
            }
        });
    }

    private unsafe void CombineRowsCpu(ArrayView<float> z, ArrayView<float> rows, ArrayView<float> coefficients,
        int count, bool accumulate)
    {
        _host.Begin("row combination");
        float* pz = CpuHost.Pointer(z), pr = CpuHost.Pointer(rows), pc = CpuHost.Pointer(coefficients);
        long n = z.Length;
        // Element ranges of 4096 (16 KB of z, kept in L1 while every row's slice streams past).
        _host.ForElements(n, (first, end) =>
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

    private enum SumKind
    {
        Dot,
        Abs,
        Square,
    }

    /// <summary>The host twin of <see cref="ProductSummand"/>: x_i y_i.</summary>
    private readonly unsafe struct ProductLanes(float* x, float* y) : ILaneSummand
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Add(Vector512<float> lanes, long i) =>
            Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), lanes);

        public double At(long i) => (double)x[i] * y[i];
    }

    /// <summary>The host twin of <see cref="AbsSummand"/>: |x_i|.</summary>
    private readonly unsafe struct AbsLanes(float* x) : ILaneSummand
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Add(Vector512<float> lanes, long i) => lanes + Vector512.Abs(Vector512.Load(x + i));

        public double At(long i) => MathF.Abs(x[i]);
    }
}
