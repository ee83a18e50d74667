using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests;

/// <summary>Choosing a device by name or index; a missing one is a one-line message.</summary>
public sealed class DeviceSelectionTests
{
    [Test]
    public void CpuAndAutoAlwaysResolve()
    {
        using var context = Devices.CreateContext();
        Assert.That(Devices.Select(context, "cpu").AcceleratorType, Is.EqualTo(AcceleratorType.CPU));
        Assert.That(Devices.Select(context, " CPU ").AcceleratorType, Is.EqualTo(AcceleratorType.CPU));
        // auto: the first CUDA device, else the first OpenCL device, else the CPU.
        var expected = context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                       ?? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL)
                       ?? context.Devices.First(d => d.AcceleratorType == AcceleratorType.CPU);
        Assert.That(Devices.Select(context, "auto"), Is.SameAs(expected));
        Assert.That(Devices.Select(context, "0"), Is.SameAs(context.Devices[0]));
    }

    [Test]
    public void AnIndexPastTheEndIsRefusedInOneLine()
    {
        using var context = Devices.CreateContext();
        var error = Assert.Throws<DeviceSelectionException>(() => Devices.Select(context, "99"));
        Assert.That(error!.Message,
            Does.StartWith("There is no device 99").And.Contain("ilgpu-style devices").And.Not.Contain("\n"));
    }

    [Test]
    public void AnUnknownNameIsRefused()
    {
        using var context = Devices.CreateContext();
        var error = Assert.Throws<DeviceSelectionException>(() => Devices.Select(context, "tpu"));
        Assert.That(error!.Message, Does.Contain("Unknown device 'tpu'"));
    }

    [Test]
    public void AMissingCudaDeviceSaysWhatToDo()
    {
        using var context = Devices.CreateContext();
        if (context.Devices.Any(d => d.AcceleratorType == AcceleratorType.Cuda))
        {
            Assert.That(Devices.Select(context, "cuda").AcceleratorType, Is.EqualTo(AcceleratorType.Cuda));
            return;
        }
        var error = Assert.Throws<DeviceSelectionException>(() => Devices.Select(context, "cuda"));
        Assert.That(error!.Message,
            Does.StartWith("No CUDA device found").And.Contain("--device cpu").And.Not.Contain("\n"));
    }
}
