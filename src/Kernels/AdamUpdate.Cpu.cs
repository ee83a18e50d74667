using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the Adam step, host code for the CPU accelerator: kernel 1's float operations in the same order, a
/// vector of variables at a time (no fused multiply-add, so each lane rounds as kernel 1 does and the two agree to
/// the bit), over ranges of the variables on every core. It spares a CPU run the compile of kernel 1 and its
/// scalar launch each iteration.
/// </summary>
public sealed partial class AdamUpdate
{
    private unsafe void UpdateCpu(ArrayView<float> x, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> gradient, AdamParameters p)
    {
        _host.Begin("Adam update");
        float* px = CpuHost.Pointer(x), pm = CpuHost.Pointer(m), pv = CpuHost.Pointer(v);
        float* pg = CpuHost.Pointer(gradient);
        _host.ForElements(x.Length, (first, end) =>
        {
            switch (CpuVector.Bits)
            {
                case 512: Step<Vector512<float>>(px, pm, pv, pg, p, first, end); break;
                case 256: Step<Vector256<float>>(px, pm, pv, pg, p, first, end); break;
                default: Step<Vector128<float>>(px, pm, pv, pg, p, first, end); break;
            }
        });
    }

    /// <summary>The step over variables [first, end): <see cref="UpdateKernel"/> lane by lane.</summary>
    private static unsafe void Step<TVector>(float* x, float* m, float* v, float* g, AdamParameters p, long first,
        long end)
        where TVector : struct
    {
        var beta1 = Simd<TVector>.Broadcast(p.Beta1);
        var rest1 = Simd<TVector>.Broadcast(1f - p.Beta1);
        var beta2 = Simd<TVector>.Broadcast(p.Beta2);
        var rest2 = Simd<TVector>.Broadcast(1f - p.Beta2);
        var rate = Simd<TVector>.Broadcast(p.LearningRate);
        var correction1 = Simd<TVector>.Broadcast(p.Correction1);
        var correction2 = Simd<TVector>.Broadcast(p.Correction2);
        var epsilon = Simd<TVector>.Broadcast(p.Epsilon);
        long i = first;
        for (int n = Simd<TVector>.Count; i + n <= end; i += n)
        {
            var gi = Simd<TVector>.Load(g + i);
            var mi = Simd<TVector>.Add(Simd<TVector>.Multiply(beta1, Simd<TVector>.Load(m + i)),
                Simd<TVector>.Multiply(rest1, gi));
            var vi = Simd<TVector>.Add(Simd<TVector>.Multiply(beta2, Simd<TVector>.Load(v + i)),
                Simd<TVector>.Multiply(Simd<TVector>.Multiply(rest2, gi), gi));
            Simd<TVector>.Store(mi, m + i);
            Simd<TVector>.Store(vi, v + i);
            var step = Simd<TVector>.Divide(Simd<TVector>.Multiply(rate, Simd<TVector>.Divide(mi, correction1)),
                Simd<TVector>.Add(Simd<TVector>.Sqrt(Simd<TVector>.Divide(vi, correction2)), epsilon));
            Simd<TVector>.Store(Simd<TVector>.Subtract(Simd<TVector>.Load(x + i), step), x + i);
        }
        for (; i < end; i++)
        {
            float gi = g[i];
            float mi = p.Beta1 * m[i] + (1f - p.Beta1) * gi;
            float vi = p.Beta2 * v[i] + (1f - p.Beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            x[i] -= p.LearningRate * (mi / p.Correction1) / (MathF.Sqrt(vi / p.Correction2) + p.Epsilon);
        }
    }
}
