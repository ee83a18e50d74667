using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the guide multiply, host code for the CPU accelerator (where a kernel runs as scalar
/// code, one OS thread per simulated thread): each core takes a range of positions and walks every channel's row
/// over it.</summary>
public sealed partial class GuideMultiply
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> features, ArrayView<float> guide,
        GramShape s, bool squared)
    {
        _host.Begin("guide multiply");
        float* po = CpuHost.Pointer(output);
        float* pf = CpuHost.Pointer(features);
        float* pg = CpuHost.Pointer(guide);
        long positions = s.Positions;
        int channels = s.Channels;
        _host.ForElements(positions, (first, end) =>
        {
            for (int c = 0; c < channels; c++)
            {
                float* to = po + c * positions;
                float* from = pf + c * positions;
                for (long m = first; m < end; m++)
                {
                    float t = pg[m];
                    to[m] = from[m] * (squared ? t * t : t);
                }
            }
        });
    }
}
