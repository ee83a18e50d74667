using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the ReLU's bit mask, host code for the CPU accelerator: 16 outputs compared at once
/// (their sign bits gathered into 16 mask bits), every core. The mask's backward needs no host
/// variant: the CPU convolution applies the bits as it gathers dOut (<see cref="Conv2d.BackwardInput"/>).</summary>
public sealed partial class Relu
{
    private unsafe void PackMaskCpu(ArrayView<uint> mask, ArrayView<float> output)
    {
        _host.Begin("ReLU mask");
        uint* pm = CpuHost.Pointer(mask);
        float* po = CpuHost.Pointer(output);
        long n = output.Length;
        _host.ForElements(mask.Length, (first, end) =>
        {
            for (long word = first; word < end; word++)
            {
                long start = word * 32;
                if (start + 32 <= n)
                {
                    uint low = (uint)Vector512.GreaterThan(Vector512.Load(po + start),
                        Vector512<float>.Zero).ExtractMostSignificantBits();
                    uint high = (uint)Vector512.GreaterThan(Vector512.Load(po + start + 16),
                        Vector512<float>.Zero).ExtractMostSignificantBits();
                    pm[word] = low | high << 16;
                    continue;
                }
                uint bits = 0;
                for (long i = start; i < n; i++)
                {
                    if (po[i] > 0f) bits |= 1u << (int)(i - start);
                }
                pm[word] = bits;
            }
        });
    }
}
