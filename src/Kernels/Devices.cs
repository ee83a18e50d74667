using System.Globalization;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace IlgpuStyle.Kernels;

/// <summary>A device request that cannot be met; the message is one line that says what to do.</summary>
public sealed class DeviceSelectionException(string message) : Exception(message);

/// <summary>
/// Creating ILGPU contexts and choosing a device by name or index, shared by the console and the tests.
/// </summary>
public static class Devices
{
    /// <summary>The device names <see cref="Select"/> understands besides an index.</summary>
    public const string Choices = "auto, cpu, cuda, opencl or an index from 'ilgpu-style devices'";

    /// <summary>
    /// ILGPU's optimisation level for every kernel the project compiles: O2, not ILGPU's default O1.
    /// </summary>
    /// <remarks>
    /// At O1 every global access in PTX is generic (<c>ld</c>/<c>st</c>), and a generic address may
    /// point into local memory, so ptxas kept the TF32 kernel's <c>mma.sync</c> operands (ILGPU gives
    /// each inline-PTX operand a local slot) in memory: a 208-byte stack frame and 94 local loads and
    /// stores per step. O2 marks the kernels' parameters global: <c>LDG</c>/<c>STG</c> everywhere and
    /// no local memory in any kernel. ILGPU 1.5.3 offers no way to mark one access global in a kernel's
    /// C#. O2 also moves code more freely: see <see cref="TiledGemm.Multiply"/> for the shape of loop
    /// it needs. The figures: docs/PERFORMANCE.md, "What NVIDIA's assembler says". The CPU accelerator
    /// runs the kernels' C# as .NET compiles it, so the level changes nothing there.
    /// </remarks>
    public const OptimizationLevel Optimization = OptimizationLevel.O2;

    /// <summary>
    /// A context that sees every CUDA and OpenCL device ILGPU supports (OpenCL: see
    /// <see cref="OpenCLSupport"/>), plus the CPU accelerator, with ILGPU.Algorithms enabled (XMath needs it
    /// on the GPU backends), at <see cref="Optimization"/>.
    /// </summary>
    /// <param name="profiling">Enable device-side profiling markers (the bench command's timings).</param>
    public static Context CreateContext(bool profiling = false)
    {
        OpenCLSupport.FindTheIcdLoader();
        return Context.Create(builder =>
        {
            builder.Cuda().OpenCL(OpenCLSupport.MeetsIlgpuRequirements).CPU(CpuDevice).EnableAlgorithms()
                .Optimize(Optimization);
            if (profiling) builder.Profiling();
        });
    }

    /// <summary>
    /// The simulated GPU behind the CPU accelerator. Every thread of a group is an OS thread, and
    /// each launch wakes and joins all of them, so ILGPU's default of 16 threads per group spends
    /// most of its time in thread hand-offs on a small machine. One thread per core (at least 2,
    /// a power of two: ILGPU's constraints on a warp) measured 3.6x faster on 2 cores for a whole
    /// style-transfer evaluation (docs/PERFORMANCE.md).
    /// </summary>
    public static CPUDevice CpuDevice { get; } = new(
        numThreadsPerWarp: 2,
        numWarpsPerMultiprocessor: Math.Max(1,
            (int)BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount) / 2),
        numMultiprocessors: 1);

    /// <summary>
    /// Picks a device: <c>auto</c> (the first CUDA device, else the first OpenCL device, else the
    /// CPU), <c>cpu</c>, <c>cuda</c>, <c>opencl</c>, or an index into <see cref="Context.Devices"/>
    /// as <c>ilgpu-style devices</c> numbers them.
    /// </summary>
    /// <exception cref="DeviceSelectionException">No such device.</exception>
    public static Device Select(Context context, string request)
    {
        var devices = context.Devices;
        string wanted = request.Trim().ToLowerInvariant();
        if (int.TryParse(wanted, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (index < devices.Length) return devices[index];
            throw new DeviceSelectionException(
                $"There is no device {index}: ILGPU sees {devices.Length} ({Describe(devices)}). " +
                    "Run 'ilgpu-style devices' to list them.");
        }

        AcceleratorType? type = wanted switch
        {
            "auto" => null,
            "cpu" => AcceleratorType.CPU,
            "cuda" => AcceleratorType.Cuda,
            "opencl" => AcceleratorType.OpenCL,
            _ => throw new DeviceSelectionException($"Unknown device '{request}': use {Choices}."),
        };
        if (type is null)
        {
            return devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                ?? devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL)
                ?? devices.First(d => d.AcceleratorType == AcceleratorType.CPU);
        }
        return devices.FirstOrDefault(d => d.AcceleratorType == type)
            ?? throw new DeviceSelectionException(type == AcceleratorType.Cuda
                ? $"No CUDA device found (ILGPU sees: {Describe(devices)}). " +
                    "Install the NVIDIA driver, or use --device cpu."
                : NoUsableOpenCL(devices));
    }

    /// <summary>
    /// Why <c>--device opencl</c> finds nothing: each device an OpenCL driver reports, and why it is not offered.
    /// </summary>
    private static string NoUsableOpenCL(IEnumerable<Device> devices)
    {
        var reported = OpenCLSupport.Describe(OpenCLSupport.ReportedDevices()).ToList();
        string drivers = reported.Count == 0
            ? $"no OpenCL driver reports a device ({OpenCLSupport.Requirement})"
            : string.Join("; ", reported);
        return $"No usable OpenCL device found: {drivers}. ILGPU sees: {Describe(devices)}. Use --device cpu.";
    }

    /// <summary>A short list of device types and names, for messages.</summary>
    public static string Describe(IEnumerable<Device> devices) =>
        string.Join(", ", devices.Select(d => $"{d.AcceleratorType} '{d.Name.Trim()}'"));
}
