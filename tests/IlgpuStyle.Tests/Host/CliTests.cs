using IlgpuStyle.Host;

namespace IlgpuStyle.Tests.Host;

/// <summary>The console commands, run in-process with captured output.</summary>
public sealed class CliTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public void DevicesListsTheCpuAccelerator()
    {
        var (exit, output, _) = Run("devices");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("CPU").And.Contain("host memory").And.Contain("'--device auto' picks:"));
    }

    [Test]
    public void VerifyOnTheCpuRunsEveryCheckAndPasses()
    {
        var (exit, output, error) = Run("verify", "--device", "cpu");
        Assert.That(error, Is.Empty);
        Assert.That(exit, Is.Zero, output);
        Assert.That(output, Does.Contain("conv2d.backward/per-row").And.Contain("gram.forward/per-element").And.Contain("tv.backward"));
        var all = IlgpuStyle.Kernels.Verification.KernelChecks.All;
        int plain = all.Count(c => c.Requires is null), tiled = all.Count - plain;
        Assert.That(tiled, Is.GreaterThan(0));
        Assert.That(output.TrimEnd(), Does.EndWith($"{plain} passed, 0 failed, {tiled} skipped"),
            "the tiled kernels need 256-thread groups, which the CPU accelerator does not offer: skipped, with the reason");
        Assert.That(output, Does.Contain($"skipped {tiled} checks (conv2d.forward/tiled").And.Contain("needs 256 threads per group"));
    }

    [Test]
    public void VerifyCanBeNarrowedToOneKernel()
    {
        var (exit, output, _) = Run("verify", "--device", "cpu", "--kernel", "maxpool2d");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("maxpool2d.backward").And.Not.Contain("conv2d"));
        Assert.That(output.TrimEnd(), Does.EndWith("12 passed, 0 failed, 0 skipped"));
    }

    [Test]
    public void AMissingDeviceIsOneLineAndExitCodeTwo()
    {
        var (exit, output, error) = Run("verify", "--device", "99");
        Assert.That(exit, Is.EqualTo(Cli.ExitUsage));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd(), Does.StartWith("error: There is no device 99").And.Not.Contain("\n").And.Not.Contain("   at "));
    }

    [Test]
    public void AnUnknownKernelFilterIsOneLine()
    {
        var (exit, _, error) = Run("verify", "--device", "cpu", "--kernel", "softmax");
        Assert.That(exit, Is.EqualTo(Cli.ExitUsage));
        Assert.That(error.TrimEnd(), Does.Contain("No check's kernel name starts with 'softmax'").And.Not.Contain("\n"));
    }

    [Test]
    public void Tf32WithoutTensorCoresIsOneLine()
    {
        var (exit, _, error) = Run("bench", "--device", "cpu", "--size", "16", "--tf32");
        Assert.That(exit, Is.EqualTo(Cli.ExitUsage));
        Assert.That(error.TrimEnd(), Does.StartWith("error: --tf32 needs an NVIDIA GPU of compute capability 8.0").And.Not.Contain("\n"));
    }
}
