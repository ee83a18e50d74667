using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Support;

/// <summary>
/// Base class of every test class that makes its own accelerator: the subclass says which (the
/// device of a kind, the project's CPU accelerator, a CPU accelerator with wide groups); this class
/// creates it with its kernels once per fixture and disposes them after the fixture's last test.
/// </summary>
public abstract class AcceleratorTest
{
    private OwnAccelerator? _own;

    /// <summary>The accelerator under test.</summary>
    protected Accelerator Accelerator => (_own ?? throw new InvalidOperationException("No accelerator.")).Accelerator;

    /// <summary>Every kernel, loaded once per fixture.</summary>
    protected KernelSet Kernels => (_own ?? throw new InvalidOperationException("No kernels.")).Kernels;

    /// <summary>
    /// Makes the fixture's accelerator (or ignores the fixture, with the reason, when there is none).
    /// </summary>
    protected abstract OwnAccelerator CreateOwnAccelerator();

    [OneTimeSetUp]
    public void CreateAccelerator() => _own = CreateOwnAccelerator();

    [OneTimeTearDown]
    public void DisposeAccelerator() => _own?.Dispose();
}
