using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Every device kernel against its CPU reference (the catalog in <see cref="KernelChecks"/>, which
/// <c>ilgpu-style verify</c> runs too), on every available accelerator.
/// </summary>
public sealed class KernelCheckTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static IEnumerable<TestCaseData> Checks() =>
        KernelChecks.All.Select(check => new TestCaseData(check).SetArgDisplayNames(check.Kernel, check.Shape));

    [TestCaseSource(nameof(Checks))]
    public void MatchesCpuReference(KernelCheck check)
    {
        // One reason for every kernel with the same requirement (the test's name says which kernel),
        // so the skipped tests group under one line.
        if (!check.RunsOn(Accelerator))
            Assert.Ignore($"The kernel {check.RequirementText}; {Accelerator.Name.Trim()} allows " +
                          $"{Accelerator.MaxNumThreadsPerGroup} threads per group.");
        var result = check.Run(Kernels);
        TraceGuard.ThrowIfAssertionsFailed();
        Assert.That(result.Passed, Is.True,
            $"{check}: max abs error {result.MaxAbsError:G3}, max rel error {result.MaxRelError:G3}. {result.Detail}");
    }
}
