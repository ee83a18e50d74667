using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the mean squared error, host code for the CPU accelerator: SIMD passes (at the processor's
/// width, <see cref="CpuVector"/>) on every core, the sum in fixed chunks with double partials (deterministic,
/// <see cref="CpuHost.Sum"/>).</summary>
public sealed partial class MseLoss
{
    private unsafe void ForwardCpu(ArrayView<float> loss, ArrayView<float> a, ArrayView<float> b, float weight,
        bool accumulate)
    {
        Require.Length(loss, 1, nameof(loss));
        _host.Begin("mean squared error");
        double sum = _host.Sum(a.Length, new SquaredDifferences(CpuHost.Pointer(a), CpuHost.Pointer(b)));
        float* result = CpuHost.Pointer(loss);
        float value = (float)(sum * weight / a.Length);
        result[0] = accumulate ? result[0] + value : value;
    }

    private unsafe void BackwardCpu(ArrayView<float> dA, ArrayView<float> a, ArrayView<float> b, float weight,
        bool accumulate)
    {
        _host.Begin("mean squared error");
        float* pd = CpuHost.Pointer(dA), pa = CpuHost.Pointer(a), pb = CpuHost.Pointer(b);
        float factor = 2f * weight / dA.Length;
        _host.ForElements(dA.Length, (first, end) =>
        {
            switch (CpuVector.Bits)
            {
                case 512: Gradient<Vector512<float>>(pd, pa, pb, factor, accumulate, first, end); break;
                case 256: Gradient<Vector256<float>>(pd, pa, pb, factor, accumulate, first, end); break;
                default: Gradient<Vector128<float>>(pd, pa, pb, factor, accumulate, first, end); break;
            }
        });
    }

    /// <summary>dA[i] (+)= factor (a[i] - b[i]) for i in [first, end).</summary>
    private static unsafe void Gradient<TVector>(float* pd, float* pa, float* pb, float factor, bool accumulate,
        long first, long end)
        where TVector : struct
    {
        long i = first;
        for (int n = Simd<TVector>.Count; i + n <= end; i += n)
        {
            var gradient = Simd<TVector>.Multiply(Simd<TVector>.Subtract(Simd<TVector>.Load(pa + i),
                Simd<TVector>.Load(pb + i)), factor);
            Simd<TVector>.Store(accumulate ? Simd<TVector>.Add(Simd<TVector>.Load(pd + i), gradient) : gradient,
                pd + i);
        }
        for (; i < end; i++)
        {
            float gradient = factor * (pa[i] - pb[i]);
            pd[i] = accumulate ? pd[i] + gradient : gradient;
        }
    }

    /// <summary>The host twin of <see cref="SquaredDifferenceSummand"/>: (a_i - b_i)^2.</summary>
    private readonly unsafe struct SquaredDifferences(float* a, float* b) : ILaneSummand
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TVector Add<TVector>(TVector lanes, long i)
            where TVector : struct
        {
            var d = Simd<TVector>.Subtract(Simd<TVector>.Load(a + i), Simd<TVector>.Load(b + i));
            return Simd<TVector>.MultiplyAdd(d, d, lanes);
        }

        public double At(long i) => (double)(a[i] - b[i]) * (a[i] - b[i]);
    }
}
