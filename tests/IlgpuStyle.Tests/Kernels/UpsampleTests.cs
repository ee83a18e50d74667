using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The upsampling reference against what interpolation must do: constants stay constant, linear
/// images (and, for bicubic, quadratic ones) are reproduced wherever the taps stay inside the
/// image, and small cases match values worked out by hand. The device kernel is checked against
/// this reference in <see cref="KernelCheckTests"/> ("upsample/..." and "upsample/.../cpu"); here the
/// host code is also held to kernel 1's bits.
/// </summary>
public sealed class UpsampleTests
{
    private static readonly UpsampleFilter[] Filters = [UpsampleFilter.Bilinear, UpsampleFilter.Bicubic];

    private static double[] Image(ChwShape s, Func<int, double, double, double> f)
    {
        var values = new double[s.Length];
        for (int c = 0; c < s.Channels; c++)
        for (int y = 0; y < s.Height; y++)
        for (int x = 0; x < s.Width; x++)
            values[s.Index(c, y, x)] = f(c, y, x);
        return values;
    }

    private static double[] Enlarge(double[] input, ChwShape from, ChwShape to, UpsampleFilter filter,
        double low = double.NegativeInfinity, double high = double.PositiveInfinity)
    {
        var output = new double[to.Length];
        Upsample.ForwardReference(output, input, to, from, filter, low, high);
        return output;
    }

    /// <summary>Where output position o samples the input (pixel centres aligned).</summary>
    private static double Source(int o, int input, int output) => (o + 0.5) * input / output - 0.5;

    [Test]
    public void AConstantStaysConstantEverywhere([ValueSource(nameof(Filters))] UpsampleFilter filter)
    {
        var from = new ChwShape(2, 5, 7);
        ChwShape[] sizes = [new(2, 5, 7), new(2, 9, 13), new(2, 16, 8), new(2, 40, 41)];
        foreach (var to in sizes)
        {
            var output = Enlarge(Image(from, (c, _, _) => c == 0 ? 0.25 : -3), from, to, filter);
            for (int i = 0; i < output.Length; i++)
            {
                double expected = i < to.PlaneLength ? 0.25 : -3;
                Assert.That(output[i], Is.EqualTo(expected).Within(1e-12), $"{filter} {to} [{i}]");
            }
        }
    }

    [Test]
    public void ALinearImageIsReproducedAwayFromTheBorders([ValueSource(nameof(Filters))] UpsampleFilter filter)
    {
        // Bilinear reads floor(s) and floor(s) + 1, bicubic floor(s) - 1 ... floor(s) + 2: inside
        // the image, both reproduce every linear function exactly; at the border the repeated edge
        // pixel bends it, so those outputs are left out.
        var from = new ChwShape(3, 12, 16);
        var to = new ChwShape(3, 17, 29);
        static double F(int c, double y, double x) => 0.3 * c - 0.7 * y + 0.45 * x + 1;
        var output = Enlarge(Image(from, F), from, to, filter);
        int reach = filter == UpsampleFilter.Bilinear ? 0 : 1;
        int checkedCount = 0;
        for (int c = 0; c < 3; c++)
        for (int y = 0; y < to.Height; y++)
        for (int x = 0; x < to.Width; x++)
        {
            double sy = Source(y, from.Height, to.Height), sx = Source(x, from.Width, to.Width);
            bool inside = Math.Floor(sy) - reach >= 0 && Math.Floor(sy) + 1 + reach <= from.Height - 1
                       && Math.Floor(sx) - reach >= 0 && Math.Floor(sx) + 1 + reach <= from.Width - 1;
            if (!inside) continue;
            checkedCount++;
            Assert.That(output[to.Index(c, y, x)], Is.EqualTo(F(c, sy, sx)).Within(1e-12), $"{filter} ({c}, {y}, {x})");
        }
        Assert.That(checkedCount, Is.GreaterThan(to.Length / 2), "most of the image is away from the borders");
    }

    [Test]
    public void BicubicAlsoReproducesAQuadratic()
    {
        // Keys' a = -0.5 is the one cubic convolution exact for quadratics (third-order accurate).
        var from = new ChwShape(1, 9, 9);
        var to = new ChwShape(1, 13, 13);
        static double F(double y, double x) => 0.02 * x * x - 0.05 * y * y + 0.03 * x * y + 0.1 * x;
        var output = Enlarge(Image(from, (_, y, x) => F(y, x)), from, to, UpsampleFilter.Bicubic);
        for (int y = 0; y < to.Height; y++)
        for (int x = 0; x < to.Width; x++)
        {
            double sy = Source(y, 9, 13), sx = Source(x, 9, 13);
            if (sy < 1 || sy >= 6 || sx < 1 || sx >= 6) continue;
            Assert.That(output[to.Index(0, y, x)], Is.EqualTo(F(sy, sx)).Within(1e-12), $"({y}, {x})");
        }
    }

    [Test]
    public void TwoPixelsDoubledMatchHandComputedWeights()
    {
        // 1x2 -> 1x4: the outputs sample s = -0.25, 0.25, 0.75, 1.25 of the input [0, 1].
        // Bilinear: edge, 3/4*0 + 1/4*1, 1/4*0 + 3/4*1, edge.
        // Bicubic (a = -0.5): w(0.25) = 0.8671875, w(0.75) = 0.2265625, w(1.25) = -0.0703125,
        // w(1.75) = -0.0234375; at s = 0.25 the taps -1, 0 read 0 and the taps 1, 2 read 1, so the
        // output is w(0.75) + w(1.75) = 0.203125; at s = -0.25 only tap 1 reads 1: w(1.25), below 0.
        var from = new ChwShape(1, 1, 2);
        var to = new ChwShape(1, 1, 4);
        double[] input = [0, 1];
        Assert.That(Enlarge(input, from, to, UpsampleFilter.Bilinear),
            Is.EqualTo(new[] { 0, 0.25, 0.75, 1 }).Within(1e-15));
        Assert.That(Enlarge(input, from, to, UpsampleFilter.Bicubic),
            Is.EqualTo(new[] { -0.0703125, 0.203125, 0.796875, 1.0703125 }).Within(1e-15));
        Assert.That(Enlarge(input, from, to, UpsampleFilter.Bicubic, low: 0, high: 1),
            Is.EqualTo(new[] { 0, 0.203125, 0.796875, 1 }).Within(1e-15), "the clamp removes the overshoot");
    }

    [Test]
    public void TwoByTwoToThreeByThreeBilinear()
    {
        // s = -1/6, 1/2, 7/6 in each direction: the corners repeat the input's corners, the middle
        // row and column are the averages of their neighbours, the centre the mean of all four.
        var output = Enlarge([0, 1, 2, 3], new ChwShape(1, 2, 2), new ChwShape(1, 3, 3), UpsampleFilter.Bilinear);
        Assert.That(output, Is.EqualTo(new[] { 0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3 }).Within(1e-12));
    }

    [Test]
    public void TheSameSizeIsTheIdentity([ValueSource(nameof(Filters))] UpsampleFilter filter)
    {
        var shape = new ChwShape(2, 4, 6);
        var random = new Random(5);
        var input = Image(shape, (_, _, _) => random.NextDouble());
        Assert.That(Enlarge(input, shape, shape, filter), Is.EqualTo(input).Within(1e-15));
    }

    [Test]
    public void ShrinkingAndOtherShapeErrorsAreRefused()
    {
        var output = new double[12];
        var to = new ChwShape(1, 3, 4);
        var linear = UpsampleFilter.Bilinear;
        Assert.Throws<ArgumentException>(() =>
            Upsample.ForwardReference(output, new double[18], to, new ChwShape(1, 3, 6), linear), "shrinking");
        Assert.Throws<ArgumentException>(() =>
            Upsample.ForwardReference(output, new double[2], to, new ChwShape(2, 1, 1), linear), "channels");
        Assert.Throws<ArgumentException>(() =>
            Upsample.ForwardReference(output, new double[1], to, new ChwShape(1, 1, 1), linear, low: 1, high: 0),
            "an empty clamp range");
    }

    [Test]
    public void TheHostCodeGivesKernelOnesBits([ValueSource(nameof(Filters))] UpsampleFilter filter)
    {
        // The same float arithmetic in the same order (the taps worked out once per column instead of per
        // element): a coarse-to-fine run enlarges its image the same on the CPU whichever variant runs.
        using var own = OwnAccelerator.ProjectCpu();
        var from = new ChwShape(3, 48, 64);
        var to = new ChwShape(3, 68, 91);
        var random = new Random(9);
        var input = Enumerable.Range(0, from.Length).Select(_ => (float)random.NextDouble() - 0.2f).ToArray();
        using var source = own.Accelerator.Allocate1D(input);
        float[] Run(KernelVariant variant)
        {
            using var target = own.Accelerator.Allocate1D<float>(to.Length);
            own.Kernels.Upsample.Forward(target.View, source.View, to, from, filter, -0.1f, 0.7f, variant);
            own.Accelerator.Synchronize();
            return target.GetAsArray1D();
        }
        var kernel = Run(KernelVariant.PerElement);
        var host = Run(KernelVariant.Cpu);
        Assert.That(host.Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(kernel.Select(BitConverter.SingleToInt32Bits)));
        Assert.That(kernel, Has.Some.EqualTo(-0.1f).And.Some.EqualTo(0.7f), "the clamp took part");
    }
}
