using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>2x2 max pooling in host code for the CPU accelerator: one output row (forward) or input
/// row (backward) per work item on every core. A pass over memory: plain loops in the kernels'
/// order of comparison, so the argmax (and the tie-breaking) is the kernels'.</summary>
public sealed partial class MaxPool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<byte> argmax, ArrayView<float> input, ChwShape s,
        bool reluInput)
    {
        CpuHost.Begin(_accelerator);
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        byte* pa = CpuHost.Pointer(argmax);
        var o = OutputShape(s);
        CpuHost.For(o.Channels * o.Height, (firstRow, endRow) =>
        {
            for (int row = firstRow; row < endRow; row++)
            {
                int c = row / o.Height, oy = row % o.Height;
                float* top = pi + ((long)c * s.Height + oy * Window) * s.Width, bottom = top + s.Width;
                for (int ox = 0; ox < o.Width; ox++)
                {
                    int x = ox * Window, best = 0;
                    float bestValue = top[x];
                    if (top[x + 1] > bestValue) { bestValue = top[x + 1]; best = 1; }
                    if (bottom[x] > bestValue) { bestValue = bottom[x]; best = 2; }
                    if (bottom[x + 1] > bestValue) { bestValue = bottom[x + 1]; best = 3; }
                    long index = (long)row * o.Width + ox;
                    po[index] = bestValue;
                    pa[index] = reluInput && bestValue <= 0f ? NoWinner : (byte)best;
                }
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<byte> argmax,
        ChwShape s)
    {
        CpuHost.Begin(_accelerator);
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        byte* pa = CpuHost.Pointer(argmax);
        var o = OutputShape(s);
        CpuHost.For(s.Channels * s.Height, (firstRow, endRow) =>
        {
            for (int row = firstRow; row < endRow; row++)
            {
                int c = row / s.Height, y = row % s.Height, oy = y / Window;
                float* destination = pd + (long)row * s.Width;
                if (oy >= o.Height) // the last row of an odd-sized input is in no window
                {
                    new Span<float>(destination, s.Width).Clear();
                    continue;
                }
                long outRow = ((long)c * o.Height + oy) * o.Width;
                int dy = (y - oy * Window) * Window;
                for (int x = 0; x < s.Width; x++)
                {
                    int ox = x / Window;
                    destination[x] = ox < o.Width && pa[outRow + ox] == dy + x - ox * Window ? pg[outRow + ox] : 0f;
                }
            }
        });
    }
}
