using IlgpuStyle.Host;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The memory a full-size run needs, by the estimate the console checks before it allocates (which
/// other tests hold equal to what the objective really allocates): VGG-19 at its real widths.
/// </summary>
public sealed class MemoryBudgetTests
{
    private static readonly Lazy<IlgpuStyle.Network.Weights.VggWeights> Vgg19 =
        new(() => Bench.RandomVgg19(widthDivisor: 1, seed: 0));

    /// <summary>
    /// An H100 as the kernel choice sees it: the tiled kernels, whose input gradients keep transposed weights.
    /// </summary>
    private static readonly KernelChoice Gpu =
        new(new AcceleratorDescription(ILGPU.Runtime.AcceleratorType.Cuda, 1024, true, "H100"));

    private static long RunBytes(int size)
    {
        var shape = new ChwShape(3, size, size);
        return MemoryEstimate.RunBytes(Vgg19.Value, shape, [shape], new StyleOptions(), Gpu,
            n => IlgpuStyle.Optimization.LbfgsOptimizer.RequiredBytes(n, historySize: 100));
    }

    /// <summary>
    /// The performance issue's target: 512 x 512 with L-BFGS history 100 in at most 1.2 GB
    /// (the Lua tool used about 3.5 GB).
    /// </summary>
    [Test]
    public void A512RunWithLbfgsHistory100FitsIn1Point2GB()
    {
        long bytes = RunBytes(512);
        TestContext.Out.WriteLine($"512 x 512, L-BFGS 100, GPU kernels: {bytes} bytes");
        Assert.That(bytes, Is.LessThanOrEqualTo(1_200_000_000L));
    }

    /// <summary>
    /// How large a square image fits on an 80 GB card (90% of 79.6 GiB usable, as the console checks).
    /// </summary>
    [Test]
    public void TheLargestSquareImageOnAn80GBCardIsPrinted()
    {
        long budget = (long)(79.6 * (1L << 30) * 0.9);
        int low = 512, high = 16384;
        while (high - low > 16)
        {
            int middle = (low + high) / 2;
            if (RunBytes(middle) <= budget) low = middle; else high = middle;
        }
        TestContext.Out.WriteLine($"largest square on 80 GB: about {low} x {low} ({RunBytes(low)} bytes)");
        Assert.That(RunBytes(low), Is.LessThanOrEqualTo(budget));
        Assert.That(RunBytes(low + 16), Is.GreaterThan(budget));
    }
}
