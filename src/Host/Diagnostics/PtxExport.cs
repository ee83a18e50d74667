using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>ilgpu-style ptx</c>: writes the PTX that ILGPU generates for the project's kernels, exactly
/// as a CUDA device would receive it, one <c>NAME.ptx</c> per kernel, without a GPU. For readers
/// who want to see what their C# became, and for NVIDIA's <c>ptxas -v</c> (registers, spills,
/// local memory) without a GPU.
/// </summary>
internal static class PtxExport
{
    public static int Run(TextWriter output, string? kernelName, string folder)
    {
        var kernels = kernelName is null ? KernelCatalog.All : KernelCatalog.Find(kernelName);
        if (kernels.Count == 0)
        {
            string names = string.Join(", ", KernelCatalog.All.Select(k => k.Name));
            throw new UsageException($"No kernel '{kernelName}': use one of {names}.");
        }
        if (File.Exists(folder))
            throw new UsageException($"--out {folder} is a file: give a folder (it is created if missing).");

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
        return 0;
    }
}
