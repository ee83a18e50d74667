using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Host;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests;

/// <summary>
/// Which OpenCL devices ILGPU can use (<see cref="OpenCLSupport"/>), and what <c>devices</c> and
/// <c>verify --device opencl</c> say about the others. The verdicts are checked on the facts a device
/// reports; where an OpenCL driver is installed (e.g. PoCL), also on its real devices.
/// </summary>
public sealed class OpenCLSupportTests
{
    private static readonly CLDeviceVersion Cl12 = CLDeviceVersion.CL12, Cl20 = CLDeviceVersion.CL20,
        Cl30 = CLDeviceVersion.CL30;

    [Test]
    public void AnOpenCL20DeviceMeetsIlgpusRequirements()
    {
        var verdict = OpenCLSupport.Judge(Cl20, CLCVersion.CL20, genericAddressSpace: true, CLDeviceVendor.AMD);
        Assert.That(verdict.Usable, Is.True);
        Assert.That(verdict.Reason,
            Is.EqualTo("OpenCL 2.0 (OpenCL C 2.0) with generic address space: meets ILGPU's requirements"));
    }

    [Test]
    public void AnOpenCL30DeviceNeedsGenericAddressSpace()
    {
        var intel = OpenCLSupport.Judge(Cl30, CLCVersion.CL30, genericAddressSpace: true, CLDeviceVendor.Intel);
        Assert.That(intel.Usable, Is.True);
        // What Mesa's rusticl reports for llvmpipe (Debian 13): OpenCL C 1.0 to 3.0, no generic address space.
        var rusticl = OpenCLSupport.Judge(Cl30, CLCVersion.CL30, genericAddressSpace: false, CLDeviceVendor.Other);
        Assert.That(rusticl.Usable, Is.False);
        Assert.That(rusticl.Reason, Is.EqualTo(
            "OpenCL 3.0 (OpenCL C 3.0) without generic address space: " +
            "ILGPU needs OpenCL 2.0, or OpenCL 3.0 with generic address space"));
    }

    [Test]
    public void AnOpenCL12DeviceIsTooOld()
    {
        var verdict = OpenCLSupport.Judge(Cl12, CLCVersion.CL12, genericAddressSpace: false, CLDeviceVendor.Other);
        Assert.That(verdict.Usable, Is.False);
        Assert.That(verdict.Reason,
            Does.StartWith("OpenCL 1.2 (OpenCL C 1.2): ").And.EndWith(OpenCLSupport.Requirement));
    }

    [Test]
    public void AnNvidiaOpenCLDevicePointsToCuda()
    {
        var verdict = OpenCLSupport.Judge(Cl30, CLCVersion.CL30, genericAddressSpace: false, CLDeviceVendor.Nvidia);
        Assert.That(verdict.Usable, Is.False);
        Assert.That(verdict.Reason, Does.EndWith("; NVIDIA GPUs run through CUDA"));
    }

    [Test]
    public void ARefusedAmdOrIntelDevicePointsToItsCurrentDriver()
    {
        var amd = OpenCLSupport.Judge(Cl12, CLCVersion.CL12, genericAddressSpace: false, CLDeviceVendor.AMD);
        Assert.That(amd.Reason, Does.EndWith(OpenCLSupport.Requirement + "; AMD's ROCm driver offers it"));
        var intel = OpenCLSupport.Judge(Cl30, CLCVersion.CL30, genericAddressSpace: false, CLDeviceVendor.Intel);
        Assert.That(intel.Reason, Does.EndWith(OpenCLSupport.Requirement + "; Intel's compute runtime offers it"));
    }

    /// <summary>
    /// A device is described by the newest OpenCL C version it lists (on OpenCL 3.0, its "all versions"
    /// list), never older than CL_DEVICE_OPENCL_C_VERSION, which ILGPU reads. PoCL 6 says 1.2 there and
    /// lists 3.0.
    /// </summary>
    [Test]
    public void EachDeviceIsDescribedByTheNewestOpenCLCVersionItLists()
    {
        var reported = OpenCLSupport.ReportedDevices();
        if (reported.Count == 0)
            Assert.Ignore("no OpenCL driver reports a device here (PoCL would: apt-get install pocl-opencl-icd)");
        foreach (var device in reported)
        {
            var newest = OpenCLSupport.NewestCVersion(device);
            Assert.That(newest >= device.CVersion, Is.True, $"{device.Name}: {newest} older than {device.CVersion}");
            Assert.That(OpenCLSupport.Judge(device).Reason,
                Does.StartWith($"OpenCL {device.DeviceVersion} (OpenCL C {newest.Major}.{newest.Minor})"));
            if (device.PlatformName.Contains("Portable Computing Language", StringComparison.Ordinal)
                && device.DeviceVersion >= Cl30)
                Assert.That(newest, Is.EqualTo(CLCVersion.CL30), $"{device.Name}: PoCL lists OpenCL C 3.0");
        }
    }

    /// <summary>The project's filter keeps exactly the OpenCL devices ILGPU's default filter keeps.</summary>
    [Test]
    public void TheFilterAgreesWithIlgpusOnTheReportedDevices()
    {
        var reported = OpenCLSupport.ReportedDevices();
        if (reported.Count == 0)
            Assert.Ignore("no OpenCL driver reports a device here (PoCL would: apt-get install pocl-opencl-icd)");
        using var ilgpus = Context.Create(builder => builder.OpenCL());
        using var ours = Devices.CreateContext();
        var kept = ilgpus.Devices.Where(d => d.AcceleratorType == AcceleratorType.OpenCL)
            .Select(d => d.Name).Order().ToList();
        Assert.That(reported.Where(OpenCLSupport.MeetsIlgpuRequirements).Select(d => d.Name).Order(), Is.EqualTo(kept));
        Assert.That(ours.Devices.Where(d => d.AcceleratorType == AcceleratorType.OpenCL).Select(d => d.Name).Order(),
            Is.EqualTo(kept));
    }

    [Test]
    public void DevicesSaysWhatItMakesOfEachOpenCLDevice()
    {
        var (exit, output, _) = Run("devices");
        Assert.That(exit, Is.Zero);
        var reported = OpenCLSupport.ReportedDevices();
        if (reported.Count == 0)
            Assert.That(output, Does.Contain("OpenCL: no OpenCL driver reports a device"));
        foreach (var device in reported)
        {
            var verdict = OpenCLSupport.Judge(device);
            Assert.That(output, Does.Contain($"OpenCL '{device.Name.Trim()}' ({device.PlatformName.Trim()}): " +
                                             (verdict.Usable ? "" : "not offered, ") + verdict.Reason));
        }
    }

    [Test]
    public void VerifyOnOpenCLWithoutAUsableDeviceSaysWhyInOneLine()
    {
        using (var context = Devices.CreateContext())
        {
            if (context.Devices.Any(d => d.AcceleratorType == AcceleratorType.OpenCL))
                Assert.Ignore("a usable OpenCL device is present (the kernel tests run on it)");
        }
        var (exit, output, error) = Run("verify", "--device", "opencl");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd(), Does.StartWith("error: No usable OpenCL device found: ")
            .And.Contain(OpenCLSupport.Requirement).And.Contain("--device cpu").And.Not.Contain("\n"));
        foreach (var device in OpenCLSupport.ReportedDevices())
            Assert.That(error,
                Does.Contain($"OpenCL '{device.Name.Trim()}' ({device.PlatformName.Trim()}): not offered, "));
    }

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
