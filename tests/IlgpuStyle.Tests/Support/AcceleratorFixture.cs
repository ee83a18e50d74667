using ILGPU;
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
public abstract class AcceleratorFixture(DeviceKind kind)
{
    /// <summary>The accelerator kinds the fixture is instantiated for.</summary>
    public static readonly DeviceKind[] Kinds = [DeviceKind.Cpu, DeviceKind.Cuda, DeviceKind.OpenCL];

    private Context? _context;
    private Accelerator? _accelerator;
    private KernelSet? _kernels;

    protected DeviceKind Kind { get; } = kind;

    /// <summary>The accelerator under test.</summary>
    protected Accelerator Accelerator => _accelerator ?? throw new InvalidOperationException("No accelerator.");

    /// <summary>Every kernel, loaded once per fixture.</summary>
    protected KernelSet Kernels => _kernels ?? throw new InvalidOperationException("No kernels.");

    [OneTimeSetUp]
    public void CreateAccelerator()
    {
        _context = Devices.CreateContext();
        var type = Kind switch
        {
            DeviceKind.Cuda => AcceleratorType.Cuda,
            DeviceKind.OpenCL => AcceleratorType.OpenCL,
            _ => AcceleratorType.CPU,
        };
        var device = _context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
        if (device is null)
        {
            Assert.Ignore($"No {Kind} device on this machine: these tests run only where ILGPU finds one " +
                          $"(it sees {Devices.Describe(_context.Devices)}).");
        }
        _accelerator = device!.CreateAccelerator(_context);
        _kernels = new KernelSet(_accelerator);
    }

    [OneTimeTearDown]
    public void DisposeAccelerator()
    {
        _kernels?.Dispose();
        _accelerator?.Dispose();
        _context?.Dispose();
    }
}
