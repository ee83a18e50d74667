using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Support;

/// <summary>
/// A context, an accelerator and the kernels on it that a test makes for itself, disposed together:
/// the project's CPU accelerator, or a CPU accelerator with wider groups for the tiled kernels.
/// </summary>
public sealed class OwnAccelerator : IDisposable
{
    private OwnAccelerator(Context context, Device device, Func<Accelerator, KernelSet>? kernels)
    {
        Context = context;
        Accelerator = device.CreateAccelerator(context);
        Kernels = kernels?.Invoke(Accelerator) ?? new KernelSet(Accelerator);
    }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    public KernelSet Kernels { get; }

    /// <summary>
    /// The first device of <paramref name="type"/> in the project's context; when the machine has
    /// none, the calling test is ignored with the reason (reported as skipped, never as passed).
    /// </summary>
    public static OwnAccelerator FirstOf(AcceleratorType type)
    {
        var context = Devices.CreateContext();
        var device = context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
        if (device is null)
        {
            string seen = Devices.Describe(context.Devices);
            context.Dispose();
            Assert.Ignore($"No {type} device on this machine: these tests run only where ILGPU finds one " +
                          $"(it sees {seen}).");
        }
        return new OwnAccelerator(context, device!, kernels: null);
    }

    /// <summary>The CPU accelerator the project uses (groups of one thread per core).</summary>
    public static OwnAccelerator ProjectCpu()
    {
        var context = Devices.CreateContext();
        return new OwnAccelerator(context, Devices.Select(context, "cpu"), kernels: null);
    }

    /// <summary>
    /// A CPU accelerator whose groups hold <paramref name="threadsPerWarp"/> x <paramref name="warps"/>
    /// threads (256 for the tiled kernels; warps of 32 for the TF32 kernel's emulation).
    /// </summary>
    public static OwnAccelerator WideCpu(int threadsPerWarp, int warps, Func<Accelerator, KernelSet>? kernels = null)
    {
        var context = Context.Create(builder =>
            builder.CPU(new CPUDevice(threadsPerWarp, warps, numMultiprocessors: 1)).EnableAlgorithms());
        return new OwnAccelerator(context, context.Devices[0], kernels);
    }

    public void Dispose()
    {
        Kernels.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }
}
