using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The shared-memory kernels' barriers on OpenCL (<see cref="SharedMemoryKernels"/>), without an OpenCL
/// device: ILGPU's OpenCL backend is built without one, and the OpenCL C it writes is checked as the
/// project loads it, against ILGPU's unmodified output, and (where a clang is installed) by a compiler.
/// </summary>
public sealed class OpenCLBarrierTests
{
    /// <summary>
    /// The library's shared-memory kernels: by the project's convention the explicitly grouped ones
    /// (public static, named "...Kernel", no <see cref="Index1D"/> first; see BackendCompileTests).
    /// </summary>
    private static IEnumerable<MethodInfo> SharedMemoryKernelMethods() =>
        typeof(KernelSet).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal) && !m.IsGenericMethodDefinition)
            .Where(m => m.GetParameters() is var p && (p.Length == 0 || p[0].ParameterType != typeof(Index1D)))
            .OrderBy(m => $"{m.DeclaringType!.Name}.{m.Name}", StringComparer.Ordinal);

    private static IEnumerable<TestCaseData> SharedMemoryKernelCases() =>
        SharedMemoryKernelMethods()
            .Select(m => new TestCaseData(m).SetArgDisplayNames($"{m.DeclaringType!.Name}.{m.Name}"));

    /// <summary>An OpenCL C 2.0 backend like an AMD GPU's, on a fresh context (a failed compile spoils one) at the
    /// project's optimisation level.</summary>
    private static (Context Context, CLBackend Backend) DevicelessBackend()
    {
        var context = Context.Create(builder => builder.EnableAlgorithms().Optimize(Devices.Optimization));
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
            int64_Atomics: false, subGroups: false);
        return (context, new CLBackend(context, capabilities, CLDeviceVendor.AMD, CLCVersion.CL20));
    }

    [Test]
    public void TheCatalogFindsEveryTiledKernel()
    {
        var names = SharedMemoryKernelMethods().Select(m => $"{m.DeclaringType!.Name}.{m.Name}").ToList();
        Assert.That(names, Is.SupersetOf(new[]
        {
            "Conv2d.TiledKernel", "Conv2d.Tf32Kernel", "Gram.ForwardTiledKernel",
            "Gram.BackwardTiledKernel",
        }));
    }

    [TestCaseSource(nameof(SharedMemoryKernelCases))]
    public void EveryBarrierFencesLocalMemoryAsLoaded(MethodInfo kernel)
    {
        var (context, backend) = DevicelessBackend();
        using (context)
        using (backend)
        {
            var unmodified = (CLCompiledKernel)backend.Compile(
                EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
            var loaded = SharedMemoryKernels.CompileCorrected(backend, kernel);
            var corrected = SharedMemoryKernels.Corrected(unmodified);

            // The check catches ILGPU's own output: every barrier it writes has a global fence only.
            Assert.That(unmodified.Source, Does.Match(@"\blocal float \w+\["), "no shared-memory (local) array");
            int barriers = SharedMemoryKernels.CountBarriers(unmodified.Source);
            Assert.That(barriers, Is.GreaterThan(0), "a shared-memory kernel without barriers");
            Assert.That(SharedMemoryKernels.BarriersWithoutLocalFence(unmodified.Source), Has.Count.EqualTo(barriers),
                "ILGPU's unmodified OpenCL C was expected to fence global memory only");

            // As the project loads it: the same barriers, each with a local fence.
            Assert.That(SharedMemoryKernels.BarriersWithoutLocalFence(loaded.Source), Is.Empty);
            Assert.That(SharedMemoryKernels.CountBarriers(loaded.Source), Is.EqualTo(barriers));
            Assert.That((loaded.Name, loaded.CVersion, loaded.NumParameters),
                Is.EqualTo((unmodified.Name, unmodified.CVersion, unmodified.NumParameters)));

            // The fence correction changes the barriers' flags and nothing else; the whole correction is that,
            // then the shared-memory variables' move (OpenCLSourceTests), in the source and the kernel.
            // (Two compiles differ in their label numbers, so this compares one compile before and after.)
            string fenced = SharedMemoryKernels.WithLocalFences(unmodified.Source, unmodified.Name);
            Assert.That(fenced.Replace("CLK_LOCAL_MEM_FENCE | ", "", StringComparison.Ordinal),
                Is.EqualTo(unmodified.Source));
            Assert.That(corrected.Source,
                Is.EqualTo(SharedMemoryKernels.WithKernelScopeSharedMemory(fenced, unmodified.Name)));
            Assert.That((corrected.Name, corrected.CVersion, corrected.Info, corrected.Context),
                Is.EqualTo((unmodified.Name, unmodified.CVersion, unmodified.Info, unmodified.Context)));
        }
    }

    /// <summary>
    /// The loaded source compiled by clang's OpenCL C 2.0 front end to SPIR LLVM IR, where every barrier
    /// call carries the flags the compiler read: each must include <c>CLK_LOCAL_MEM_FENCE</c> (bit 1).
    /// </summary>
    [TestCaseSource(nameof(SharedMemoryKernelCases))]
    public void TheLoadedSourceCompilesWithClang(MethodInfo kernel)
    {
        string clang = Clang() ?? throw new IgnoreException(
            "no clang on PATH to compile OpenCL C (Debian: apt-get install clang)");
        var (context, backend) = DevicelessBackend();
        using (context)
        using (backend)
        {
            string source = SharedMemoryKernels.CompileCorrected(backend, kernel).Source;
            string file = Path.Combine(Path.GetTempPath(), $"ilgpustyle-{Guid.NewGuid():N}.cl");
            File.WriteAllText(file, source);
            try
            {
                var (exitCode, ir, errors) = Run(clang, ["-x", "cl", "-cl-std=CL2.0", "-Xclang",
                    "-finclude-default-header", "-target", "spir64", "-S", "-emit-llvm", "-o", "-", file]);
                Assert.That(exitCode, Is.Zero, $"clang rejected the OpenCL C of {kernel.Name}:\n{errors}");
                var flags = Regex.Matches(ir, @"@_Z18work_group_barrierj\(i32(?: noundef)? (\d+)\)")
                    .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
                Assert.That(flags, Is.Not.Empty, "no barrier in clang's IR");
                const int localMemFence = 1; // CLK_LOCAL_MEM_FENCE in clang's opencl-c-base.h
                Assert.That(flags, Has.All.Matches<int>(f => (f & localMemFence) != 0),
                    $"barrier flags {string.Join(", ", flags)}");
            }
            finally
            {
                File.Delete(file);
            }
        }
    }

    [Test]
    public void TheCorrectionFailsLoudlyWhenIlgpusOutputChangesShape()
    {
        // No barrier of the expected form at all.
        Assert.That(() => SharedMemoryKernels.WithLocalFences("kernel void k() { barrier(CLK_LOCAL_MEM_FENCE); }", "k"),
            Throws.InvalidOperationException.With.Message.Contains("changed shape"));
        // The expected form, but another barrier that the correction does not know.
        const string mixed =
            "kernel void k() { work_group_barrier(CLK_GLOBAL_MEM_FENCE); barrier(CLK_GLOBAL_MEM_FENCE); }";
        Assert.That(() => SharedMemoryKernels.WithLocalFences(mixed, "k"),
            Throws.InvalidOperationException.With.Message.Contains("barrier(CLK_GLOBAL_MEM_FENCE)"));
        // Group.Barrier()'s form, and MemoryFence.GroupLevel()'s, which keeps its scope.
        Assert.That(SharedMemoryKernels.WithLocalFences("\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );", "k"),
            Is.EqualTo("\t work_group_barrier ( CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE );"));
        Assert.That(SharedMemoryKernels.WithLocalFences(
                " work_group_barrier ( CLK_GLOBAL_MEM_FENCE, memory_scope_work_group );", "k"),
            Is.EqualTo(" work_group_barrier ( CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE, memory_scope_work_group );"));
    }

    /// <summary>
    /// Every op loads its shared-memory kernels through <see cref="SharedMemoryKernels"/>: outside it, no
    /// method of the library calls ILGPU's loaders for explicitly grouped kernels, and every method that
    /// makes a delegate of a shared-memory kernel calls <c>LoadSharedMemoryLauncher</c>. Read from the IL, so
    /// a new tiled kernel loaded the old way fails here.
    /// </summary>
    [Test]
    public void EveryOpLoadsItsSharedMemoryKernelsThroughTheLoader()
    {
        var sharedMemoryKernels = SharedMemoryKernelMethods().ToHashSet();
        var ilgpu = typeof(Accelerator).Assembly;
        var violations = new List<string>();
        var loadedThroughLoader = new HashSet<MethodInfo>();
        foreach (var type in typeof(KernelSet).Assembly.GetTypes().Where(t => t != typeof(SharedMemoryKernels)))
        {
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                     BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                var referenced = ReferencedMethods(method).ToList();
                string where = $"{type.Name}.{method.Name}";
                foreach (var callee in referenced.Where(c => c.DeclaringType?.Assembly == ilgpu
                             && c.Name is "LoadStreamKernel" or "LoadKernel"))
                    violations.Add($"{where} calls ILGPU's {callee.Name}");
                bool usesLoader = referenced.Any(c => c.DeclaringType == typeof(SharedMemoryKernels)
                    && c.Name == nameof(SharedMemoryKernels.LoadSharedMemoryLauncher));
                foreach (var kernel in referenced.OfType<MethodInfo>().Where(sharedMemoryKernels.Contains))
                {
                    if (usesLoader) loadedThroughLoader.Add(kernel);
                    else violations.Add($"{where} makes a delegate of {kernel.Name} without LoadSharedMemoryLauncher");
                }
            }
        }
        Assert.That(violations, Is.Empty);
        Assert.That(loadedThroughLoader, Is.EquivalentTo(sharedMemoryKernels),
            "shared-memory kernels loaded through the loader");
    }

    /// <summary>
    /// The methods a method's IL calls or takes the address of (call, callvirt, newobj, ldftn, ldvirtftn).
    /// </summary>
    private static IEnumerable<MethodBase> ReferencedMethods(MethodBase method)
    {
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        var typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int at = 0; at < il.Length;)
        {
            var opCode = il[at] == 0xFE ? TwoByteOpCodes[il[at + 1]] : OneByteOpCodes[il[at]];
            at += opCode.Size;
            if (opCode.OperandType == OperandType.InlineMethod)
                yield return method.Module.ResolveMethod(BitConverter.ToInt32(il, at), typeArguments, methodArguments)!;
            at += opCode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
                _ => 4,
            };
        }
    }

    private static readonly OpCode[] OneByteOpCodes = OpCodeTable(twoByte: false);
    private static readonly OpCode[] TwoByteOpCodes = OpCodeTable(twoByte: true);

    private static OpCode[] OpCodeTable(bool twoByte)
    {
        var table = new OpCode[256];
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var opCode = (OpCode)field.GetValue(null)!;
            if ((opCode.Size == 2) == twoByte) table[(ushort)opCode.Value & 0xFF] = opCode;
        }
        return table;
    }

    /// <summary>A clang on PATH (plain or versioned, as Debian installs it), or null.</summary>
    private static string? Clang()
    {
        string[] names = ["clang", .. Enumerable.Range(14, 8).Reverse().Select(v => $"clang-{v}")];
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator);
        return names.SelectMany(n => folders.Select(f => Path.Combine(f, n))).FirstOrDefault(File.Exists);
    }

    private static (int ExitCode, string Output, string Errors) Run(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, errors.Result);
    }
}
