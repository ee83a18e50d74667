using System.Globalization;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>ilgpu-style devices</c>: the accelerators ILGPU sees, numbered as <c>--device N</c> takes them.
/// </summary>
internal static class DeviceList
{
    public static int Print(TextWriter output)
    {
        using var context = Devices.CreateContext();
        var rows = context.Devices.Select((d, i) => new[]
        {
            i.ToString(CultureInfo.InvariantCulture),
            d.AcceleratorType.ToString(),
            d.Name.Trim(),
            // The CPU accelerator reports no real size (long.MaxValue): it uses host memory.
            d.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU ? "host memory" : FormatBytes(d.MemorySize),
            d.NumMultiprocessors.ToString(CultureInfo.InvariantCulture),
            d.MaxNumThreadsPerGroup.ToString(CultureInfo.InvariantCulture),
        }).ToList();
        TextTable.Write(output, ["#", "type", "name", "memory", "compute units", "max group"], rows);
        output.WriteLine($"'--device auto' picks: {Devices.Select(context, "auto").Name.Trim()}");
        output.WriteLine($"The CPU device's host code runs at {CpuVector.Describe()}.");
        // ILGPU leaves out, without a word, the OpenCL devices it cannot use: say which and why.
        var openCL = OpenCLSupport.Describe(OpenCLSupport.ReportedDevices()).ToList();
        if (openCL.Count == 0) output.WriteLine("OpenCL: no OpenCL driver reports a device");
        foreach (string line in openCL) output.WriteLine(line);
        return 0;
    }

    /// <summary>Bytes in binary units, e.g. <c>79.6 GiB</c>.</summary>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }
}
