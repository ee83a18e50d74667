using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of max pooling, host code for the CPU accelerator: one output row (forward) or input
/// row (backward) per work item on every core. A pass over memory: plain loops in kernel 1's order of
/// comparison, so the argmax (and the tie-breaking) is kernel 1's.</summary>
public sealed partial class MaxPool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<byte> argmax, ArrayView<float> input, ChwShape s,
        bool reluInput)
    {
        _host.Begin("max pooling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        byte* pa = CpuHost.Pointer(argmax);
        int outWidth = s.Width / Window;
        ForOutputRows(_host, s, (o, corner) =>
        {
            float* top = pi + corner, bottom = top + s.Width;
            for (int ox = 0; ox < outWidth; ox++)
            {
                int x = ox * Window, best = 0;
                float bestValue = top[x];
                if (top[x + 1] > bestValue) { bestValue = top[x + 1]; best = 1; }
                if (bottom[x] > bestValue) { bestValue = bottom[x]; best = 2; }
                if (bottom[x + 1] > bestValue) { bestValue = bottom[x + 1]; best = 3; }
                po[o + ox] = bestValue;
                pa[o + ox] = reluInput && bestValue <= 0f ? NoWinner : (byte)best;
            }
        });
    }

    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<byte> argmax,
        ChwShape s)
    {
        _host.Begin("max pooling");
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        byte* pa = CpuHost.Pointer(argmax);
        int outWidth = s.Width / Window;
        ForInputRows(_host, s, (i, o, dy) =>
        {
            float* destination = pd + i;
            for (int x = 0; x < s.Width; x++)
            {
                int ox = x / Window;
                bool won = o >= 0 && ox < outWidth && pa[o + ox] == dy + x - ox * Window;
                destination[x] = won ? pg[o + ox] : 0f;
            }
        });
    }
}
