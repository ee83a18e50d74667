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
    private Context _context = null!;
    private Accelerator _accelerator = null!;
    private KernelSet _kernels = null!;

    [OneTimeSetUp]
    public void Create()
    {
        _context = Context.Create(builder => builder.CPU(new CPUDevice(numThreadsPerWarp: 16, numWarpsPerMultiprocessor: 16, numMultiprocessors: 1)).EnableAlgorithms());
        _accelerator = _context.Devices[0].CreateAccelerator(_context);
        _kernels = new KernelSet(_accelerator);
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _kernels.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    private static IEnumerable<TestCaseData> TiledChecks() =>
        KernelChecks.All.Where(c => c.Requires is not null).Select(c => new TestCaseData(c).SetArgDisplayNames(c.Kernel, c.Shape));

    [TestCaseSource(nameof(TiledChecks))]
    public void MatchesCpuReference(KernelCheck check)
    {
        Assert.That(check.RunsOn(_accelerator), Is.True, "the wide CPU accelerator must run every tiled check");
        var result = check.Run(_kernels);
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
