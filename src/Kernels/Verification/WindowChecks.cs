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
            foreach (bool host in new[] { false, true })
            {
                string suffix = host ? "/cpu" : "";
                var crop = new KernelCheck("window.crop" + suffix, text, k => WindowCrop(k, host, shape, text));
                var add = new KernelCheck("window.add" + suffix, text, k => WindowAdd(k, host, shape, text));
                checks.AddRange(host ? [crop with { Requires = CpuHost.Supports, RequirementText = CpuRequirement },
                    add with { Requires = CpuHost.Supports, RequirementText = CpuRequirement }] : [crop, add]);
            }
        }
    }

    private static CheckResult WindowCrop(KernelSet k, bool host, WindowShape s, string text)
    {
        var tensor = Uniform(new Random(91), s.Tensor.Length);
        var expected = new double[s.Length];
        Window.CropReference(expected, tensor, s);

        using var dTensor = Upload(k.Accelerator, tensor);
        using var window = Poisoned(k.Accelerator, s.Length);
        new Window(k.Accelerator, host).Crop(window.View, dTensor.View, s);
        return Comparison.Compare("window.crop" + (host ? "/cpu" : ""), text, Download(window), expected, Elementwise);
    }

    /// <summary>Every element of the tensor is compared: those outside the window must keep their values.</summary>
    private static CheckResult WindowAdd(KernelSet k, bool host, WindowShape s, string text)
    {
        var random = new Random(92);
        var tensor = Uniform(random, s.Tensor.Length);
        var window = Uniform(random, s.Length);
        var expected = (double[])tensor.Clone();
        Window.AddReference(expected, window, s);

        using var dTensor = Upload(k.Accelerator, tensor);
        using var dWindow = Upload(k.Accelerator, window);
        new Window(k.Accelerator, host).Add(dTensor.View, dWindow.View, s);
        return Comparison.Compare("window.add" + (host ? "/cpu" : ""), text, Download(dTensor), expected, Elementwise);
    }
}
