using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Every kernel compiled by ILGPU's PTX backend (Hopper, SM_90 / PTX ISA 8.8) and its OpenCL C 2.0
/// backend, without a GPU. A kernel that uses something a GPU backend cannot translate (a throw,
/// an unsupported intrinsic, a managed allocation) fails here, in CI, before a user's GPU sees it.
/// </summary>
public sealed class BackendCompileTests
{
    /// <summary>
    /// Every public static method of the kernel library whose name ends in "Kernel". Generic
    /// reduction kernels are instantiated with every <see cref="ISummand"/> the library defines.
    /// </summary>
    private static IEnumerable<TestCaseData> KernelMethods()
    {
        var assembly = typeof(KernelSet).Assembly;
        var summands = assembly.GetTypes().Where(t => t.IsValueType && typeof(ISummand).IsAssignableFrom(t)).ToArray();
        foreach (var type in assembly.GetTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static)
                         .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal)))
            {
                if (method.IsGenericMethodDefinition)
                {
                    foreach (var summand in summands)
                        yield return Case(type, method.MakeGenericMethod(summand), $"{method.Name}<{summand.Name}>");
                }
                else
                {
                    yield return Case(type, method, method.Name);
                }
            }
        }
    }

    private static TestCaseData Case(Type type, MethodInfo method, string name) =>
        new TestCaseData(method).SetArgDisplayNames($"{type.Name}.{name}");

    [Test]
    public void TheCatalogFindsTheKernels() =>
        Assert.That(KernelMethods().Count(), Is.GreaterThanOrEqualTo(20), "kernel discovery found too few kernels");

    private static EntryPointDescription EntryPoint(MethodInfo method)
    {
        // Our convention: an implicitly grouped kernel takes an Index1D first; an explicitly grouped
        // one (shared memory, barriers) takes no index and reads Grid/Group instead.
        var parameters = method.GetParameters();
        return parameters.Length > 0 && parameters[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
    }

    [TestCaseSource(nameof(KernelMethods))]
    public void CompilesToPtxForHopper(MethodInfo kernel)
    {
        // A fresh context per compile: a failed compile leaves a context unusable.
        using var context = Context.Create(builder => builder.EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, nvvmAPI: null);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPoint(kernel), KernelSpecialization.Empty);
        Assert.That(compiled.PTXAssembly, Does.Contain(".entry"), "no PTX entry point was generated");
    }

    [Test]
    public void TheTiledConvolutionUsesSharedMemoryAndBarriersInPtx()
    {
        using var context = Context.Create(builder => builder.EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, nvvmAPI: null);
        var method = typeof(Conv2d).GetMethod(nameof(Conv2d.TiledKernel))!;
        string ptx = ((PTXCompiledKernel)backend.Compile(EntryPoint(method), KernelSpecialization.Empty)).PTXAssembly;
        // The tiles live in shared memory and the steps are separated by barriers. (The multiply-adds
        // come out as mul.f32 + add.f32 without a rounding modifier, which the driver's ptxas may
        // contract into FMAs.)
        Assert.That(ptx, Does.Contain(".shared .align 4 .b8").And.Contain("ld.shared.f32").And.Contain("bar.sync"));
    }

    [TestCaseSource(nameof(KernelMethods))]
    public void CompilesToOpenCL20(MethodInfo kernel)
    {
        using var context = Context.Create(builder => builder.EnableAlgorithms());
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
            int64_Atomics: false, subGroups: false);
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.AMD, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)backend.Compile(EntryPoint(kernel), KernelSpecialization.Empty);
        Assert.That(compiled.Source, Does.Contain("kernel void"), "no OpenCL kernel was generated");
    }
}
