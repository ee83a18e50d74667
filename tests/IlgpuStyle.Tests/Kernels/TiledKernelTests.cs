using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Tests.Network;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The tiled kernels on a CPU accelerator of their own whose groups hold 256 threads (the project's
/// default CPU accelerator keeps groups at one thread per core, which is faster for everything else
/// but too small for a 16 x 16 tile). Each simulated thread is an OS thread and every barrier a
/// real one, so the shapes stay tiny.
/// </summary>
public sealed class TiledKernelTests : AcceleratorTest
{
    protected override OwnAccelerator CreateOwnAccelerator() => OwnAccelerator.WideCpu(threadsPerWarp: 16, warps: 16);

    private static IEnumerable<TestCaseData> TiledChecks() =>
        KernelChecks.All.Where(c => c.Requires is not null)
            .Select(c => new TestCaseData(c).SetArgDisplayNames(c.Kernel, c.Shape));

    [TestCaseSource(nameof(TiledChecks))]
    public void MatchesCpuReference(KernelCheck check)
    {
        Assert.That(check.RunsOn(Accelerator), Is.True, "the wide CPU accelerator must run every tiled check");
        var result = check.Run(Kernels);
        TraceGuard.ThrowIfAssertionsFailed();
        Assert.That(result.Passed, Is.True,
            $"{check}: max abs error {result.MaxAbsError:G3}, max rel error {result.MaxRelError:G3}. {result.Detail}");
    }

    [Test]
    public void TheDefaultCpuAcceleratorRefusesTheTiledKernelsWithAMessage()
    {
        using var projectCpu = OwnAccelerator.ProjectCpu();
        var (accelerator, kernels) = (projectCpu.Accelerator, projectCpu.Kernels);
        var s = Conv2dShape.Vgg(3, 5, 7, 4);
        using var buffer = accelerator.Allocate1D<float>(1000);
        var (output, input) = (buffer.View.SubView(0, s.Output.Length), buffer.View.SubView(0, s.Input.Length));
        var (weight, bias) = (buffer.View.SubView(0, s.WeightLength), buffer.View.SubView(0, 4));
        var weights = kernels.Conv.Prepare(s, weight, bias, _ => default,
            new ConvVariants(KernelVariant.Tiled, KernelVariant.PerElement));
        var error = Assert.Throws<NotSupportedException>(
            () => kernels.Conv.Forward(output, default, input, weights, fuseRelu: true));
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
        using var own = OwnAccelerator.WideCpu(threadsPerWarp: 32, warps: 8,
            a => new KernelSet(a, new KernelChoice(AcceleratorDescription.Of(a), tf32, tiledOnCpu: true)));
        var accelerator = own.Accelerator;
        var kernels = own.Kernels;
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 18, seed: 60);
        var style = TinyVgg.Image(17, 16, seed: 61);
        var x = TinyVgg.Image(16, 18, seed: 62);
        var options = new StyleOptions();
        using var objective = Objectives.Create(kernels, weights, content, [style], options);
        Assert.That(objective.Plan.LayerNames, Does.Contain("conv1_1"));
        Assert.That(objective.Plan.Memory!.Total,
            Is.EqualTo(objective.Memory.PeakBytes), "the estimate counts the transposed weights");

        using var input = accelerator.Allocate1D(x.Data);
        using var gradient = TestData.Poisoned(accelerator, x.Data.Length);
        using var loss = accelerator.Allocate1D<float>(1);
        objective.Evaluate(input.View, gradient.View, loss.View);
        var losses = objective.ReadLosses();

        var reference = new ReferenceObjective(weights, content, [style], options);
        var expectedGradient = new double[x.Data.Length];
        var expected = reference.Evaluate(
            ReferenceObjective.ToDouble(x.Data), expectedGradient);
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
            TestContext.Out.WriteLine($"TF32: loss {losses.Total:G6} vs {expected.Total:G6}; gradient relative L2 " +
                                      $"error {difference / norm:G3}");
            Assert.That(difference / norm, Is.LessThan(0.05), "relative L2 error of the TF32 gradient");
            return;
        }
        Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-3).Percent);
        double scale = expectedGradient.Max(Math.Abs);
        var result = Comparison.Compare("gradient", "", actual, expectedGradient, new Tolerance(1e-3 * scale, 1e-3));
        Assert.That(result.Passed, Is.True, result.Detail);
    }
}

/// <summary>
/// The per-layer split rule (Conv2d.Splits) on VGG-19's real shapes and an H100's 132 multiprocessors.
/// </summary>
public sealed class SplitRuleTests
{
    private static readonly (string Name, int C, int K, int Scale)[] Vgg19 =
    [
        ("conv1_1", 3, 64, 1), ("conv1_2", 64, 64, 1), ("conv2_1", 64, 128, 2), ("conv2_2", 128, 128, 2),
        ("conv3_1", 128, 256, 4), ("conv3_2", 256, 256, 4), ("conv3_3", 256, 256, 4), ("conv3_4", 256, 256, 4),
        ("conv4_1", 256, 512, 8), ("conv4_2", 512, 512, 8), ("conv4_3", 512, 512, 8), ("conv4_4", 512, 512, 8),
        ("conv5_1", 512, 512, 16),
    ];

    private static Dictionary<string, (int Forward, int Backward)> SplitsAt(int size, int multiprocessors) =>
        Vgg19.ToDictionary(l => l.Name, l =>
        {
            var shape = Conv2dShape.Vgg(l.C, size / l.Scale, size / l.Scale, l.K);
            return (Conv2d.Splits(shape, multiprocessors),
                Conv2d.Splits(shape.Transposed, multiprocessors));
        });

    [Test]
    public void At512OnlyConv5_1AndConv4_1sGradientSplitOnAnH100()
    {
        var splits = SplitsAt(512, 132);
        Assert.Multiple(() =>
        {
            Assert.That(splits["conv5_1"], Is.EqualTo((3, 3)), "128 tiles for 132 multiprocessors");
            Assert.That(splits["conv4_1"], Is.EqualTo((1, 2)),
                "its input gradient has 256 channels x 64 x 64: 256 tiles");
            Assert.That(
                splits.Where(p => p.Key is not ("conv5_1" or "conv4_1")).Select(p => p.Value), Is.All.EqualTo((1, 1)));
        });
    }

    [Test]
    public void SmallerImagesSplitMoreLayersAndNeverPastTheLimits()
    {
        var splits = SplitsAt(256, 132);
        Assert.Multiple(() =>
        {
            Assert.That(splits["conv4_2"].Forward, Is.EqualTo(3), "512 x 32 x 32: 128 tiles");
            Assert.That(splits["conv3_2"].Forward, Is.EqualTo(2), "256 x 64 x 64: 256 tiles");
            Assert.That(splits["conv1_2"].Forward, Is.EqualTo(1), "64 x 256 x 256: 1024 tiles");
            // conv1_1's R = 27 is below one slice's minimum of 256 rows, whatever the tile count.
            Assert.That(Conv2d.Splits(Conv2dShape.Vgg(3, 8, 8, 64), 132), Is.EqualTo(1));
            // 8 MB of partials at most: a 512 x 128 x 128 output (8.4 M floats) cannot split at all.
            Assert.That(Conv2d.Splits(Conv2dShape.Vgg(512, 128, 128, 512), 100000), Is.EqualTo(1));
        });
    }
}
