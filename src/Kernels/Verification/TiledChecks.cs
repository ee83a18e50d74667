using ILGPU;
using ILGPU.Runtime;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of the tiled GPU kernels against the same CPU references as the plain ones.</summary>
public static partial class KernelChecks
{
    /// <summary>
    /// Shapes for every fast forward convolution (kernels 2 and 3, tiled and TF32): one group mostly empty;
    /// ragged edges in K and P (2 x 2 groups of 64 x 64) and R = 45 (6 steps of 8, the last partial);
    /// stride 2 without padding; 1x1; R = 9 (one full step of 8 and a step with a single row).
    /// </summary>
    private static readonly Conv2dShape[] TiledForwardShapes =
    [
        ConvShapes[0],
        new(5, 9, 10, 70, 3, 3, 1, 1),
        ConvShapes[1],
        ConvShapes[2],
        new(1, 6, 5, 3, 3, 3, 1, 1),
    ];

    /// <summary>
    /// Shapes for every fast input gradient (stride 1): small; 70 input channels (several groups of
    /// rows); 1x1; no padding (the transposed convolution pads by 2).
    /// </summary>
    private static readonly Conv2dShape[] TiledBackwardShapes =
    [
        ConvShapes[0],
        new(70, 9, 10, 5, 3, 3, 1, 1),
        ConvShapes[2],
        new(3, 6, 6, 4, 3, 3, 0, 1),
    ];

    private const string TiledRequirement =
        "needs 256 threads per group (the tests run it on a wide CPU accelerator of its own)";

    /// <summary>
    /// One of the fast convolutions as the checks see it: its name in the catalog's names, its variant,
    /// what the accelerator must offer, and how close its result must come to the reference.
    /// </summary>
    private sealed record FastConvolution(string Name, KernelVariant Variant, Func<Accelerator, bool> Requires,
        Judge Judge);

    /// <summary>Kernel 2: register-blocked tiles, split reductions.</summary>
    private static readonly FastConvolution TiledConvolution = new("tiled", KernelVariant.Tiled, FitsTiledGroups,
        WithinFloatSums);

    static partial void AddTiledKernels(List<KernelCheck> checks)
    {
        AddFastConvolution(checks, TiledConvolution);

        // C < M; C > M; 3 x 3 blocks, ragged; a single entry.
        GramShape[] grams = [new(3, 35), new(70, 5), new(130, 77), new(1, 1)];
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

    /// <summary>
    /// The checks of one fast convolution, the same for each: forward with and without ReLU on
    /// <see cref="TiledForwardShapes"/>, the input gradient with and without the ReLU mask on
    /// <see cref="TiledBackwardShapes"/>, and split reductions (partials summed in a second pass, then
    /// bias and ReLU): R = 45 in 3 slices (16, 16, 13 rows) and in 6 (of 8 rows, the last of 5).
    /// </summary>
    private static void AddFastConvolution(List<KernelCheck> checks, FastConvolution conv)
    {
        foreach (var shape in TiledForwardShapes)
        {
            foreach (bool relu in new[] { false, true })
            {
                string name = $"conv2d.forward{(relu ? "+relu" : "")}/{conv.Name}";
                checks.Add(Fast(conv, name, shape.ToString(), k => ConvForward(k, shape, conv.Variant, relu, name,
                    seed: 71, conv.Judge)));
            }
        }

        foreach (var shape in TiledBackwardShapes)
        {
            foreach (bool mask in new[] { false, true })
            {
                string name = $"conv2d.backward{(mask ? "+relu-mask" : "")}/{conv.Name}";
                checks.Add(Fast(conv, name, shape.ToString(), k => ConvBackward(k, shape, conv.Variant,
                    mask ? "+relu-mask" : "", name, seed: 72, conv.Judge)));
            }
        }

        foreach (int splits in new[] { 3, 7 })
        {
            var shape = TiledForwardShapes[1];
            string name = $"conv2d.forward+relu/{conv.Name}-split";
            checks.Add(Fast(conv, name, $"{shape} x{splits}", k => ConvForward(k, shape, conv.Variant, true, name,
                seed: 71, conv.Judge, splits: splits)));
            var back = TiledBackwardShapes[1];
            string backName = $"conv2d.backward+relu-mask/{conv.Name}-split";
            checks.Add(Fast(conv, backName, $"{back} x{splits}", k => ConvBackward(k, back, conv.Variant,
                "+relu-mask", backName, seed: 72, conv.Judge, splits)));
        }
    }

    // The tiled checks' requirement text for every fast kernel, so that verify reports them all in one
    // "skipped" line (on CUDA RunsTf32 also needs compute capability 8.0, which every GPU this
    // project targets has).
    private static KernelCheck Fast(FastConvolution conv, string name, string shape,
        Func<KernelSet, CheckResult> run) =>
        new(name, shape, run) { Requires = conv.Requires, RequirementText = TiledRequirement };

    private static bool FitsTiledGroups(Accelerator accelerator) =>
        AcceleratorDescription.Of(accelerator).FitsTiledGroups;

    private static bool RunsTf32(Accelerator accelerator) => AcceleratorDescription.Of(accelerator).RunsTf32;

    private static KernelCheck Tiled(string name, string shape, Func<KernelSet, CheckResult> run) =>
        new(name, shape, run) { Requires = FitsTiledGroups, RequirementText = TiledRequirement };

    private static CheckResult GramForwardSplit(KernelSet k, GramShape s, int splits, string text)
    {
        var features = Uniform(new Random(74), s.FeatureLength);
        double scale = 1.0 / s.FeatureLength;
        var expected = new double[s.GramLength];
        Gram.ForwardReference(expected, features, s, scale);
        using var dFeatures = Upload(k.Accelerator, features);
        using var gram = Poisoned(k.Accelerator, s.GramLength);
        k.Gram.Forward(gram.View, dFeatures.View, s, (float)scale, KernelVariant.Tiled, splits);
        return Comparison.Compare("gram.forward/tiled-split", text, Download(gram), expected, Sums);
    }

    /// <summary>W' as <see cref="Conv2d.Prepare"/> makes it for a tiled input gradient.</summary>
    private static CheckResult TransposeFlip(KernelSet k, Conv2dShape s)
    {
        var weight = Uniform(new Random(73), s.WeightLength);
        var expected = new double[s.WeightLength];
        Conv2d.TransposeFlipReference(expected, weight, s);
        using var dWeight = Upload(k.Accelerator, weight);
        using var dBias = Upload(k.Accelerator, new double[s.OutChannels]);
        using var transposed = Poisoned(k.Accelerator, s.WeightLength);
        k.Conv.Prepare(s, dWeight.View, dBias.View, _ => transposed.View,
            new ConvVariants(KernelVariant.PerElement, KernelVariant.Tiled));
        return Comparison.Compare("conv2d.transpose-flip", s.ToString(), Download(transposed), expected, Elementwise);
    }
}
