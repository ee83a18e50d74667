using System.Globalization;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Runtime;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime.OpenCL;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Every kernel's OpenCL C as an OpenCL accelerator loads it, without an OpenCL device (ILGPU's backend is
/// built without one): no program-scope variable (one object shared by every work-group of a launch),
/// and no int constant written as its unsigned bits. The TF32 kernel's dynamic shared memory, which
/// ILGPU 1.5.3 reaches through a program-scope pointer, is checked before and after the correction.
/// </summary>
public sealed class OpenCLSourceTests
{
    private static IEnumerable<TestCaseData> AllKernels() =>
        KernelCatalog.All.Select(k => new TestCaseData(k).SetArgDisplayNames(k.Name));

    /// <summary>The shared-memory kernels that use dynamic shared memory (<c>SharedMemory.GetDynamic</c>).</summary>
    private static IEnumerable<TestCaseData> DynamicSharedMemoryKernels() =>
        KernelCatalog.All.Where(k => k.EntryPoint.IndexType == IndexType.KernelConfig && Compile(k).Unmodified.Contains(
                "dynamic_shared_memory", StringComparison.Ordinal))
            .Select(k => new TestCaseData(k).SetArgDisplayNames(k.Name));

    /// <summary>
    /// A kernel's OpenCL C as ILGPU writes it, and as the project loads it (corrected by
    /// <see cref="SharedMemoryKernels"/> when explicitly grouped; as written otherwise, which is how
    /// ILGPU's own loaders load the implicitly grouped ones), from one compile (labels differ between compiles).
    /// </summary>
    private static (string Unmodified, string Loaded) Compile(KernelMethod kernel)
    {
        using var context = Context.Create(builder => builder.EnableAlgorithms().Optimize(Devices.Optimization));
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
            int64_Atomics: false, subGroups: false);
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.AMD, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)backend.Compile(kernel.EntryPoint, KernelSpecialization.Empty);
        string loaded = kernel.EntryPoint.IndexType == IndexType.KernelConfig
            ? SharedMemoryKernels.Corrected(compiled).Source
            : compiled.Source;
        return (compiled.Source, loaded);
    }

    [Test]
    public void SomeKernelUsesDynamicSharedMemory() =>
        Assert.That(DynamicSharedMemoryKernels().Select(c => ((KernelMethod)c.Arguments[0]!).Name),
            Does.Contain("Conv2d.Tf32Kernel"));

    [TestCaseSource(nameof(AllKernels))]
    public void NoKernelHasAProgramScopeVariableAsLoaded(KernelMethod kernel)
    {
        var (_, loaded) = Compile(kernel);
        Assert.That(SharedMemoryKernels.ProgramScopeVariables(loaded), Is.Empty,
            "a program-scope variable is one object for the whole program, shared by every work-group");
        Assert.That(SharedMemoryKernels.ProgramScopeFunctions(loaded), Has.Count.EqualTo(1), "functions");
    }

    /// <summary>
    /// ILGPU 1.5.3 writes an int constant as its unsigned bits (-1 as 4294967295), and an OpenCL compiler
    /// then warns "implicit conversion from 'long' to 'int' changes value from 4294967295 to -1" (PoCL
    /// printed it for three kernels). The value is still -1 in two's complement, but the source no longer
    /// says what it means: such a kernel is written to need no negative constant. An explicit cast,
    /// <c>(int)4294959104</c> for a bit mask, states its intent and is allowed.
    /// </summary>
    [TestCaseSource(nameof(AllKernels))]
    public void NoKernelWritesANegativeIntAsItsUnsignedBits(KernelMethod kernel)
    {
        var (_, loaded) = Compile(kernel);
        var implicitOutOfRange = Regex.Matches(loaded, @"(?<![\w.)]\s*)\d{10,}(?![\w.])")
            .Where(m => ulong.Parse(m.Value, CultureInfo.InvariantCulture) > int.MaxValue)
            .Select(m => loaded[loaded.LastIndexOf('\n', m.Index)..loaded.IndexOf('\n', m.Index)].Trim())
            .ToList();
        Assert.That(implicitOutOfRange, Is.Empty, "literals beyond int, without a cast");
    }

    /// <summary>
    /// The race PoCL found: ILGPU keeps the pointer to dynamic shared memory (and its length) in
    /// program-scope variables, which this test sees in ILGPU's unmodified output; the corrected source
    /// declares the same variables inside the kernel's body and differs in nothing else (fences aside).
    /// </summary>
    [TestCaseSource(nameof(DynamicSharedMemoryKernels))]
    public void TheDynamicSharedMemoryPointerIsKernelScopeAsLoaded(KernelMethod kernel)
    {
        var (unmodified, loaded) = Compile(kernel);
        var programScope = SharedMemoryKernels.ProgramScopeVariables(unmodified);
        Assert.That(programScope, Has.Some.Match(@"^local float\* shared_var_\d+;$"), "ILGPU's pointer");
        Assert.That(programScope, Has.Some.Match(@"^int shared_var_len_\d+;$"), "ILGPU's length");
        Assert.That(SharedMemoryKernels.ProgramScopeVariables(loaded), Is.Empty);

        // The corrected kernel opens with the declarations, and without them it is ILGPU's (fences aside).
        string fenced = SharedMemoryKernels.WithLocalFences(unmodified, kernel.Name);
        var body = Regex.Match(loaded, @"\bkernel void \w+\([^()]*\)\s*\{((?:\n\t[^\n]*;)+)");
        Assert.That(body.Success, Is.True, "no declarations at the top of the kernel's body");
        var moved = body.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim())
            .Take(programScope.Count).ToList();
        Assert.That(moved, Is.EqualTo(programScope));
        string WithoutDeclarations(string source) =>
            programScope.Aggregate(source, (s, d) => Regex.Replace(s, @"^\t?" + Regex.Escape(d) + @"\n", "",
                RegexOptions.Multiline));
        Assert.That(WithoutDeclarations(loaded), Is.EqualTo(WithoutDeclarations(fenced)));
    }

    [Test]
    public void TheScanTellsVariablesFromTypesPrototypesAndFunctions()
    {
        const string source = """
            #pragma OPENCL EXTENSION cl_khr_fp64 : enable
            // Generated { by a tool; }
            typedef global float* type_1;
            struct type_2;
            struct type_2 { int field_0; };
            float helper(float x);
            local float* shared_var_3;
            int shared_var_len_3;
            constant float table[2] = { 1.0f, 2.0f };
            /* a comment ; with { braces */
            float helper(float x) { return x * 2.0f; }
            kernel void Kernel_K(global float* view_0, int var0)
            {
                local float var1[4];
                if (var0 > 0) { view_0[0] = table[0]; }
            }
            """;
        Assert.That(SharedMemoryKernels.ProgramScopeVariables(source), Is.EqualTo(new[]
        {
            "local float* shared_var_3;", "int shared_var_len_3;", "constant float table[2] = {...};",
        }));
        Assert.That(SharedMemoryKernels.ProgramScopeFunctions(source), Is.EqualTo(new[] { "helper", "Kernel_K" }));
    }

    [Test]
    public void TheMoveTakesTheVariablesIntoTheKernelsBody()
    {
        const string ilgpu = "struct type_1 { int field_0; };\n\nlocal float* shared_var_7;\nint shared_var_len_7;\n" +
                             "kernel void Kernel_K(\n\tlocal char* dynamic_shared_memory,\n\tint var0)\n{\n" +
                             "\tshared_var_7 = (local float*) dynamic_shared_memory ;\n}\n";
        Assert.That(SharedMemoryKernels.WithKernelScopeSharedMemory(ilgpu, "K"), Is.EqualTo(
            "struct type_1 { int field_0; };\n\n" +
            "kernel void Kernel_K(\n\tlocal char* dynamic_shared_memory,\n\tint var0)\n{" +
            "\n\tlocal float* shared_var_7;\n\tint shared_var_len_7;\n" +
            "\tshared_var_7 = (local float*) dynamic_shared_memory ;\n}\n"));
        // Nothing to move: unchanged.
        const string plain = "kernel void Kernel_K(int var0)\n{\n}\n";
        Assert.That(SharedMemoryKernels.WithKernelScopeSharedMemory(plain, "K"), Is.SameAs(plain));
    }

    [Test]
    public void TheMoveFailsLoudlyWhenAnotherFunctionCouldReadTheVariables()
    {
        const string twoFunctions = "local float* shared_var_7;\n" +
                                    "float f() { return shared_var_7[0]; }\n" +
                                    "kernel void Kernel_K(int var0)\n{\n}\n";
        Assert.That(() => SharedMemoryKernels.WithKernelScopeSharedMemory(twoFunctions, "K"),
            Throws.InvalidOperationException.With.Message.Contains("changed shape")
                .And.Message.Contains("f, Kernel_K"));
        // A program-scope variable the move does not know is refused when the kernel loads.
        const string unknown = "kernel void Kernel_K(int var0)\n{\n" +
                               "\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );\n}\nglobal int counter;\n";
        Assert.That(() => SharedMemoryKernels.Corrected(unknown, "K"),
            Throws.InvalidOperationException.With.Message.Contains("'global int counter;'"));
    }
}
