using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Adam's host-code step against kernel 1 on the CPU accelerator. Both are checked against the reference in
/// <see cref="KernelCheckTests"/> ("adam.update" and "adam.update/cpu"); here they must also agree to the bit, so a
/// run's image does not depend on which of them the rule picks.
/// </summary>
public sealed class AdamUpdateTests
{
    [Test]
    public void TheHostCodeGivesKernelOnesBits()
    {
        using var own = OwnAccelerator.ProjectCpu();
        const int n = 1003; // vectors of 16, 8 or 4 lanes and a tail
        var random = new Random(23);
        float[] Values(double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * (random.NextDouble() - 0.5)))
            .ToArray();
        var x = Values(2);
        float[][] gradients = [Values(6), Values(6), Values(0.001), Values(6), Values(6)];

        // Five steps from the zero state: the moments each step carries over are the variant's own.
        float[] Run(KernelVariant variant)
        {
            var a = own.Accelerator;
            using var dX = a.Allocate1D(x);
            using var dM = a.Allocate1D<float>(n);
            using var dV = a.Allocate1D<float>(n);
            dM.MemSetToZero();
            dV.MemSetToZero();
            for (int t = 1; t <= gradients.Length; t++)
            {
                using var dG = a.Allocate1D(gradients[t - 1]);
                var p = AdamParameters.ForStep(t, learningRate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8);
                own.Kernels.Adam.Update(dX.View, dM.View, dV.View, dG.View, p, variant);
            }
            a.Synchronize();
            return [.. dX.GetAsArray1D(), .. dM.GetAsArray1D(), .. dV.GetAsArray1D()];
        }

        var kernel = Run(KernelVariant.PerElement);
        var host = Run(KernelVariant.Cpu);
        Assert.That(host.Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(kernel.Select(BitConverter.SingleToInt32Bits)));
        Assert.That(kernel.Take(n), Is.Not.EqualTo(x), "the steps moved x");
    }
}
