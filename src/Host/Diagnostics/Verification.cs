using System.Globalization;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>ilgpu-style verify</c>: runs the same kernel-versus-reference checks as the NUnit tests
/// (<see cref="KernelChecks"/>) on the chosen device. It exists for machines without the .NET SDK
/// (a user's GPU box, a lent GPU machine) where <c>dotnet test</c> cannot run.
/// </summary>
internal static class Verification
{
    public static int Run(TextWriter output, string deviceRequest, string? kernelPrefix)
    {
        using var context = Devices.CreateContext();
        var device = Devices.Select(context, deviceRequest);
        using var accelerator = device.CreateAccelerator(context);
        using var kernels = new KernelSet(accelerator);

        var checks = KernelChecks.All
            .Where(c => kernelPrefix is null || c.Kernel.StartsWith(kernelPrefix, StringComparison.OrdinalIgnoreCase))
            .ToList();
        if (checks.Count == 0)
            throw new DeviceSelectionException(
                $"No check's kernel name starts with '{kernelPrefix}'. " +
                "Run 'ilgpu-style verify' without --kernel to see them all.");

        output.WriteLine(
            $"Verifying {checks.Count} kernel checks on {accelerator.AcceleratorType} '{accelerator.Name.Trim()}'" +
            (CpuHost.Supports(accelerator) ? $" (host code at {CpuVector.Describe()})" : ""));
        if (device is CLDevice openCL) output.WriteLine(OpenCLSupport.Describe([openCL]).Single());
        var rows = new List<string[]>();
        var failures = new List<CheckResult>();
        var skipped = new List<KernelCheck>();
        foreach (var check in checks)
        {
            if (!check.RunsOn(accelerator))
            {
                // e.g. the tiled kernels on the CPU accelerator, whose groups are kept small
                skipped.Add(check);
                rows.Add([check.Kernel, check.Shape, "-", "-", "skipped"]);
                continue;
            }
            var r = check.Run(kernels);
            if (!r.Passed) failures.Add(r);
            rows.Add([
                r.Kernel,
                r.Shape,
                r.MaxAbsError.ToString("0.00E+00", CultureInfo.InvariantCulture),
                r.MaxRelError.ToString("0.00E+00", CultureInfo.InvariantCulture),
                r.Passed ? "pass" : "FAIL",
            ]);
        }
        TextTable.Write(output, ["kernel", "shape", "max abs err", "max rel err", "result"], rows);

        foreach (var group in skipped.GroupBy(c => c.RequirementText))
        {
            string kernelsSkipped = string.Join(", ", group.Select(c => c.Kernel).Distinct());
            output.WriteLine(
                $"skipped {group.Count()} checks ({kernelsSkipped}): {group.Key}; " +
                $"this device allows {accelerator.MaxNumThreadsPerGroup} threads per group");
        }
        foreach (var failure in failures)
            output.WriteLine($"FAIL {failure.Kernel} {failure.Shape}: {failure.Detail}");
        int ran = checks.Count - skipped.Count;
        output.WriteLine($"{ran - failures.Count} passed, {failures.Count} failed, {skipped.Count} skipped");
        return failures.Count == 0 ? 0 : ExitCodes.Failed;
    }
}
