using System.CommandLine;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;

namespace IlgpuStyle.Host;

/// <summary>
/// The options that say where and how the kernels run, declared once for every command that has them (the main
/// job, <c>bench</c>, <c>verify</c>): <c>--device</c>, <c>--threads</c>, <c>--tf32</c>, <c>--conv-algorithm</c>,
/// <c>--tune</c>.
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

    /// <summary><c>--tune auto|off|always</c>: per-layer tuning of the convolutions' kernels on the device.</summary>
    public static Option<string> Tune() => ChoiceOptions.Of("--tune",
        "Time every kernel variant of each convolution shape on the device the first time it is met, check its " +
        "output, and run the fastest correct one (as cudnn.benchmark). auto: on a GPU, with the choices cached " +
        $"per device, driver and version in {UserData.TuningCache}; off: the built-in rule; always: time again " +
        "(on any device).", RunOptions.Defaults.Tune);

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
