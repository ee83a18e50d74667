using System.CommandLine;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// The options that say where and how the kernels run, declared once for every command that has them (the main
/// job, <c>bench</c>, <c>verify</c>): <c>--device</c>, <c>--threads</c>, <c>--tf32</c>, <c>--conv-algorithm</c>.
/// </summary>
internal static class DeviceOptions
{
    /// <summary><c>--device auto|cpu|cuda|opencl|INDEX</c>.</summary>
    public static Option<string> Device() => new("--device")
    {
        Description = $"The device to run on: {Devices.Choices}.",
        DefaultValueFactory = _ => RunOptions.Defaults.Device,
    };

    /// <summary><c>--threads N</c>: the cores the CPU device's host code uses, at least 1.</summary>
    public static Option<int> Threads() => NumberOptions.Whole("--threads",
        "Cores the CPU device uses (its host-code operations); the default is every core.",
        RunOptions.Defaults.Threads, minimum: 1);

    /// <summary><c>--tf32</c>: the convolutions on TF32 tensor cores.</summary>
    public static Option<bool> Tf32() => new("--tf32")
    {
        Description = "Run the convolutions on TF32 tensor cores (NVIDIA compute capability 8.0+): faster, " +
                      "about 3e-4 relative precision per product.",
    };

    /// <summary><c>--conv-algorithm auto|direct|winograd</c>: which algorithm the 3x3 convolutions run.</summary>
    public static Option<string> ConvAlgorithm() => ChoiceOptions.Of("--conv-algorithm",
        "The 3x3 convolutions: auto (Winograd's algorithm where it is faster for the layer and device: on the CPU, " +
        "most layers; 1e-6..1e-5 relative precision), direct (the direct product everywhere and every sum as " +
        "before Winograd, bit for bit), or winograd (wherever it can run).", RunOptions.Defaults.ConvAlgorithm);
}
