using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Loads the kernels that share data through shared memory (explicitly grouped, with
/// <c>Group.Barrier()</c>). Every such kernel of the library is loaded here, and only here.
/// </summary>
/// <remarks>
/// <para>Why: ILGPU 1.5.3's OpenCL backend writes every <c>Group.Barrier()</c> as
/// <c>work_group_barrier(CLK_GLOBAL_MEM_FENCE)</c> (and <c>MemoryFence.GroupLevel()</c> as the same
/// barrier with <c>memory_scope_work_group</c>). By the OpenCL specification such a barrier orders
/// global memory only, so the <c>__local</c> tiles one work-item writes before it are not guaranteed
/// visible to the others after it; drivers that take the flag at its word (AMD, Intel, Apple have
/// given wrong results in other projects for this) would make the tiled kernels silently wrong.
/// ILGPU has no switch for the flags.</para>
/// <para>How: on an OpenCL accelerator the kernel is compiled by the accelerator's own backend, exactly
/// as ILGPU's <c>LoadStreamKernel</c> would, the barriers of its OpenCL C get
/// <c>CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE</c> (the global fence ILGPU wrote stays, for a kernel
/// that also exchanges data through global memory within a group), and the corrected kernel is loaded
/// through the accelerator's API for compiled kernels (one internal ILGPU property is read for it).
/// If ILGPU's text ever changes shape (the expected barrier not found, or any barrier left without a
/// local fence), loading throws instead of running unfenced. Every other accelerator
/// (CUDA's <c>bar.sync</c> orders shared memory; the CPU's barriers are thread barriers) loads as
/// ILGPU does.</para>
/// </remarks>
public static class SharedMemoryKernels
{
    /// <summary>
    /// What ILGPU 1.5.3 writes for a group (or warp) barrier, <c>work_group_barrier ( CLK_GLOBAL_MEM_FENCE );</c>:
    /// the call up to its first flag (group 1), and that flag, a global fence.
    /// </summary>
    private static readonly Regex GlobalOnlyBarrier =
        new(@"(\b(?:work_group|sub_group)_barrier\s*\(\s*)CLK_GLOBAL_MEM_FENCE\b");

    /// <summary>
    /// Every barrier call of OpenCL C 2.0 (<c>barrier</c>, <c>work_group_barrier</c>,
    /// <c>sub_group_barrier</c>), with its arguments as group 1.
    /// </summary>
    private static readonly Regex AnyBarrier = new(@"\b(?:work_group_|sub_group_)?barrier\s*\(([^;]*?)\)\s*;");

    /// <summary>
    /// The one non-public member read: the entry point of a compiled kernel, needed to build the same
    /// kernel with another source (<see cref="CLCompiledKernel"/>'s constructor asks for it).
    /// </summary>
    private static readonly PropertyInfo? EntryPointProperty = typeof(CLCompiledKernel).GetProperty(
        "EntryPoint", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);

    /// <summary>Loads a shared-memory kernel of 5 parameters (see the class remarks).</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    /// <returns>A launcher on the accelerator's default stream, like ILGPU's <c>LoadStreamKernel</c>.</returns>
    public static Action<KernelConfig, T1, T2, T3, T4, T5> LoadSharedMemoryLauncher<T1, T2, T3, T4, T5>(
        this Accelerator accelerator, Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
    {
        if (accelerator is not CLAccelerator) return accelerator.LoadStreamKernel(kernel);
        var launch = LoadWithLocalFences<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>>(
            accelerator, kernel.Method);
        return (config, a, b, c, d, e) => launch(accelerator.DefaultStream, config, a, b, c, d, e);
    }

    /// <summary>Loads a shared-memory kernel of 6 parameters (see the class remarks).</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    /// <returns>A launcher on the accelerator's default stream, like ILGPU's <c>LoadStreamKernel</c>.</returns>
    public static Action<KernelConfig, T1, T2, T3, T4, T5, T6> LoadSharedMemoryLauncher<T1, T2, T3, T4, T5, T6>(
        this Accelerator accelerator, Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
    {
        if (accelerator is not CLAccelerator) return accelerator.LoadStreamKernel(kernel);
        var launch = LoadWithLocalFences<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>>(
            accelerator, kernel.Method);
        return (config, a, b, c, d, e, f) => launch(accelerator.DefaultStream, config, a, b, c, d, e, f);
    }

    /// <summary>Loads a shared-memory kernel of 7 parameters (see the class remarks).</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    /// <returns>A launcher on the accelerator's default stream, like ILGPU's <c>LoadStreamKernel</c>.</returns>
    public static Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7> LoadSharedMemoryLauncher<T1, T2, T3, T4, T5, T6, T7>(
        this Accelerator accelerator, Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct
    {
        if (accelerator is not CLAccelerator) return accelerator.LoadStreamKernel(kernel);
        var launch = LoadWithLocalFences<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7>>(
            accelerator, kernel.Method);
        return (config, a, b, c, d, e, f, g) => launch(accelerator.DefaultStream, config, a, b, c, d, e, f, g);
    }

    /// <summary>Loads a shared-memory kernel of 8 parameters (see the class remarks).</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    /// <returns>A launcher on the accelerator's default stream, like ILGPU's <c>LoadStreamKernel</c>.</returns>
    public static Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>
        LoadSharedMemoryLauncher<T1, T2, T3, T4, T5, T6, T7, T8>(
        this Accelerator accelerator, Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct
    {
        if (accelerator is not CLAccelerator) return accelerator.LoadStreamKernel(kernel);
        var launch = LoadWithLocalFences<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>>(
            accelerator, kernel.Method);
        return (config, a, b, c, d, e, f, g, h) => launch(accelerator.DefaultStream, config, a, b, c, d, e, f, g, h);
    }

    /// <summary>
    /// What ILGPU's <c>LoadStreamKernel</c> does for an explicitly grouped kernel (compile, load the
    /// compiled kernel, make its launcher), with <see cref="CompileWithLocalFences"/> as the compile step.
    /// </summary>
    private static TLauncher LoadWithLocalFences<TLauncher>(Accelerator accelerator, MethodInfo kernel)
        where TLauncher : Delegate
    {
        var backend = (CLBackend)accelerator.GetBackend();
        // The kernel is owned by the accelerator, which disposes it with itself (as ILGPU's cached kernels).
        var loaded = accelerator.LoadKernel(CompileWithLocalFences(backend, kernel));
        return loaded.CreateLauncherDelegate<TLauncher>();
    }

    /// <summary>
    /// The kernel exactly as an OpenCL accelerator loads it: compiled by <paramref name="backend"/>,
    /// then <see cref="WithLocalFences(CLCompiledKernel)"/>. Needs no device (a backend can be built
    /// without one).
    /// </summary>
    /// <param name="backend">An OpenCL backend: the accelerator's, or one made for a test.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    public static CLCompiledKernel CompileWithLocalFences(CLBackend backend, MethodInfo kernel)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        return WithLocalFences((CLCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty));
    }

    /// <summary>
    /// The same compiled kernel with its source corrected by <see cref="WithLocalFences(string, string)"/>.
    /// </summary>
    /// <param name="compiled">A kernel as ILGPU's OpenCL backend compiled it.</param>
    /// <exception cref="InvalidOperationException">ILGPU's output is not what this correction expects.</exception>
    public static CLCompiledKernel WithLocalFences(CLCompiledKernel compiled)
    {
        ArgumentNullException.ThrowIfNull(compiled);
        if (EntryPointProperty?.GetValue(compiled) is not SeparateViewEntryPoint entryPoint)
            throw new InvalidOperationException("ILGPU's CLCompiledKernel no longer has the internal EntryPoint " +
                $"property that {nameof(SharedMemoryKernels)} reads; re-check the barrier correction against it.");
        return new CLCompiledKernel(compiled.Context, entryPoint, compiled.Info,
            WithLocalFences(compiled.Source, compiled.Name), compiled.CVersion);
    }

    /// <summary>
    /// OpenCL C with every barrier that ILGPU wrote with a global fence only given a local fence too.
    /// </summary>
    /// <param name="source">OpenCL C as ILGPU 1.5.3 writes it.</param>
    /// <param name="kernelName">The kernel's name, for the error message.</param>
    /// <exception cref="InvalidOperationException">No barrier of the expected form was found, or a
    /// barrier is left without a local fence: ILGPU's output changed shape and this must be re-checked.</exception>
    public static string WithLocalFences(string source, string kernelName)
    {
        ArgumentNullException.ThrowIfNull(source);
        string corrected = GlobalOnlyBarrier.Replace(source, "${1}CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE");
        if (corrected == source)
            throw new InvalidOperationException($"The OpenCL C of shared-memory kernel {kernelName} has no " +
                "'work_group_barrier ( CLK_GLOBAL_MEM_FENCE' (what ILGPU 1.5.3 writes for Group.Barrier()): ILGPU's " +
                $"output changed shape; re-check {nameof(SharedMemoryKernels)} against it.");
        var unfenced = BarriersWithoutLocalFence(corrected);
        if (unfenced.Count > 0)
            throw new InvalidOperationException($"The OpenCL C of shared-memory kernel {kernelName} still has a " +
                $"barrier without a local-memory fence ('{unfenced[0]}'): ILGPU's output changed shape; re-check " +
                $"{nameof(SharedMemoryKernels)} against it.");
        return corrected;
    }

    /// <summary>Every barrier call in <paramref name="source"/> whose flags lack <c>CLK_LOCAL_MEM_FENCE</c>.</summary>
    /// <param name="source">OpenCL C.</param>
    public static IReadOnlyList<string> BarriersWithoutLocalFence(string source) =>
        [.. AnyBarrier.Matches(source)
            .Where(m => !m.Groups[1].Value.Contains("CLK_LOCAL_MEM_FENCE", StringComparison.Ordinal))
            .Select(m => m.Value)];

    /// <summary>The number of barrier calls in <paramref name="source"/>, whatever their flags.</summary>
    /// <param name="source">OpenCL C.</param>
    public static int CountBarriers(string source) => AnyBarrier.Count(source);
}
