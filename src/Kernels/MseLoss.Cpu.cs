using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the mean squared error, host code for the CPU accelerator: AVX-512 passes on every
/// core, the sum in fixed chunks with double partials (deterministic, <see cref="CpuHost.Sum"/>).</summary>
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
            var f = Vector512.Create(factor);
            long i = first;
            for (; i + 16 <= end; i += 16)
            {
                var gradient = f * (Vector512.Load(pa + i) - Vector512.Load(pb + i));
                Vector512.Store(accumulate ? Vector512.Load(pd + i) + gradient : gradient, pd + i);
            }
            for (; i < end; i++)
            {
                float gradient = factor * (pa[i] - pb[i]);
                pd[i] = accumulate ? pd[i] + gradient : gradient;
            }
        });
    }

    /// <summary>The host twin of <see cref="SquaredDifferenceSummand"/>: (a_i - b_i)^2.</summary>
    private readonly unsafe struct SquaredDifferences(float* a, float* b) : ILaneSummand
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Add(Vector512<float> lanes, long i)
        {
            var d = Vector512.Load(a + i) - Vector512.Load(b + i);
            return Vector512.FusedMultiplyAdd(d, d, lanes);
        }

        public double At(long i) => (double)(a[i] - b[i]) * (a[i] - b[i]);
    }
}
