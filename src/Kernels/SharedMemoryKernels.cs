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
/// <para>Why: ILGPU 1.5.3's OpenCL C has two faults for such kernels, and ILGPU has no switch for either.
/// (1) It writes every <c>Group.Barrier()</c> as <c>work_group_barrier(CLK_GLOBAL_MEM_FENCE)</c> (and
/// <c>MemoryFence.GroupLevel()</c> as the same barrier with <c>memory_scope_work_group</c>). By the OpenCL
/// specification such a barrier orders global memory only, so the <c>__local</c> tiles one work-item
/// writes before it are not guaranteed visible to the others after it; drivers that take the flag at
/// its word (AMD, Intel, Apple have given wrong results in other projects for this) would make the
/// tiled kernels silently wrong. (2) It keeps the pointer to dynamic shared memory in a program-scope
/// variable (<c>local float* shared_var_N;</c> and its length <c>int shared_var_len_N;</c>, declared
/// outside the kernel and assigned inside it). A program-scope variable lives in global memory, one
/// object for every work-group of every launch: each group writes its own local memory's address into
/// it and reads back whichever group wrote last, so groups that run at once use each other's scratch.
/// PoCL, which runs work-groups on several threads each with its own local memory, showed it: the TF32
/// emulation (the one user of dynamic shared memory) was wrong in 3 of 10 test runs with 2 threads and
/// 14 of 24 with 8.</para>
/// <para>How: on an OpenCL accelerator the kernel is compiled by the accelerator's own backend, exactly
/// as ILGPU's <c>LoadStreamKernel</c> would; its OpenCL C is corrected (<see cref="Corrected(string, string)"/>:
/// the barriers get <c>CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE</c>, the global fence ILGPU wrote staying
/// for a kernel that also exchanges data through global memory within a group; the shared-memory
/// variables move into the kernel's body, where each work-item has its own), and the corrected kernel
/// is loaded through the accelerator's API for compiled kernels (one internal ILGPU property is read
/// for it). If ILGPU's text ever changes shape (the expected barrier not found, a barrier left without
/// a local fence, a program-scope variable left, or a function beside the kernel that could read a
/// moved variable), loading throws instead of running wrong. Every other accelerator (CUDA's
/// <c>bar.sync</c> orders shared memory and its dynamic shared memory is a per-block symbol; the CPU's
/// barriers are thread barriers) loads as ILGPU does.</para>
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
    /// A program-scope declaration of a shared-memory variable as ILGPU 1.5.3 writes it, one a line:
    /// <c>local float* shared_var_N;</c> (the allocation's address; any element type) and, for a dynamic
    /// allocation, <c>int shared_var_len_N;</c> (its length). Group 1: the declaration without the line break.
    /// </summary>
    private static readonly Regex SharedMemoryVariable = new(
        @"^((?:local [\w ]+\*\s*shared_var_\d+|\w+ shared_var_len_\d+)\s*;)[ \t]*\r?\n", RegexOptions.Multiline);

    /// <summary>The kernel's head up to the opening brace of its body (parameters hold no parentheses).</summary>
    private static readonly Regex KernelBody = new(@"\bkernel\s+void\s+\w+\s*\([^()]*\)\s*\{");

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
        var launch = LoadCorrected<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>>(
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
        var launch = LoadCorrected<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>>(
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
        var launch = LoadCorrected<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7>>(
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
        var launch = LoadCorrected<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>>(
            accelerator, kernel.Method);
        return (config, a, b, c, d, e, f, g, h) => launch(accelerator.DefaultStream, config, a, b, c, d, e, f, g, h);
    }

    /// <summary>
    /// What ILGPU's <c>LoadStreamKernel</c> does for an explicitly grouped kernel (compile, load the
    /// compiled kernel, make its launcher), with <see cref="CompileCorrected"/> as the compile step.
    /// </summary>
    private static TLauncher LoadCorrected<TLauncher>(Accelerator accelerator, MethodInfo kernel)
        where TLauncher : Delegate
    {
        var backend = (CLBackend)accelerator.GetBackend();
        // The kernel is owned by the accelerator, which disposes it with itself (as ILGPU's cached kernels).
        var loaded = accelerator.LoadKernel(CompileCorrected(backend, kernel));
        return loaded.CreateLauncherDelegate<TLauncher>();
    }

    /// <summary>
    /// The kernel exactly as an OpenCL accelerator loads it: compiled by <paramref name="backend"/>,
    /// then <see cref="Corrected(CLCompiledKernel)"/>. Needs no device (a backend can be built without one).
    /// </summary>
    /// <param name="backend">An OpenCL backend: the accelerator's, or one made for a test.</param>
    /// <param name="kernel">The explicitly grouped kernel method.</param>
    public static CLCompiledKernel CompileCorrected(CLBackend backend, MethodInfo kernel)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        return Corrected((CLCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty));
    }

    /// <summary>
    /// The same compiled kernel with its source corrected by <see cref="Corrected(string, string)"/>.
    /// </summary>
    /// <param name="compiled">A kernel as ILGPU's OpenCL backend compiled it.</param>
    /// <exception cref="InvalidOperationException">ILGPU's output is not what the corrections expect.</exception>
    public static CLCompiledKernel Corrected(CLCompiledKernel compiled)
    {
        ArgumentNullException.ThrowIfNull(compiled);
        if (EntryPointProperty?.GetValue(compiled) is not SeparateViewEntryPoint entryPoint)
            throw new InvalidOperationException("ILGPU's CLCompiledKernel no longer has the internal EntryPoint " +
                $"property that {nameof(SharedMemoryKernels)} reads; re-check the corrections against it.");
        return new CLCompiledKernel(compiled.Context, entryPoint, compiled.Info,
            Corrected(compiled.Source, compiled.Name), compiled.CVersion);
    }

    /// <summary>
    /// OpenCL C as ILGPU 1.5.3 writes it for a shared-memory kernel, corrected (see the class remarks):
    /// <see cref="WithLocalFences"/>, then <see cref="WithKernelScopeSharedMemory"/>; then checked to have no
    /// program-scope variable left.
    /// </summary>
    /// <param name="source">OpenCL C as ILGPU 1.5.3 writes it.</param>
    /// <param name="kernelName">The kernel's name, for the error message.</param>
    /// <exception cref="InvalidOperationException">ILGPU's output changed shape; see the class remarks.</exception>
    public static string Corrected(string source, string kernelName)
    {
        string corrected = WithKernelScopeSharedMemory(WithLocalFences(source, kernelName), kernelName);
        var variables = ProgramScopeVariables(corrected);
        if (variables.Count > 0)
            throw ChangedShape(kernelName, $"still has a program-scope variable ('{variables[0]}'), which every " +
                "work-group of a launch would share");
        return corrected;
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
            throw ChangedShape(kernelName, "has no 'work_group_barrier ( CLK_GLOBAL_MEM_FENCE' (what ILGPU 1.5.3 " +
                "writes for Group.Barrier())");
        var unfenced = BarriersWithoutLocalFence(corrected);
        if (unfenced.Count > 0)
            throw ChangedShape(kernelName, $"still has a barrier without a local-memory fence ('{unfenced[0]}')");
        return corrected;
    }

    /// <summary>
    /// OpenCL C with ILGPU's program-scope shared-memory variables (<c>local float* shared_var_N;</c>,
    /// <c>int shared_var_len_N;</c>) declared at the top of the kernel's body instead, each declaration
    /// moved as it is; the statements that assign and read them stay where they are. The kernel must be
    /// the source's only function (ILGPU writes these variables at program scope so that other functions
    /// can reach them; at the project's optimisation level every call is inlined). A source without such
    /// variables is returned unchanged.
    /// </summary>
    /// <param name="source">OpenCL C as ILGPU 1.5.3 writes it.</param>
    /// <param name="kernelName">The kernel's name, for the error message.</param>
    /// <exception cref="InvalidOperationException">The source has another function beside the kernel, or
    /// no kernel body to move the variables into.</exception>
    public static string WithKernelScopeSharedMemory(string source, string kernelName)
    {
        ArgumentNullException.ThrowIfNull(source);
        var declarations = SharedMemoryVariable.Matches(source);
        if (declarations.Count == 0) return source;
        var functions = ProgramScopeFunctions(source);
        if (functions.Count != 1)
            throw ChangedShape(kernelName, $"has {functions.Count} functions ({string.Join(", ", functions)}) " +
                "where the kernel alone was expected, so its shared-memory variables cannot move into the kernel");
        string withoutDeclarations = SharedMemoryVariable.Replace(source, "");
        var body = KernelBody.Match(withoutDeclarations);
        if (!body.Success)
            throw ChangedShape(kernelName, "has no 'kernel void NAME(...) {' to move the shared-memory variables into");
        string moved = string.Concat(declarations.Select(d => "\n\t" + d.Groups[1].Value));
        return withoutDeclarations.Insert(body.Index + body.Length, moved);
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

    /// <summary>
    /// The program-scope variables of an OpenCL C source: every declaration outside a function that is
    /// neither a type (<c>typedef</c>, <c>struct</c>/<c>union</c>/<c>enum</c>) nor a function prototype,
    /// e.g. <c>local float* shared_var_7;</c> or <c>constant float table[2] = {1, 2};</c>. In OpenCL C 2.0
    /// such a variable is one object for the whole program, shared by every work-group of every launch.
    /// </summary>
    /// <param name="source">OpenCL C.</param>
    public static IReadOnlyList<string> ProgramScopeVariables(string source) =>
        [.. TopLevelDeclarations(source).Where(d => d.Kind == TopLevel.Variable).Select(d => d.Text)];

    /// <summary>The names of the functions an OpenCL C source defines (kernels included).</summary>
    /// <param name="source">OpenCL C.</param>
    public static IReadOnlyList<string> ProgramScopeFunctions(string source) =>
        [.. TopLevelDeclarations(source).Where(d => d.Kind == TopLevel.Function)
            .Select(d => FunctionName.Match(d.Text) is { Success: true } m ? m.Groups[1].Value : d.Text)];

    private enum TopLevel { Type, Prototype, Function, Variable }

    /// <summary>The name before a function's parameter list.</summary>
    private static readonly Regex FunctionName = new(@"(\w+)\s*\(");

    /// <summary>
    /// The declarations at program scope, each with its text (a function's or a struct's body written
    /// <c>{...}</c>), in order. Comments and preprocessor lines are skipped, string and character
    /// literals read over; enough C for the OpenCL ILGPU writes, and for a person's hand-written test.
    /// </summary>
    private static List<(TopLevel Kind, string Text)> TopLevelDeclarations(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var declarations = new List<(TopLevel, string)>();
        var text = new System.Text.StringBuilder(); // the current declaration, bodies elided
        int depth = 0;
        bool functionBody = false;                  // the brace at depth 0 opened a function's body
        bool lineStart = true;
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            char next = i + 1 < source.Length ? source[i + 1] : '\0';
            if ((c == '/' && next == '/') || (lineStart && c == '#'))
            {
                while (i + 1 < source.Length && source[i + 1] != '\n') i++;
                continue;
            }
            if (c == '/' && next == '*')
            {
                int end = source.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? source.Length : end + 1;
                continue;
            }
            if (!char.IsWhiteSpace(c)) lineStart = false;
            else if (c == '\n') lineStart = true;
            if (c is '"' or '\'')
            {
                int start = i;
                for (i++; i < source.Length && source[i] != c; i++)
                    if (source[i] == '\\') i++;
                if (depth == 0) text.Append(source, start, Math.Min(i, source.Length - 1) - start + 1);
                continue;
            }
            if (c == '{')
            {
                if (depth++ == 0)
                {
                    string head = text.ToString().TrimEnd();
                    // A brace after "(...)" opens a function's body; after "=" an initializer; else a struct's.
                    functionBody = head.EndsWith(')') && !head.Contains('=', StringComparison.Ordinal);
                    text.Append("{...}");
                }
                continue;
            }
            if (c == '}')
            {
                depth = Math.Max(0, depth - 1);
                if (depth == 0 && functionBody)
                {
                    declarations.Add((TopLevel.Function, Normalized(text)));
                    text.Clear();
                    functionBody = false;
                }
                continue;
            }
            if (depth > 0) continue;
            if (c == ';')
            {
                string declaration = Normalized(text);
                if (declaration.Length > 0) declarations.Add((Classify(declaration), declaration + ";"));
                text.Clear();
                continue;
            }
            text.Append(char.IsWhiteSpace(c) ? ' ' : c);
        }
        return declarations;
    }

    private static string Normalized(System.Text.StringBuilder text) =>
        Regex.Replace(text.ToString(), @"\s+", " ").Trim();

    /// <summary>What a declaration ended by ';' at program scope declares.</summary>
    private static TopLevel Classify(string declaration) =>
        declaration.StartsWith("typedef ", StringComparison.Ordinal)
        || Regex.IsMatch(declaration, @"^(?:struct|union|enum)\s+\w+\s*(?:\{\.\.\.\})?$")
            ? TopLevel.Type
            : declaration.EndsWith(')') && !declaration.Contains('=', StringComparison.Ordinal)
                ? TopLevel.Prototype
                : TopLevel.Variable;

    private static InvalidOperationException ChangedShape(string kernelName, string what) =>
        new($"The OpenCL C of shared-memory kernel {kernelName} {what}: ILGPU's output changed shape; " +
            $"re-check {nameof(SharedMemoryKernels)} against it.");
}
