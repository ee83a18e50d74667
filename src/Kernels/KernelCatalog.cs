using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuStyle.Kernels;

/// <summary>One device kernel of the library: its name (<c>Type.Method</c>) and its method.</summary>
/// <param name="Name"><c>Conv2d.TiledKernel</c>; a generic kernel once per summand,
/// <c>Reduction.PartialSumsKernel_AbsSummand</c>.</param>
/// <param name="Method">The kernel method, generic ones already instantiated.</param>
public sealed record KernelMethod(string Name, MethodInfo Method)
{
    /// <summary>
    /// The kernel's entry point by the library's convention: an implicitly grouped kernel takes an
    /// <see cref="Index1D"/> first; an explicitly grouped one (shared memory, barriers) takes no
    /// index and reads <c>Grid</c>/<c>Group</c> instead.
    /// </summary>
    public EntryPointDescription EntryPoint
    {
        get
        {
            var parameters = Method.GetParameters();
            return parameters.Length > 0 && parameters[0].ParameterType == typeof(Index1D)
                ? EntryPointDescription.FromImplicitlyGroupedKernel(Method)
                : EntryPointDescription.FromExplicitlyGroupedKernel(Method);
        }
    }
}

/// <summary>
/// Every device kernel of the library, and its PTX as the project's CUDA contexts generate it,
/// without a GPU: what the backend tests compile, what <c>ilgpu-style ptx</c> writes, and what
/// the workplace's ptxas check (<c>../shared/ptx/check.sh</c>) assembles (same names, same files).
/// </summary>
public static class KernelCatalog
{
    /// <summary>
    /// The kernels: every public static method whose name ends in "Kernel", generic ones
    /// instantiated with every <see cref="ISummand"/> of the library, ordered by type and method.
    /// </summary>
    public static IReadOnlyList<KernelMethod> All { get; } = Discover();

    /// <summary>The architecture PTX is generated for: Hopper (ILGPU 1.5.3 writes <c>.target sm_80</c>
    /// whatever it is given, which the driver compiles for the GPU at hand).</summary>
    public static CudaArchitecture Architecture { get; } = CudaArchitecture.SM_90;

    /// <summary>The kernels whose name is <paramref name="name"/>, also without its "Kernel" suffix
    /// (<c>Conv2d.Tiled</c>), or, for a generic kernel, every instantiation of it. Case-insensitive.</summary>
    public static IReadOnlyList<KernelMethod> Find(string name)
    {
        string wanted = name.Trim();
        bool Matches(string candidate) => candidate.Equals(wanted, StringComparison.OrdinalIgnoreCase)
            || candidate.Equals(wanted + "Kernel", StringComparison.OrdinalIgnoreCase);
        return All.Where(k => Matches(k.Name) || Matches(k.Name.Split('_')[0])).ToList();
    }

    /// <summary>
    /// The PTX of <paramref name="kernel"/> for <see cref="Architecture"/> with PTX ISA 8.8, at the
    /// optimisation level of the project's contexts (<see cref="Devices.Optimization"/>).
    /// </summary>
    /// <exception cref="InternalCompilerException">ILGPU cannot translate the kernel.</exception>
    public static string Ptx(KernelMethod kernel)
    {
        // A fresh context per compile: a failed compile leaves a context unusable.
        using var context = Context.Create(builder => builder.EnableAlgorithms().Optimize(Devices.Optimization));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(Architecture), Architecture,
            CudaInstructionSet.ISA_88, nvvmAPI: null);
        return ((PTXCompiledKernel)backend.Compile(kernel.EntryPoint, KernelSpecialization.Empty)).PTXAssembly;
    }

    private static List<KernelMethod> Discover()
    {
        var types = typeof(KernelCatalog).Assembly.GetTypes();
        var summands = types.Where(t => t.IsValueType && typeof(ISummand).IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        var kernels = new List<KernelMethod>();
        foreach (var type in types.OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static)
                         .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal)))
            {
                if (method.IsGenericMethodDefinition)
                {
                    foreach (var summand in summands)
                    {
                        string name = $"{type.Name}.{method.Name}_{summand.Name}";
                        kernels.Add(new(name, method.MakeGenericMethod(summand)));
                    }
                }
                else
                {
                    kernels.Add(new($"{type.Name}.{method.Name}", method));
                }
            }
        }
        return kernels;
    }
}
