using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of total variation, host code for the CPU accelerator: one image row per work item on
/// every core (the image is small beside the network: plain loops suffice), the value summed in
/// fixed chunks with double partials (deterministic, <see cref="CpuHost.Sum"/>).</summary>
public sealed partial class TotalVariation
{
    private unsafe void ForwardCpu(ArrayView<float> loss, ArrayView<float> x, ChwShape s, float weight, bool accumulate)
    {
        Require.Length(loss, 1, nameof(loss));
        _host.Begin("total variation");
        float* p = CpuHost.Pointer(x);
        double sum = _host.Sum(s.Length, (first, end) =>
        {
            double total = 0;
            for (long index = first; index < end; index++)
            {
                long j = index % s.Width, i = index / s.Width % s.Height;
                if (i >= s.Height - 1 || j >= s.Width - 1) continue;
                float right = p[index] - p[index + 1], down = p[index] - p[index + s.Width];
                total += right * right + down * down;
            }
            return total;
        });
        float* result = CpuHost.Pointer(loss);
        float value = (float)(sum * (weight / 2.0));
        result[0] = accumulate ? result[0] + value : value;
    }

    private unsafe void BackwardCpu(ArrayView<float> dX, ArrayView<float> x, ChwShape s, float weight, bool accumulate)
    {
        _host.Begin("total variation");
        float* pd = CpuHost.Pointer(dX), p = CpuHost.Pointer(x);
        _host.ForRows(s.Channels, s.Height, (row, _, i) =>
        {
            bool rowHasTerms = i < s.Height - 1;
            for (int j = 0; j < s.Width; j++)
            {
                long index = (long)row * s.Width + j;
                bool columnHasTerms = j < s.Width - 1;
                float v = p[index], g = 0f;
                if (rowHasTerms && columnHasTerms) g += 2f * v - p[index + 1] - p[index + s.Width];
                if (rowHasTerms && j > 0) g -= p[index - 1] - v;
                if (columnHasTerms && i > 0) g -= p[index - s.Width] - v;
                g *= weight;
                pd[index] = accumulate ? pd[index] + g : g;
            }
        });
    }
}
