using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of the tiled GPU kernels against the same CPU references as the plain ones.</summary>
public static partial class KernelChecks
{
    /// <summary>Shapes for the tiled and TF32 forward kernels: one group mostly empty; 2 x 2 groups with
    /// ragged edges in K and P and R = 45 (6 steps, the last partial); stride 2 without padding; 1x1;
    /// R = 9 (one full step of 8 and a step with a single row).</summary>
    private static readonly Conv2dShape[] TiledForwardShapes =
    [
        new(3, 5, 7, 4, 3, 3, 1, 1),
        new(5, 9, 10, 70, 3, 3, 1, 1),
        new(2, 6, 9, 5, 3, 3, 0, 2),
        new(4, 7, 5, 3, 1, 1, 0, 1),
        new(1, 6, 5, 3, 3, 3, 1, 1),
    ];

    /// <summary>Shapes for the tiled and TF32 input gradients (stride 1): small; 70 input channels
    /// (2 groups of rows); 1x1; no padding (the transposed convolution pads by 2).</summary>
    private static readonly Conv2dShape[] TiledBackwardShapes =
        [new(3, 5, 7, 4, 3, 3, 1, 1), new(70, 9, 10, 5, 3, 3, 1, 1), new(4, 7, 5, 3, 1, 1, 0, 1),
            new(3, 6, 6, 4, 3, 3, 0, 1)];

    private const string TiledRequirement =
        "needs 256 threads per group (the tests run it on a wide CPU accelerator of its own)";

    static partial void AddTiledKernels(List<KernelCheck> checks)
    {
        foreach (var shape in TiledForwardShapes)
        {
            foreach (bool relu in new[] { false, true })
            {
                string name = $"conv2d.forward{(relu ? "+relu" : "")}/tiled";
                checks.Add(Tiled(name, shape.ToString(), k => TiledForward(k, shape, relu, name)));
            }
        }

        foreach (var shape in TiledBackwardShapes)
        {
            foreach (bool mask in new[] { false, true })
            {
                string name = $"conv2d.backward{(mask ? "+relu-mask" : "")}/tiled";
                checks.Add(Tiled(name, shape.ToString(), k => TiledBackward(k, shape, mask, name)));
            }
        }
        // Split reductions (partials summed in a second pass, then bias and ReLU), on any accelerator:
        // R = 45 in 3 slices (16, 16, 13 rows) and in 6 (of 8 rows, the last of 5).
        foreach (int splits in new[] { 3, 7 })
        {
            var shape = TiledForwardShapes[1];
            string text = $"{shape} x{splits}";
            checks.Add(Tiled("conv2d.forward+relu/tiled-split", text,
                k => TiledForward(k, shape, true, "conv2d.forward+relu/tiled-split", splits)));
            var back = TiledBackwardShapes[1];
            string backText = $"{back} x{splits}";
            checks.Add(Tiled("conv2d.backward+relu-mask/tiled-split", backText,
                k => TiledBackward(k, back, true, "conv2d.backward+relu-mask/tiled-split", splits)));
        }

        GramShape[] grams = [new(3, 35), new(70, 5), new(130, 77), new(1, 1)]; // C < M; C > M; 3 x 3 blocks, ragged
        foreach (var shape in grams)
        {
            string text = $"C{shape.Channels} M{shape.Positions}";
            checks.Add(Tiled("gram.forward/tiled", text,
                k => GramForward(k, shape, KernelVariant.Tiled, "gram.forward/tiled", text)));
            foreach (bool accumulate in new[] { false, true })
            {
                string name = $"gram.backward{(accumulate ? "+accumulate" : "")}/tiled";
                checks.Add(Tiled(name, text, k => GramBackward(k, shape, KernelVariant.Tiled, accumulate, name, text)));
            }
        }

        // The split forward (several slices of the positions summed in a second pass), on any accelerator.
        foreach (var (shape, splits) in new[] { (new GramShape(3, 35), 4), (new GramShape(70, 300), 3) })
        {
            string text = $"C{shape.Channels} M{shape.Positions} x{splits}";
            checks.Add(Tiled("gram.forward/tiled-split", text, k => GramForwardSplit(k, shape, splits, text)));
        }

        var flip = new Conv2dShape(3, 5, 5, 4, 3, 2, 1, 1);
        checks.Add(new("conv2d.transpose-flip", flip.ToString(), k => TransposeFlip(k, flip)));
    }

    private static KernelCheck Tiled(string name, string shape, Func<KernelSet, CheckResult> run) =>
        new(name, shape, run)
        {
            Requires = a => AcceleratorDescription.Of(a).FitsTiledGroups,
            RequirementText = TiledRequirement,
        };

    private static CheckResult TiledForward(KernelSet k, Conv2dShape s, bool relu, string name, int splits = 0)
    {
        var random = new Random(71);
        var input = Uniform(random, s.Input.Length);
        var weight = Uniform(random, s.WeightLength);
        var bias = Uniform(random, s.OutChannels);
        var expected = new double[s.Output.Length];
        Conv2d.ForwardReference(expected, input, weight, bias, s, relu);

        var a = k.Accelerator;
        using var dInput = Upload(a, input);
        using var dWeight = Upload(a, weight);
        using var dBias = Upload(a, bias);
        using var output = Poisoned(a, s.Output.Length);
        k.Conv.ForwardTiled(output.View, dInput.View, dWeight.View, dBias.View, s, relu, splits);
        return Comparison.Compare(name, s.ToString(), Download(output), expected, Sums);
    }

    private static CheckResult TiledBackward(KernelSet k, Conv2dShape s, bool mask, string name, int splits = 0)
    {
        var random = new Random(72);
        var dOutput = Uniform(random, s.Output.Length);
        var weight = Uniform(random, s.WeightLength);
        var reluOutput = Uniform(random, s.Output.Length);
        Relu.ForwardReference(reluOutput, reluOutput); // a real ReLU output: about half zeros
        var masked = (double[])dOutput.Clone();
        if (mask) Relu.BackwardReference(masked, dOutput, reluOutput);
        var expected = new double[s.Input.Length];
        Conv2d.BackwardInputReference(expected, masked, weight, s);

        var a = k.Accelerator;
        using var dOut = Upload(a, dOutput);
        using var dWeight = Upload(a, weight);
        using var transposed = Poisoned(a, s.WeightLength);
        using var saved = Upload(a, reluOutput);
        using var dInput = Poisoned(a, s.Input.Length);
        k.Conv.TransposeFlip(transposed.View, dWeight.View, s);
        k.Conv.BackwardInputTiled(dInput.View, dOut.View, transposed.View, mask ? saved.View : default, s, splits);
        return Comparison.Compare(name, s.ToString(), Download(dInput), expected, Sums);
    }

    private static CheckResult GramForwardSplit(KernelSet k, GramShape s, int splits, string text)
    {
        var features = Uniform(new Random(74), s.FeatureLength);
        double scale = 1.0 / s.FeatureLength;
        var expected = new double[s.GramLength];
        Gram.ForwardReference(expected, features, s, scale);
        using var dFeatures = Upload(k.Accelerator, features);
        using var gram = Poisoned(k.Accelerator, s.GramLength);
        k.Gram.ForwardTiled(gram.View, dFeatures.View, s, (float)scale, splits);
        return Comparison.Compare("gram.forward/tiled-split", text, Download(gram), expected, Sums);
    }

    private static CheckResult TransposeFlip(KernelSet k, Conv2dShape s)
    {
        var weight = Uniform(new Random(73), s.WeightLength);
        var expected = new double[s.WeightLength];
        Conv2d.TransposeFlipReference(expected, weight, s);
        using var dWeight = Upload(k.Accelerator, weight);
        using var transposed = Poisoned(k.Accelerator, s.WeightLength);
        k.Conv.TransposeFlip(transposed.View, dWeight.View, s);
        return Comparison.Compare("conv2d.transpose-flip", s.ToString(), Download(transposed), expected, Elementwise);
    }
}
