using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The tiled kernels on a CPU accelerator of their own whose groups hold 256 threads (the project's
/// default CPU accelerator keeps groups at one thread per core, which is faster for everything else
/// but too small for a 16 x 16 tile). Each simulated thread is an OS thread and every barrier a
/// real one, so the shapes stay tiny.
/// </summary>
public sealed class TiledKernelTests
{
    private OwnAccelerator _own = null!;

    private Accelerator OwnedAccelerator => _own.Accelerator;

    private KernelSet OwnedKernels => _own.Kernels;

    [OneTimeSetUp]
    public void Create() => _own = OwnAccelerator.WideCpu(threadsPerWarp: 16, warps: 16);

    [OneTimeTearDown]
    public void Dispose() => _own.Dispose();

    private static IEnumerable<TestCaseData> TiledChecks() =>
        KernelChecks.All.Where(c => c.Requires is not null).Select(c => new TestCaseData(c).SetArgDisplayNames(c.Kernel, c.Shape));

    [TestCaseSource(nameof(TiledChecks))]
    public void MatchesCpuReference(KernelCheck check)
    {
        Assert.That(check.RunsOn(OwnedAccelerator), Is.True, "the wide CPU accelerator must run every tiled check");
        var result = check.Run(OwnedKernels);
        TraceGuard.ThrowIfAssertionsFailed();
        Assert.That(result.Passed, Is.True,
            $"{check}: max abs error {result.MaxAbsError:G3}, max rel error {result.MaxRelError:G3}. {result.Detail}");
    }

    [Test]
    public void TheDefaultCpuAcceleratorRefusesTheTiledKernelWithAMessage()
    {
        using var context = Devices.CreateContext();
        using var accelerator = Devices.Select(context, "cpu").CreateAccelerator(context);
        using var kernels = new KernelSet(accelerator);
        var s = Conv2dShape.Vgg(3, 5, 7, 4);
        using var buffer = accelerator.Allocate1D<float>(1000);
        var error = Assert.Throws<NotSupportedException>(() => kernels.Conv.ForwardTiled(
            buffer.View.SubView(0, s.Output.Length), buffer.View.SubView(0, s.Input.Length), buffer.View.SubView(0, s.WeightLength),
            buffer.View.SubView(0, 4), s, fuseRelu: true));
        Assert.That(error!.Message, Does.Contain("needs 256 threads per group"));
    }
}

/// <summary>
/// The whole objective with the network on the tiled kernels (as on a GPU) against the
/// double-precision reference, on the wide CPU accelerator.
/// </summary>
public sealed class TiledNetworkTests
{
    /// <param name="tf32">Run the convolutions on (emulated) TF32 tensor cores, held to TF32's precision.</param>
    [TestCase(false)]
    [TestCase(true)]
    public void TheObjectiveOnTiledKernelsMatchesTheReference(bool tf32)
    {
        using var own = OwnAccelerator.WideCpu(threadsPerWarp: 32, warps: 8, a => new KernelSet(a, preferTiled: true, useTf32: tf32));
        var accelerator = own.Accelerator;
        var kernels = own.Kernels;
        var weights = IlgpuStyle.Tests.Network.TinyVgg.Create();
        var content = IlgpuStyle.Tests.Network.TinyVgg.Image(16, 18, seed: 60);
        var style = IlgpuStyle.Tests.Network.TinyVgg.Image(17, 16, seed: 61);
        var x = IlgpuStyle.Tests.Network.TinyVgg.Image(16, 18, seed: 62);
        var options = new IlgpuStyle.Network.StyleOptions();
        using var objective = new IlgpuStyle.Network.StyleObjective(kernels, weights, content, [style], options);
        Assert.That(objective.LayerNames, Does.Contain("conv1_1"));
        Assert.That(IlgpuStyle.Network.MemoryEstimate.ObjectiveBytes(weights, content.Shape, [style.Shape], options, tiled: true),
            Is.EqualTo(objective.Memory.PeakBytes), "the estimate counts the transposed weights");

        using var input = accelerator.Allocate1D(x.Data);
        using var gradient = TestData.Poisoned(accelerator, x.Data.Length);
        using var loss = accelerator.Allocate1D<float>(1);
        objective.Evaluate(input.View, gradient.View, loss.View);
        var losses = objective.ReadLosses();

        var reference = new IlgpuStyle.Tests.Network.ReferenceObjective(weights, content, [style], options);
        var expectedGradient = new double[x.Data.Length];
        var expected = reference.Evaluate(IlgpuStyle.Tests.Network.ReferenceObjective.ToDouble(x.Data), expectedGradient);
        var actual = TestData.Download(gradient);
        if (tf32)
        {
            // TF32 keeps 10 mantissa bits, so each product is off by up to about 1e-3 relative and the
            // errors compound through the layers. Element by element that is not a fair yardstick in a
            // ReLU/max-pooling network: an activation near 0 or a near-tie in a pooling window can flip
            // and re-route one component's gradient entirely. So TF32 is held to the loss within 1% and
            // the whole gradient within 5% in relative L2 norm.
            Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1).Percent);
            double difference = Math.Sqrt(actual.Select((v, i) => Math.Pow(v - expectedGradient[i], 2)).Sum());
            double norm = Math.Sqrt(expectedGradient.Sum(v => v * v));
            TestContext.Out.WriteLine($"TF32: loss {losses.Total:G6} vs {expected.Total:G6}; gradient relative L2 error {difference / norm:G3}");
            Assert.That(difference / norm, Is.LessThan(0.05), "relative L2 error of the TF32 gradient");
            return;
        }
        Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-3).Percent);
        double scale = expectedGradient.Max(Math.Abs);
        var result = Comparison.Compare("gradient", "", actual, expectedGradient, new Tolerance(1e-3 * scale, 1e-3));
        Assert.That(result.Passed, Is.True, result.Detail);
    }
}
