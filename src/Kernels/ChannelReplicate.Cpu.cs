using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the one-to-three channel map, host code for the CPU accelerator (where a kernel runs as
/// scalar code, one OS thread per simulated thread): plain loops over pixel ranges, every core.</summary>
public sealed partial class ChannelReplicate
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, ReplicateParameters p)
    {
        _host.Begin("channel replication");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        int plane = p.PlaneLength;
        _host.ForElements(plane, (first, end) =>
        {
            for (int c = 0; c < 3; c++)
            {
                float scale = p.Scale(c), offset = p.Offset(c);
                float* to = po + (long)c * plane;
                for (long i = first; i < end; i++) to[i] = scale * pi[i] + offset;
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ReplicateParameters p)
    {
        _host.Begin("channel replication");
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        long plane = p.PlaneLength;
        _host.ForElements(plane, (first, end) =>
        {
            for (long i = first; i < end; i++)
                pd[i] = p.Scale0 * pg[i] + p.Scale1 * pg[i + plane] + p.Scale2 * pg[i + 2 * plane];
        });
    }
}
