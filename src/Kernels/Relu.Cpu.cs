using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the ReLU's bit mask, host code for the CPU accelerator: a vector of outputs compared at once
/// (their comparisons gathered into as many mask bits), every core. The mask's backward needs no host
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
            switch (CpuVector.Bits)
            {
                case 512: Pack<Vector512<float>>(pm, po, n, first, end); break;
                case 256: Pack<Vector256<float>>(pm, po, n, first, end); break;
                default: Pack<Vector128<float>>(pm, po, n, first, end); break;
            }
        });
    }

    /// <summary>Mask words [first, end) of the n outputs at <paramref name="po"/>.</summary>
    private static unsafe void Pack<TVector>(uint* pm, float* po, long n, long first, long end)
        where TVector : struct
    {
        int lanes = Simd<TVector>.Count;
        for (long word = first; word < end; word++)
        {
            long start = word * 32;
            uint bits = 0;
            if (start + 32 <= n)
            {
                for (int e = 0; e < 32; e += lanes)
                    bits |= Simd<TVector>.PositiveBits(Simd<TVector>.Load(po + start + e)) << e;
                pm[word] = bits;
                continue;
            }
            for (long i = start; i < n; i++)
            {
                if (po[i] > 0f) bits |= 1u << (int)(i - start);
            }
            pm[word] = bits;
        }
    }
}
