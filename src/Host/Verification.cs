using System.Globalization;
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
            throw new DeviceSelectionException($"No check's kernel name starts with '{kernelPrefix}'. Run 'ilgpu-style verify' without --kernel to see them all.");

        output.WriteLine($"Verifying {checks.Count} kernel checks on {accelerator.AcceleratorType} '{accelerator.Name.Trim()}'");
        var results = checks.Select(c => c.Run(kernels)).ToList();
        var rows = results.Select(r => new[]
        {
            r.Kernel,
            r.Shape,
            r.MaxAbsError.ToString("0.00E+00", CultureInfo.InvariantCulture),
            r.MaxRelError.ToString("0.00E+00", CultureInfo.InvariantCulture),
            r.Passed ? "pass" : "FAIL",
        }).ToList();
        TextTable.Write(output, ["kernel", "shape", "max abs err", "max rel err", "result"], rows);

        foreach (var failure in results.Where(r => !r.Passed))
            output.WriteLine($"FAIL {failure.Kernel} {failure.Shape}: {failure.Detail}");
        int failed = results.Count(r => !r.Passed);
        output.WriteLine($"{results.Count - failed} passed, {failed} failed");
        return failed == 0 ? 0 : Cli.ExitFailed;
    }
}
