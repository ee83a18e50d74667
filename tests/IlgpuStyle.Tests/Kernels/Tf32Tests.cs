using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The TF32 convolution on a CPU accelerator with 256-thread groups and warps of 32, where the
/// mma is emulated from the same fragments the tensor cores would receive (so a wrong fragment
/// index fails here), and its PTX compiled without a GPU.
/// </summary>
public sealed class Tf32Tests : AcceleratorTest
{
    protected override OwnAccelerator CreateOwnAccelerator() => OwnAccelerator.WideCpu(threadsPerWarp: 32, warps: 8);

    private static IEnumerable<TestCaseData> Tf32Checks() =>
        KernelChecks.All.Where(c => c.Kernel.EndsWith("/tf32", StringComparison.Ordinal))
            .Select(c => new TestCaseData(c).SetArgDisplayNames(c.Kernel, c.Shape));

    [Test]
    public void TheCatalogHasTheTf32Checks() => Assert.That(Tf32Checks().Count(), Is.EqualTo(18));

    [TestCaseSource(nameof(Tf32Checks))]
    public void MatchesCpuReference(KernelCheck check)
    {
        Assert.That(Accelerator.WarpSize, Is.EqualTo(32));
        Assert.That(check.RunsOn(Accelerator), Is.True, "the wide CPU accelerator must run every TF32 check");
        var result = check.Run(Kernels);
        TraceGuard.ThrowIfAssertionsFailed();
        Assert.That(result.Passed, Is.True,
            $"{check}: max abs error {result.MaxAbsError:G3}, max rel error {result.MaxRelError:G3}. {result.Detail}");
    }

    [TestCase(1f, 1f)]
    [TestCase(-1f, -1f)]
    [TestCase(0f, 0f)]
    [TestCase(1f + 1f / 2048, 1f + 1f / 1024)]                     // a tie: away from zero
    [TestCase(-(1f + 1f / 2048), -(1f + 1f / 1024))]               // a negative tie: away from zero too
    [TestCase(1f + 1f / 4096, 1f)]                                 // below half a unit: down
    [TestCase(1f + 3f / 4096, 1f + 1f / 1024)]                     // above half a unit: up
    [TestCase(2f - 1f / 4096, 2f)]                                 // carry into the exponent
    [TestCase(float.PositiveInfinity, float.PositiveInfinity)]
    public void RoundsToNearestWithTiesAwayFromZero(float value, float expected) =>
        Assert.That(Conv2d.RoundTf32(value), Is.EqualTo(expected));

    [Test]
    public void RoundingKeepsTenMantissaBits()
    {
        var random = new Random(5);
        for (int i = 0; i < 1000; i++)
        {
            float value = (float)(random.NextDouble() * 200 - 100);
            float rounded = Conv2d.RoundTf32(value);
            Assert.That(BitConverter.SingleToUInt32Bits(rounded) & 0x1FFFu, Is.Zero);
            Assert.That(Math.Abs(rounded - value), Is.LessThanOrEqualTo(Math.Abs(value) * Math.ScaleB(1.0, -11)));
        }
    }

    [Test]
    public void TheTf32ResultDiffersFromFp32WhereRoundingMatters()
    {
        // Inputs with low mantissa bits set: TF32 must drop them, so the product differs from fp32's.
        var s = new Conv2dShape(1, 1, 1, 1, 1, 1, 0, 1);
        using var input = Accelerator.Allocate1D(new[] { 1f + 1f / 4096 });
        using var weight = Accelerator.Allocate1D(new[] { 3f });
        using var bias = Accelerator.Allocate1D(new[] { 0f });
        using var output = Accelerator.Allocate1D<float>(1);
        var weights = Kernels.Conv.Prepare(s, weight.View, bias.View, _ => default,
            new ConvVariants(KernelVariant.Tf32, KernelVariant.PerElement));
        Kernels.Conv.Forward(output.View, default, input.View, weights, fuseRelu: false);
        Assert.That(TestData.Download(output)[0], Is.EqualTo(3f));
    }

    [Test]
    public void TheDefaultCpuAcceleratorRefusesTheTf32KernelWithAMessage()
    {
        using var projectCpu = OwnAccelerator.ProjectCpu();
        var (accelerator, kernels) = (projectCpu.Accelerator, projectCpu.Kernels);
        var s = Conv2dShape.Vgg(3, 5, 7, 4);
        using var buffer = accelerator.Allocate1D<float>(1000);
        var weights = kernels.Conv.Prepare(s, buffer.View.SubView(0, s.WeightLength), buffer.View.SubView(0, 4),
            _ => default, new ConvVariants(KernelVariant.Tf32, KernelVariant.PerElement));
        var error = Assert.Throws<NotSupportedException>(() => kernels.Conv.Forward(
            buffer.View.SubView(0, s.Output.Length), default, buffer.View.SubView(0, s.Input.Length), weights,
            fuseRelu: true));
        Assert.That(error!.Message, Does.Contain("needs 256 threads per group"));
    }

    [Test]
    public void ThePtxUsesTensorCoreMmaAndTf32Conversion()
    {
        // (ilgpu-style ptx --kernel Conv2d.Tf32 --out DIR writes this PTX for reading.)
        string ptx = KernelCatalog.Ptx(KernelCatalog.Find("Conv2d.Tf32Kernel").Single());
        Assert.That(ptx, Does.Contain("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"));
        Assert.That(ptx, Does.Contain("cvt.rna.tf32.f32"));
        // Four mma per 8-row step (2 x 2 tiles per warp), four conversions of A per m-tile and two of B per n-tile.
        Assert.That(Count(ptx, "mma.sync.aligned.m16n8k8"), Is.EqualTo(4));
        Assert.That(Count(ptx, "cvt.rna.tf32.f32"), Is.EqualTo(12));
    }

    private static int Count(string text, string what)
    {
        int count = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0;
             i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
