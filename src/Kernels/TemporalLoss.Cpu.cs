using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the temporal loss, host code for the CPU accelerator: a range of pixels per core, walked
/// through every channel's plane; the value summed in fixed chunks with double partials (deterministic,
/// <see cref="CpuHost.Sum"/>).</summary>
public sealed partial class TemporalLoss
{
    private unsafe void ForwardCpu(ArrayView<float> loss, ArrayView<float> x, ArrayView<float> target,
        ArrayView<float> weights, ChwShape s, float weight, bool accumulate)
    {
        Require.Length(loss, 1, nameof(loss));
        _host.Begin("temporal loss");
        float* px = CpuHost.Pointer(x), pt = CpuHost.Pointer(target), pm = CpuHost.Pointer(weights);
        long plane = s.PlaneLength;
        double sum = _host.Sum(s.Length, (first, end) =>
        {
            double total = 0;
            for (long index = first; index < end; index++)
            {
                float difference = px[index] - pt[index];
                total += pm[index % plane] * difference * difference;
            }
            return total;
        });
        float* result = CpuHost.Pointer(loss);
        float value = (float)(sum * weight / s.Length);
        result[0] = accumulate ? result[0] + value : value;
    }

    private unsafe void BackwardCpu(ArrayView<float> dX, ArrayView<float> x, ArrayView<float> target,
        ArrayView<float> weights, ChwShape s, float scale, bool accumulate)
    {
        _host.Begin("temporal loss");
        float* pd = CpuHost.Pointer(dX), px = CpuHost.Pointer(x), pt = CpuHost.Pointer(target);
        float* pm = CpuHost.Pointer(weights);
        long plane = s.PlaneLength;
        int channels = s.Channels;
        _host.ForElements(plane, (first, end) =>
        {
            for (int c = 0; c < channels; c++)
            {
                long offset = c * plane;
                for (long m = first; m < end; m++)
                {
                    float g = scale * pm[m] * (px[offset + m] - pt[offset + m]);
                    pd[offset + m] = accumulate ? pd[offset + m] + g : g;
                }
            }
        });
    }
}
