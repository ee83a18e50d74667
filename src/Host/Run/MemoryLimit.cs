using System.Globalization;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuStyle.Host;

/// <summary>The device bytes a run may plan for, and where that figure came from (for the plan and errors).</summary>
/// <param name="Bytes">The limit.</param>
/// <param name="Source">What it is, for a reader: <c>--max-memory</c>, or the device's free memory less the
/// margin.</param>
internal sealed record MemoryLimit(long Bytes, string Source)
{
    /// <summary>
    /// The share of the free memory a run leaves alone when no <c>--max-memory</c> is given: the runtime, the
    /// kernels' modules and the driver's own allocations are not in the plan.
    /// </summary>
    public const double Margin = 0.1;

    /// <summary>The limit for messages: <c>74.5 GiB (--max-memory)</c>.</summary>
    public override string ToString() => $"{DeviceList.FormatBytes(Bytes)} ({Source})";

    /// <summary><c>--max-memory</c> when given, else <see cref="Default"/>.</summary>
    public static MemoryLimit Of(long? maxMemory, Accelerator accelerator) =>
        maxMemory is { } bytes
            ? new MemoryLimit(bytes, "--max-memory")
            : Default(accelerator);

    /// <summary>
    /// What the device has free, less <see cref="Margin"/>: a CUDA device's free memory as the driver reports it
    /// now (other processes' allocations excluded); an OpenCL device's global memory (ILGPU 1.5.3 has no free-memory
    /// query for OpenCL); on the CPU accelerator, whose buffers are host memory, the memory the operating system can
    /// still give this process.
    /// </summary>
    public static MemoryLimit Default(Accelerator accelerator)
    {
        var (free, what) = accelerator switch
        {
            CudaAccelerator cuda => (cuda.GetFreeMemory(), "free memory"),
            _ when accelerator.AcceleratorType == AcceleratorType.CPU =>
                (AvailableHostMemory(), "available host memory"),
            _ => (accelerator.MemorySize, "memory"),
        };
        long bytes = (long)(free * (1 - Margin));
        string percent = (Margin * 100).ToString("0", CultureInfo.InvariantCulture);
        return new MemoryLimit(bytes,
            $"{accelerator.AcceleratorType} '{accelerator.Name.Trim()}' {what} " +
            $"{DeviceList.FormatBytes(free)} less {percent}%");
    }

    /// <summary>
    /// Host memory this process can still use: Linux's <c>MemAvailable</c> (free memory plus what the kernel can
    /// reclaim from caches), capped by the runtime's limit (a container's, or the machine's total).
    /// </summary>
    private static long AvailableHostMemory()
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        const string MemInfo = "/proc/meminfo";
        if (!File.Exists(MemInfo)) return total;
        foreach (string line in File.ReadLines(MemInfo))
        {
            // "MemAvailable:   23670368 kB"
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture,
                    out long kib))
                return Math.Min(total, kib * 1024);
        }
        return total;
    }
}
