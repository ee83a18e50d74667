using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>2x2 average pooling in host code for the CPU accelerator: one row per work item on every core.</summary>
public sealed partial class AvgPool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, ChwShape s)
    {
        CpuHost.Begin(_accelerator);
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        var o = MaxPool2d.OutputShape(s);
        CpuHost.For(o.Channels * o.Height, (firstRow, endRow) =>
        {
            for (int row = firstRow; row < endRow; row++)
            {
                int c = row / o.Height, oy = row % o.Height;
                float* top = pi + ((long)c * s.Height + oy * Window) * s.Width, bottom = top + s.Width;
                for (int ox = 0; ox < o.Width; ox++)
                {
                    int x = ox * Window;
                    po[(long)row * o.Width + ox] = (top[x] + top[x + 1] + bottom[x] + bottom[x + 1]) * InverseArea;
                }
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ChwShape s)
    {
        CpuHost.Begin(_accelerator);
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        var o = MaxPool2d.OutputShape(s);
        CpuHost.For(s.Channels * s.Height, (firstRow, endRow) =>
        {
            for (int row = firstRow; row < endRow; row++)
            {
                int c = row / s.Height, oy = row % s.Height / Window;
                long outRow = ((long)c * o.Height + oy) * o.Width;
                for (int x = 0; x < s.Width; x++)
                {
                    int ox = x / Window;
                    pd[(long)row * s.Width + x] = oy < o.Height && ox < o.Width ? pg[outRow + ox] * InverseArea : 0f;
                }
            }
        });
    }
}
