using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>The mean squared error in host code for the CPU accelerator: AVX-512 passes on every core,
/// the sum in fixed chunks with double partials (deterministic, <see cref="CpuHost.Sum"/>).</summary>
public sealed partial class MseLoss
{
    private unsafe void ForwardCpu(ArrayView<float> loss, ArrayView<float> a, ArrayView<float> b, float weight,
        bool accumulate)
    {
        Require.Length(loss, 1, nameof(loss));
        CpuHost.Begin(_accelerator);
        float* pa = CpuHost.Pointer(a), pb = CpuHost.Pointer(b);
        double sum = CpuHost.Sum(a.Length, (first, end) =>
        {
            var lanes = Vector512<float>.Zero;
            long i = first;
            for (; i + 16 <= end; i += 16)
            {
                var d = Vector512.Load(pa + i) - Vector512.Load(pb + i);
                lanes = Vector512.FusedMultiplyAdd(d, d, lanes);
            }
            double total = Vector512.Sum(Vector512.WidenLower(lanes)) + Vector512.Sum(Vector512.WidenUpper(lanes));
            for (; i < end; i++) total += (double)(pa[i] - pb[i]) * (pa[i] - pb[i]);
            return total;
        });
        float* result = CpuHost.Pointer(loss);
        float value = (float)(sum * weight / a.Length);
        result[0] = accumulate ? result[0] + value : value;
    }

    private unsafe void BackwardCpu(ArrayView<float> dA, ArrayView<float> a, ArrayView<float> b, float weight,
        bool accumulate)
    {
        CpuHost.Begin(_accelerator);
        float* pd = CpuHost.Pointer(dA), pa = CpuHost.Pointer(a), pb = CpuHost.Pointer(b);
        float factor = 2f * weight / dA.Length;
        CpuHost.ForElements(dA.Length, (first, end) =>
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
}
