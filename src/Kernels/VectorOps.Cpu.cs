using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the vector operations, host code for the CPU accelerator: SIMD loops (at the processor's width,
/// <see cref="CpuVector"/>) over the buffers on every core (<see cref="CpuHost"/>). They are passes over memory,
/// so the only blocking is the split into ranges of at least 4096 elements per core; sums are taken in fixed
/// chunks with double partials (<see cref="CpuHost.Sum"/>), so they are deterministic.
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
            switch (CpuVector.Bits)
            {
                case 512: Combine<Vector512<float>>(pz, a, px, b, py, c, first, end); break;
                case 256: Combine<Vector256<float>>(pz, a, px, b, py, c, first, end); break;
                default: Combine<Vector128<float>>(pz, a, px, b, py, c, first, end); break;
            }
        });
    }

    /// <summary>z = a x + b y + c over [first, end). Terms with a zero coefficient are not read, as in the kernel
    /// (a NaN there does not spread).</summary>
    private static unsafe void Combine<TVector>(float* pz, float a, float* px, float b, float* py, float c,
        long first, long end)
        where TVector : struct
    {
        var va = Simd<TVector>.Broadcast(a);
        var vb = Simd<TVector>.Broadcast(b);
        var vc = Simd<TVector>.Broadcast(c);
        long i = first;
        for (int n = Simd<TVector>.Count; i + n <= end; i += n)
        {
            var value = vc;
            if (a != 0f) value = Simd<TVector>.MultiplyAdd(va, Simd<TVector>.Load(px + i), value);
            if (b != 0f) value = Simd<TVector>.MultiplyAdd(vb, Simd<TVector>.Load(py + i), value);
            Simd<TVector>.Store(value, pz + i);
        }
        for (; i < end; i++)
        {
            float value = c;
            if (a != 0f) value = MathF.FusedMultiplyAdd(a, px[i], value);
            if (b != 0f) value = MathF.FusedMultiplyAdd(b, py[i], value);
            pz[i] = value;
        }
    }

    private unsafe void MultiplyCpu(ArrayView<float> z, ArrayView<float> x, ArrayView<float> y)
    {
        _host.Begin("vector multiply");
        float* pz = CpuHost.Pointer(z), px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        _host.ForElements(z.Length, (first, end) =>
        {
            switch (CpuVector.Bits)
            {
                case 512: Multiply<Vector512<float>>(pz, px, py, first, end); break;
                case 256: Multiply<Vector256<float>>(pz, px, py, first, end); break;
                default: Multiply<Vector128<float>>(pz, px, py, first, end); break;
            }
        });
    }

    /// <summary>z = x * y elementwise over [first, end).</summary>
    private static unsafe void Multiply<TVector>(float* pz, float* px, float* py, long first, long end)
        where TVector : struct
    {
        long i = first;
        for (int n = Simd<TVector>.Count; i + n <= end; i += n)
            Simd<TVector>.Store(Simd<TVector>.Multiply(Simd<TVector>.Load(px + i), Simd<TVector>.Load(py + i)), pz + i);
        for (; i < end; i++) pz[i] = px[i] * py[i];
    }

    private unsafe void AxpyByScalarCpu(ArrayView<float> y, ArrayView<float> alpha, float factor, ArrayView<float> x)
    {
        _host.Begin("axpy");
        float* py = CpuHost.Pointer(y), px = CpuHost.Pointer(x);
        float scale = factor * CpuHost.Pointer(alpha)[0];
        _host.ForElements(y.Length, (first, end) =>
        {
            switch (CpuVector.Bits)
            {
                case 512: Axpy<Vector512<float>>(py, scale, px, first, end); break;
                case 256: Axpy<Vector256<float>>(py, scale, px, first, end); break;
                default: Axpy<Vector128<float>>(py, scale, px, first, end); break;
            }
        });
    }

    /// <summary>y += scale x over [first, end) (fused where the processor has FMA).</summary>
    private static unsafe void Axpy<TVector>(float* py, float scale, float* px, long first, long end)
        where TVector : struct
    {
        var s = Simd<TVector>.Broadcast(scale);
        long i = first;
        for (int n = Simd<TVector>.Count; i + n <= end; i += n)
        {
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(s, Simd<TVector>.Load(px + i), Simd<TVector>.Load(py + i)),
                py + i);
        }
        for (; i < end; i++) py[i] = MathF.FusedMultiplyAdd(scale, px[i], py[i]);
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
                var (t0, t1, t2) = CpuVector.Bits switch
                {
                    512 => RowDots<Vector512<float>>(pr + r * n, n, k, v0, v1, v2),
                    256 => RowDots<Vector256<float>>(pr + r * n, n, k, v0, v1, v2),
                    _ => RowDots<Vector128<float>>(pr + r * n, n, k, v0, v1, v2),
                };
                presult[r] = (float)t0;
                if (k > 1) presult[stride + r] = (float)t1;
                if (k > 2) presult[2L * stride + r] = (float)t2;
            }
        });
    }

    /// <summary>One row's dot products with the first k of v0, v1, v2, chunk by chunk.</summary>
    private static unsafe (double, double, double) RowDots<TVector>(float* row, long n, int k, float* v0, float* v1,
        float* v2)
        where TVector : struct
    {
        double t0 = 0, t1 = 0, t2 = 0;
        for (long start = 0; start < n; start += CpuHost.SumChunk)
        {
            long stop = Math.Min(n, start + CpuHost.SumChunk), i = start;
            var l0 = Simd<TVector>.Zero;
            var l1 = l0;
            var l2 = l0;
            for (int lanes = Simd<TVector>.Count; i + lanes <= stop; i += lanes)
            {
                var x = Simd<TVector>.Load(row + i);
                l0 = Simd<TVector>.MultiplyAdd(x, Simd<TVector>.Load(v0 + i), l0);
                if (k > 1) l1 = Simd<TVector>.MultiplyAdd(x, Simd<TVector>.Load(v1 + i), l1);
                if (k > 2) l2 = Simd<TVector>.MultiplyAdd(x, Simd<TVector>.Load(v2 + i), l2);
            }
            t0 += Simd<TVector>.WideSum(l0);
            t1 += Simd<TVector>.WideSum(l1);
            t2 += Simd<TVector>.WideSum(l2);
            for (; i < stop; i++)
            {
                t0 += (double)row[i] * v0[i];
                if (k > 1) t1 += (double)row[i] * v1[i];
                if (k > 2) t2 += (double)row[i] * v2[i];
            }
        }
        return (t0, t1, t2);
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
                    switch (CpuVector.Bits)
                    {
                        case 512: Axpy<Vector512<float>>(pz, pc[r], pr + r * n, block, stop); break;
                        case 256: Axpy<Vector256<float>>(pz, pc[r], pr + r * n, block, stop); break;
                        default: Axpy<Vector128<float>>(pz, pc[r], pr + r * n, block, stop); break;
                    }
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
        public TVector Add<TVector>(TVector lanes, long i)
            where TVector : struct =>
            Simd<TVector>.MultiplyAdd(Simd<TVector>.Load(x + i), Simd<TVector>.Load(y + i), lanes);

        public double At(long i) => (double)x[i] * y[i];
    }

    /// <summary>The host twin of <see cref="AbsSummand"/>: |x_i|.</summary>
    private readonly unsafe struct AbsLanes(float* x) : ILaneSummand
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TVector Add<TVector>(TVector lanes, long i)
            where TVector : struct => Simd<TVector>.Add(lanes, Simd<TVector>.Abs(Simd<TVector>.Load(x + i)));

        public double At(long i) => MathF.Abs(x[i]);
    }
}
