using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    static partial void AddWindowKernels(List<KernelCheck> checks)
    {
        WindowShape[] shapes =
        [
            new(new ChwShape(3, 7, 9), 2, 3, 4, 5),     // inside, away from every edge
            new(new ChwShape(2, 5, 6), 0, 0, 5, 6),     // the whole tensor
            new(new ChwShape(4, 6, 5), 5, 4, 1, 1),     // the last element of each channel
            new(new ChwShape(1, 9, 40), 3, 1, 6, 39),   // wide rows (the host variant's 16-wide steps, and a rest)
        ];
        foreach (var shape in shapes)
        {
            string text = shape.ToString();
            foreach (var variant in new[] { KernelVariant.PerElement, KernelVariant.Cpu })
            {
                bool host = variant == KernelVariant.Cpu;
                string suffix = Suffix(variant);
                var crop = new KernelCheck("window.crop" + suffix, text, k => WindowCrop(k, variant, shape, text));
                var add = new KernelCheck("window.add" + suffix, text, k => WindowAdd(k, variant, shape, text));
                checks.AddRange(host ? [crop with { Requires = CpuHost.Supports, RequirementText = CpuRequirement },
                    add with { Requires = CpuHost.Supports, RequirementText = CpuRequirement }] : [crop, add]);
            }
        }
    }

    private static CheckResult WindowCrop(KernelSet k, KernelVariant variant, WindowShape s, string text) =>
        OneToOne(k, "window.crop" + Suffix(variant), text, seed: 91, s.Tensor.Length, s.Length,
            (expected, tensor) => Window.CropReference(expected, tensor, s),
            (window, tensor) => k.Window.Crop(window, tensor, s, variant), Elementwise);

    /// <summary>Every element of the tensor is compared: those outside the window must keep their values.</summary>
    private static CheckResult WindowAdd(KernelSet k, KernelVariant variant, WindowShape s, string text)
    {
        var random = new Random(92);
        var tensor = Uniform(random, s.Tensor.Length);
        var window = Uniform(random, s.Length);
        var expected = (double[])tensor.Clone();
        Window.AddReference(expected, window, s);

        using var dTensor = Upload(k.Accelerator, tensor);
        using var dWindow = Upload(k.Accelerator, window);
        k.Window.Add(dTensor.View, dWindow.View, s, variant);
        return Comparison.Compare("window.add" + Suffix(variant), text, Download(dTensor), expected, Elementwise);
    }

    /// <summary>The host code's checks are named with "/cpu" after kernel 1's.</summary>
    private static string Suffix(KernelVariant variant) => variant == KernelVariant.Cpu ? "/cpu" : "";
}
