using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of L2 pooling, host code for the CPU accelerator: max pooling's row walks (one output or
/// input row per work item, every core) with kernel 1's root (<see cref="Root"/>) and share
/// (<see cref="Gradient"/>); backward takes each window's y once for the two elements of the row in it.</summary>
public sealed partial class L2Pool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        _host.Begin("L2 pooling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        int outWidth = s.Width / Window;
        MaxPool2d.ForOutputRows(_host, s, (o, corner) =>
        {
            float* top = pi + corner, bottom = top + s.Width;
            for (int ox = 0; ox < outWidth; ox++)
            {
                int x = ox * Window;
                po[o + ox] = Root(top[x], top[x + 1], bottom[x], bottom[x + 1]);
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> input,
        ChwShape s)
    {
        _host.Begin("L2 pooling");
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput), pi = CpuHost.Pointer(input);
        int outWidth = s.Width / Window;
        MaxPool2d.ForInputRows(_host, s, (i, o, dy) =>
        {
            if (o < 0) // the last row of an odd height: in no window
            {
                for (int x = 0; x < s.Width; x++) pd[i + x] = 0f;
                return;
            }
            float* row = pi + i;
            float* top = row - dy / Window * s.Width, bottom = top + s.Width; // the row's windows
            for (int ox = 0; ox < outWidth; ox++)
            {
                int x = ox * Window;
                float y = Root(top[x], top[x + 1], bottom[x], bottom[x + 1]);
                pd[i + x] = Gradient(pg[o + ox], row[x], y);
                pd[i + x + 1] = Gradient(pg[o + ox], row[x + 1], y);
            }
            for (int x = outWidth * Window; x < s.Width; x++) pd[i + x] = 0f; // the last column of an odd width
        });
    }
}
