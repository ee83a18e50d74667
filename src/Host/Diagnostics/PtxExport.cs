using System.Diagnostics;
using System.Text.RegularExpressions;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>ilgpu-style ptx</c>: writes the PTX that ILGPU generates for the project's kernels, exactly
/// as a CUDA device would receive it, one <c>NAME.ptx</c> per kernel, without a GPU. For readers
/// who want to see what their C# became, and for NVIDIA's <c>ptxas -v</c> (registers, spills,
/// local memory) without a GPU. With <c>--sass</c> also the machine code the GPU runs, <c>NAME.sass</c>: each PTX
/// assembled by NVIDIA's <c>ptxas</c> for sm_90 and disassembled by <c>cuobjdump</c> (or <c>nvdisasm</c>), when
/// those tools are found.
/// </summary>
internal static class PtxExport
{
    /// <summary>What <c>--sass</c> needs, found on the search path.</summary>
    /// <param name="Ptxas">NVIDIA's assembler.</param>
    /// <param name="Disassembler">cuobjdump or nvdisasm.</param>
    private sealed record SassTools(string Ptxas, string Disassembler);

    /// <summary>The architecture the SASS is for: the GPUs the project is measured on (H100, H200).</summary>
    private const string SassArchitecture = "sm_90";

    /// <param name="output">Where the written paths go.</param>
    /// <param name="kernelName">One kernel, or null for all.</param>
    /// <param name="folder">Where the files go.</param>
    /// <param name="sass">Also write each kernel's SASS.</param>
    /// <param name="searchPath">Where the NVIDIA tools are looked for (default: <c>$CUDA_HOME/bin</c>, then
    /// <c>PATH</c>); tests pass their own.</param>
    public static int Run(TextWriter output, string? kernelName, string folder, bool sass = false,
        string? searchPath = null)
    {
        var kernels = kernelName is null ? KernelCatalog.All : KernelCatalog.Find(kernelName);
        if (kernels.Count == 0)
        {
            string names = string.Join(", ", KernelCatalog.All.Select(k => k.Name));
            throw new UsageException($"No kernel '{kernelName}': use one of {names}.");
        }
        if (File.Exists(folder))
            throw new UsageException($"--out {folder} is a file: give a folder (it is created if missing).");
        // The tools before any compile, so a missing one is a one-line error with nothing written.
        var tools = sass ? FindTools(searchPath ?? DefaultSearchPath()) : null;

        // Compile every kernel before writing any file, so a failure leaves nothing half-written.
        var files = kernels.Select(k => (k.Name, Ptx: KernelCatalog.Ptx(k))).ToList();
        try
        {
            Directory.CreateDirectory(folder);
            foreach (var (name, ptx) in files)
            {
                string path = Path.Combine(folder, name + ".ptx");
                File.WriteAllText(path, ptx);
                output.WriteLine(path);
                if (tools is not null) output.WriteLine(WriteSass(tools, folder, name, ptx));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot write the PTX into {folder}: {e.Message} Give a writable --out folder.");
        }
        output.WriteLine($"{files.Count} kernel(s): PTX ISA 8.8 generated for sm_90 at ILGPU {Devices.Optimization}, " +
                         "as a CUDA device receives it; the files say '.target sm_80' because ILGPU 1.5.3 writes " +
                         "that for every architecture (the code needs nothing newer, and the driver compiles it for " +
                         "the GPU at hand). 'ptxas -arch=sm_90 -v FILE' shows registers, spills and local memory " +
                         "(a ptxas older than 12.9 needs the .version line lowered to what it accepts).");
        if (tools is not null)
        {
            output.WriteLine($"SASS for {SassArchitecture} by {tools.Ptxas} and {tools.Disassembler}: what the GPU " +
                             "runs. Read the inner loop (a BRA back to an earlier address): FFMA or HMMA should be " +
                             "most of it, with no LDL/STL (local memory) and no conversions between HMMAs " +
                             "(tools/ptx/sass-check.sh checks the fast kernels so).");
        }
        return 0;
    }

    /// <summary><c>$CUDA_HOME/bin</c> (or <c>$CUDA_PATH/bin</c>), then <c>PATH</c>.</summary>
    private static string DefaultSearchPath()
    {
        var folders = new List<string>();
        foreach (string variable in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } home)
                folders.Add(Path.Combine(home, "bin"));
        }
        folders.Add(Environment.GetEnvironmentVariable("PATH") ?? "");
        return string.Join(Path.PathSeparator, folders);
    }

    private static SassTools FindTools(string searchPath)
    {
        string? Find(string tool) => searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, OperatingSystem.IsWindows() ? tool + ".exe" : tool))
            .FirstOrDefault(File.Exists);
        string? ptxas = Find("ptxas");
        string? disassembler = Find("cuobjdump") ?? Find("nvdisasm");
        if (ptxas is null || disassembler is null)
        {
            throw new UsageException("ptx --sass needs NVIDIA's ptxas and cuobjdump (or nvdisasm), found in neither " +
                                     "$CUDA_HOME/bin nor PATH: install the CUDA toolkit (Debian: apt install " +
                                     "nvidia-cuda-toolkit from non-free), or run ../shared/ptx/check.sh once and " +
                                     "put its WORK/toolkit-*/bin on PATH.");
        }
        return new SassTools(ptxas, disassembler);
    }

    /// <summary>Assembles one kernel's PTX and writes its SASS beside it; returns the line to print. A ptxas older
    /// than the PTX's ISA 8.8 names the newest it accepts: the .version line is lowered to that and the PTX assembled
    /// again (ILGPU's code uses nothing newer, which the ptxas check confirms).</summary>
    private static string WriteSass(SassTools tools, string folder, string name, string ptx)
    {
        string work = Path.Combine(Path.GetTempPath(), $"ilgpu-style-sass-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            string source = Path.Combine(work, "kernel.ptx"), cubin = Path.Combine(work, "kernel.cubin");
            File.WriteAllText(source, ptx);
            var (code, text) = Tool(tools.Ptxas, $"-arch={SassArchitecture}", source, "-o", cubin);
            var newest = Regex.Match(text, @"current version is '([0-9.]+)'");
            if (code != 0 && newest.Success)
            {
                File.WriteAllText(source, Regex.Replace(ptx, @"^\.version [0-9.]+$", $".version {newest.Groups[1]}",
                    RegexOptions.Multiline));
                (code, text) = Tool(tools.Ptxas, $"-arch={SassArchitecture}", source, "-o", cubin);
            }
            if (code != 0)
                throw new RunFailedException($"ptxas rejected {name}: {FirstLine(text)}");
            bool cuobjdump = Path.GetFileNameWithoutExtension(tools.Disassembler) == "cuobjdump";
            var (disassembled, sass) = cuobjdump ? Tool(tools.Disassembler, "-sass", cubin) : Tool(tools.Disassembler,
                cubin);
            if (disassembled != 0)
                throw new RunFailedException($"{tools.Disassembler} failed on {name}: {FirstLine(sass)}");
            string path = Path.Combine(folder, name + ".sass");
            File.WriteAllText(path, sass);
            int Count(string pattern) => Regex.Matches(sass, $@"\b{pattern}\b").Count;
            return $"{path}: FFMA {Count("FFMA")}, HMMA {Count(@"HMMA")}, LDL/STL {Count("LDL") + Count("STL")}";
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Runs an NVIDIA tool; its exit code and its output and errors together.</summary>
    private static (int Code, string Text) Tool(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)
            ?? throw new RunFailedException($"could not start {tool}.");
        var errors = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, text + errors.GetAwaiter().GetResult());
    }

    private static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
        ?? "(no message)";
}
