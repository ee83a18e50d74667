using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of average pooling, host code for the CPU accelerator: max pooling's row walks
/// (one output or input row per work item, every core) with the mean instead of the maximum.</summary>
public sealed partial class AvgPool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        _host.Begin("average pooling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        int outWidth = s.Width / Window;
        MaxPool2d.ForOutputRows(_host, s, (o, corner) =>
        {
            float* top = pi + corner, bottom = top + s.Width;
            for (int ox = 0; ox < outWidth; ox++)
            {
                int x = ox * Window;
                po[o + ox] = (top[x] + top[x + 1] + bottom[x] + bottom[x + 1]) * InverseArea;
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape s)
    {
        _host.Begin("average pooling");
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        int outWidth = s.Width / Window;
        MaxPool2d.ForInputRows(_host, s, (i, o, _) =>
        {
            for (int x = 0; x < s.Width; x++)
            {
                int ox = x / Window;
                pd[i + x] = o >= 0 && ox < outWidth ? pg[o + ox] * InverseArea : 0f;
            }
        });
    }
}
