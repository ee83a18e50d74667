using IlgpuStyle.Optimization;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Optimization.OptimizerTestSupport;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>
/// The bias-corrected exponential moving average of the iterates (SPEC.md, "Averaging"), on every
/// available accelerator, against sequences whose averages are known in closed form and against
/// the double-precision reference.
/// </summary>
public sealed class IterateAverageTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    [TearDown]
    public void NoKernelAssertions() => TraceGuard.ThrowIfAssertionsFailed();

    /// <summary>Adds each iterate on the device and reads the bias-corrected average after each.</summary>
    private List<float[]> DeviceAverages(IReadOnlyList<double[]> iterates, double decay)
    {
        int n = iterates[0].Length;
        using var average = new IterateAverage(Kernels, n, decay);
        using var output = Upload(Accelerator, Enumerable.Repeat(double.NaN, n).ToArray());
        var results = new List<float[]>();
        foreach (var x in iterates)
        {
            using var iterate = Upload(Accelerator, x);
            average.Add(iterate.View);
            average.WriteTo(output.View);
            var written = Download(output);
            Assert.That(average.Read(), Is.EqualTo(written), "read to the host: the same values");
            results.Add(written);
        }
        Assert.That(average.Count, Is.EqualTo(iterates.Count));
        return results;
    }

    [TestCase(0.99)]
    [TestCase(0.5)]
    [TestCase(0.0)]
    public void AConstantSequenceAveragesToItself(double decay)
    {
        double[] value = [3.5, -1.25, 0, 1e3, -7e-4];
        var iterates = Enumerable.Repeat(value, 40).ToList();
        foreach (var (average, t) in DeviceAverages(iterates, decay).Select((a, i) => (a, i + 1)))
            Assert.That(average, Is.EqualTo(value).Within(1e-3).Percent, $"t = {t}");
        foreach (var average in IterateAverage.Reference(iterates, decay))
            Assert.That(average, Is.EqualTo(value).Within(1e-10).Percent);
    }

    [Test]
    public void ARampMatchesTheClosedForm()
    {
        // x_t = t * v. avg_t = (1-D) sum_{k=1..t} D^(t-k) k, and with sum_{j<t} j D^j known in
        // closed form, avg_t / (1 - D^t) = t - D (1 - t D^(t-1) + (t-1) D^t) / ((1-D)(1-D^t)):
        // the average lags the ramp by D/(1-D) steps once t is large, by less before.
        const double d = 0.9;
        double[] v = [1, -2, 0.5];
        var iterates = Enumerable.Range(1, 60).Select(t => v.Select(vi => t * vi).ToArray()).ToList();
        var device = DeviceAverages(iterates, d);
        var reference = IterateAverage.Reference(iterates, d);
        for (int t = 1; t <= 60; t++)
        {
            double closed = t - d * (1 - t * Math.Pow(d, t - 1) + (t - 1) * Math.Pow(d, t))
                                / ((1 - d) * (1 - Math.Pow(d, t)));
            var expected = v.Select(vi => closed * vi).ToArray();
            Assert.That(reference[t - 1], Is.EqualTo(expected).Within(1e-9), $"reference, t = {t}");
            Assert.That(device[t - 1], Is.EqualTo(expected).Within(1e-3).Percent, $"device, t = {t}");
        }
        Assert.That(reference[^1][0], Is.EqualTo(60 - d / (1 - d)).Within(0.2),
            "the lag approaches D/(1-D) = 9 steps (8.9 at t = 60)");
    }

    [TestCase(0.99)]
    [TestCase(0.999)]
    public void BiasCorrectionAtTheFirstIterateGivesTheIterate(double decay)
    {
        // Without the correction the first average would be (1-D) x_1: 1% of the image at D = 0.99.
        var random = new Random(9);
        var x1 = Enumerable.Range(0, 257).Select(_ => 200 * random.NextDouble() - 100).ToArray();
        var first = DeviceAverages([x1], decay)[0];
        Assert.That(first, Is.EqualTo(x1).Within(1e-4).Percent);
        Assert.That(IterateAverage.Reference([x1], decay)[0], Is.EqualTo(x1).Within(1e-10).Percent);
    }

    [Test]
    public void RandomIteratesMatchTheReference()
    {
        var random = new Random(4);
        var iterates = Enumerable.Range(0, 25)
            .Select(_ => Enumerable.Range(0, 37).Select(_ => (double)(float)(2 * random.NextDouble() - 1)).ToArray())
            .ToList();
        var device = DeviceAverages(iterates, 0.95);
        var reference = IterateAverage.Reference(iterates, 0.95);
        for (int t = 0; t < iterates.Count; t++)
            Assert.That(device[t], Is.EqualTo(reference[t]).Within(1e-5), $"t = {t + 1}");
    }

    [Test]
    public void MisuseIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new IterateAverage(Kernels, 4, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IterateAverage(Kernels, 4, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IterateAverage(Kernels, 4, double.NaN));
        using var average = new IterateAverage(Kernels, 4, 0.9);
        using var output = Accelerator.Allocate1D<float>(4);
        Assert.Throws<InvalidOperationException>(() => average.WriteTo(output.View), "no iterate yet");
        Assert.Throws<InvalidOperationException>(() => average.Read(), "no iterate yet");
        using var wrong = Accelerator.Allocate1D<float>(5);
        Assert.Throws<ArgumentException>(() => average.Add(wrong.View));
    }
}
