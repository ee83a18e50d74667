using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Kernels;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Every kernel compiled by ILGPU's PTX backend (Hopper, SM_90 / PTX ISA 8.8) and its OpenCL C 2.0
/// backend, without a GPU. A kernel that uses something a GPU backend cannot translate (a throw,
/// an unsupported intrinsic, a managed allocation) fails here, in CI, before a user's GPU sees it.
/// </summary>
public sealed class BackendCompileTests
{
    /// <summary>Every kernel of the library (<see cref="KernelCatalog"/>), named as the ptxas check names
    /// them.</summary>
    private static IEnumerable<TestCaseData> KernelMethods() =>
        KernelCatalog.All.Select(k => new TestCaseData(k).SetArgDisplayNames(k.Name));

    [Test]
    public void TheCatalogFindsTheKernels() =>
        Assert.That(KernelCatalog.All.Count, Is.GreaterThanOrEqualTo(20), "kernel discovery found too few kernels");

    [TestCaseSource(nameof(KernelMethods))]
    public void CompilesToPtxForHopperWithNoGenericLoadsOrStores(KernelMethod kernel)
    {
        string ptx = KernelCatalog.Ptx(kernel);
        Assert.That(ptx, Does.Contain(".entry"), "no PTX entry point was generated");
        // The project compiles at O2 (Devices.Optimization) so that every access names its state
        // space: a generic ld/st could touch local memory, and ptxas would then keep local slots
        // (the inline-PTX operands) in memory.
        var generic = Regex.Match(ptx, @"^\s*(ld|st)\.(?!global|shared|local|param|const)\S*.*$",
            RegexOptions.Multiline);
        Assert.That(generic.Success, Is.False, $"a generic access is left: {generic.Value.Trim()}");
    }

    [TestCase("Conv2d.TiledKernel", 32)]
    [TestCase("Gram.ForwardTiledKernel", 32)]
    [TestCase("Gram.BackwardTiledKernel", 32)]
    [TestCase("Conv2d.Tf32Kernel", 12)]
    public void TheSharedLoadsOfAStepStayBetweenItsBarriers(string name, int loads)
    {
        // At O2 ILGPU moved a step's shared loads below the barrier that closes it when they were
        // straight-line code (TiledGemm.Multiply says how it avoids that): the next step's stores
        // would then race them, which no CPU test can see. Here the PTX itself is read: the first
        // barrier (tiles loaded) must be followed by the step's reads before the second.
        string ptx = KernelCatalog.Ptx(KernelCatalog.Find(name).Single());
        var barriers = Regex.Matches(ptx, @"^\s*bar\.sync\b", RegexOptions.Multiline);
        Assert.That(barriers, Has.Count.GreaterThanOrEqualTo(2));
        string step = ptx[barriers[0].Index..barriers[1].Index];
        Assert.That(Regex.Matches(step, @"^\s*ld\.shared\.", RegexOptions.Multiline), Has.Count.EqualTo(loads),
            "the step's shared loads are not all between its two barriers");
    }

    [Test]
    public void CiChecksThePtxAtTheProjectsOptimizationLevel()
    {
        // .ci/run hands the level to ../shared/ptx/check.sh, which cannot read it from the code.
        string? root = SharedFolder.RepositoryRoot;
        if (root is null) Assert.Ignore("The repository root (IlgpuStyle.sln) is not above the test binaries.");
        string ci = File.ReadAllText(Path.Combine(root!, ".ci", "run"));
        Assert.That(ci, Does.Contain($"--opt {Devices.Optimization}"));
    }

    [Test]
    public void TheTiledConvolutionUsesSharedMemoryAndBarriersInPtx()
    {
        string ptx = KernelCatalog.Ptx(KernelCatalog.Find($"Conv2d.{nameof(Conv2d.TiledKernel)}").Single());
        // The tiles live in shared memory and the steps are separated by barriers. (The multiply-adds
        // come out as mul.f32 + add.f32 without a rounding modifier, which the driver's ptxas may
        // contract into FMAs.)
        Assert.That(ptx, Does.Contain(".shared .align 4 .b8").And.Contain("ld.shared.f32").And.Contain("bar.sync"));
    }

    [TestCaseSource(nameof(KernelMethods))]
    public void CompilesToOpenCL20(KernelMethod kernel)
    {
        using var context = Context.Create(builder => builder.EnableAlgorithms().Optimize(Devices.Optimization));
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
            int64_Atomics: false, subGroups: false);
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.AMD, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)backend.Compile(kernel.EntryPoint, KernelSpecialization.Empty);
        Assert.That(compiled.Source, Does.Contain("kernel void"), "no OpenCL kernel was generated");
    }
}
