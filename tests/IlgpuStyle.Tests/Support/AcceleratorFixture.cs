using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Support;

/// <summary>The accelerator kinds every device test runs on.</summary>
public enum DeviceKind
{
    Cpu,
    Cuda,
    OpenCL,
}

/// <summary>
/// Base class of tests written once and run on every accelerator: ILGPU's CPU accelerator always,
/// and CUDA and OpenCL devices when the machine has them. An absent device makes its fixture
/// report "skipped" with the reason, never "passed".
/// </summary>
[TestFixtureSource(nameof(Kinds))]
public abstract class AcceleratorFixture(DeviceKind kind) : AcceleratorTest
{
    /// <summary>The accelerator kinds the fixture is instantiated for.</summary>
    public static readonly DeviceKind[] Kinds = [DeviceKind.Cpu, DeviceKind.Cuda, DeviceKind.OpenCL];

    protected DeviceKind Kind { get; } = kind;

    protected override OwnAccelerator CreateOwnAccelerator()
    {
        var type = Kind switch
        {
            DeviceKind.Cuda => AcceleratorType.Cuda,
            DeviceKind.OpenCL => AcceleratorType.OpenCL,
            _ => AcceleratorType.CPU,
        };
        return OwnAccelerator.FirstOf(type);
    }
}
