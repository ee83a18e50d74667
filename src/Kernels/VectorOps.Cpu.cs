using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The vector operations in host code for the CPU accelerator: AVX-512 loops over the buffers on
/// every core (<see cref="CpuHost"/>). They are passes over memory, so the only blocking is the
/// split into ranges of at least 4096 elements per core; sums are taken in fixed chunks with
/// double partials (<see cref="CpuHost.Sum"/>), so they are deterministic.
/// </summary>
public sealed partial class VectorOps
{
    private unsafe void FillCpu(ArrayView<float> x, float value)
    {
        CpuHost.Begin(_accelerator);
        float* p = CpuHost.Pointer(x);
        CpuHost.ForElements(x.Length, (first, end) => new Span<float>(p + first, (int)(end - first)).Fill(value));
    }

    private unsafe void LinearCombinationCpu(ArrayView<float> z, float a, ArrayView<float> x, float b,
        ArrayView<float> y, float c)
    {
        CpuHost.Begin(_accelerator);
        float* pz = CpuHost.Pointer(z), px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        CpuHost.ForElements(z.Length, (first, end) =>
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
        CpuHost.Begin(_accelerator);
        float* pz = CpuHost.Pointer(z), px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        CpuHost.ForElements(z.Length, (first, end) =>
        {
            long i = first;
            for (; i + 16 <= end; i += 16) Vector512.Store(Vector512.Load(px + i) * Vector512.Load(py + i), pz + i);
            for (; i < end; i++) pz[i] = px[i] * py[i];
        });
    }

    private unsafe void AxpyByScalarCpu(ArrayView<float> y, ArrayView<float> alpha, float factor, ArrayView<float> x)
    {
        CpuHost.Begin(_accelerator);
        float* py = CpuHost.Pointer(y), px = CpuHost.Pointer(x);
        float scale = factor * CpuHost.Pointer(alpha)[0];
        CpuHost.ForElements(y.Length, (first, end) =>
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
        CpuHost.Begin(_accelerator);
        float* px = CpuHost.Pointer(x), py = CpuHost.Pointer(y);
        double sum = CpuHost.Sum(x.Length, (first, end) =>
        {
            var lanes = Vector512<float>.Zero;
            long i = first;
            for (; i + 16 <= end; i += 16)
            {
                var vx = Vector512.Load(px + i);
                lanes = kind == SumKind.Abs ? lanes + Vector512.Abs(vx)
                    : Vector512.FusedMultiplyAdd(vx, kind == SumKind.Square ? vx : Vector512.Load(py + i), lanes);
            }
            double total = Vector512.Sum(Vector512.WidenLower(lanes)) + Vector512.Sum(Vector512.WidenUpper(lanes));
            for (; i < end; i++) total += kind == SumKind.Abs ? MathF.Abs(px[i]) : (double)px[i] * (kind ==
                SumKind.Square ? px[i] : py[i]);
            return total;
        });
        CpuHost.Pointer(result)[0] = (float)(kind == SumKind.Square ? Math.Sqrt(sum) : sum);
    }

    private unsafe void ScalarCpu(ArrayView<float> result, ArrayView<float> a, ScalarOp op, ArrayView<float> b)
    {
        CpuHost.Begin(_accelerator);
        float x = CpuHost.Pointer(a)[0], y = CpuHost.Pointer(b)[0];
        CpuHost.Pointer(result)[0] = op switch
        {
            ScalarOp.Add => x + y,
            ScalarOp.Subtract => x - y,
            ScalarOp.Multiply => x * y,
            _ => y == 0f ? 0f : x / y,
        };
    }

    private enum SumKind
    {
        Dot,
        Abs,
        Square,
    }
}
