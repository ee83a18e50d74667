using ILGPU;
using ILGPU.Runtime;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of the tiled GPU kernels against the same CPU references as the plain ones.</summary>
public static partial class KernelChecks
{
    /// <summary>
    /// Shapes for every fast forward convolution (shared-tile, tiled, TF32): one group mostly empty;
    /// ragged edges in K and P (2 x 2 groups of 64 x 64, or 5 x 6 of 16 x 16) and R = 45 (6 steps of
    /// 8, or 3 of 16, the last partial); stride 2 without padding; 1x1; R = 9 (one full step of 8 and
    /// a step with a single row).
    /// </summary>
    private static readonly Conv2dShape[] TiledForwardShapes =
    [
        new(3, 5, 7, 4, 3, 3, 1, 1),
        new(5, 9, 10, 70, 3, 3, 1, 1),
        new(2, 6, 9, 5, 3, 3, 0, 2),
        new(4, 7, 5, 3, 1, 1, 0, 1),
        new(1, 6, 5, 3, 3, 3, 1, 1),
    ];

    /// <summary>
    /// Shapes for every fast input gradient (stride 1): small; 70 input channels (several groups of
    /// rows); 1x1; no padding (the transposed convolution pads by 2).
    /// </summary>
    private static readonly Conv2dShape[] TiledBackwardShapes =
    [
        new(3, 5, 7, 4, 3, 3, 1, 1),
        new(70, 9, 10, 5, 3, 3, 1, 1),
        new(4, 7, 5, 3, 1, 1, 0, 1),
        new(3, 6, 6, 4, 3, 3, 0, 1),
    ];

    private const string TiledRequirement =
        "needs 256 threads per group (the tests run it on a wide CPU accelerator of its own)";

    /// <summary>
    /// One of the fast convolutions as the checks see it: its variant in the catalog's names, what
    /// the accelerator must offer, its two launchers (the splits are ignored by one that cannot
    /// split), whether it splits, and how close its result must come to the reference.
    /// </summary>
    private sealed record FastConvolution(string Variant, Func<Accelerator, bool> Requires, bool Splits,
        FastForwardLauncher Forward, FastBackwardLauncher Backward, Judge Judge);

    private delegate void FastForwardLauncher(Conv2d conv, ArrayView<float> output, ArrayView<float> input,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape shape, bool relu, int splits);

    private delegate void FastBackwardLauncher(Conv2d conv, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> transposedWeight, ArrayView<float> reluOutput, Conv2dShape shape, int splits);

    /// <summary>
    /// Judges a result computed from inputs <paramref name="x"/> and weights <paramref name="w"/>:
    /// <paramref name="reference"/> maps (x, w) to the exact result, <paramref name="magnitude"/> to
    /// the same product without bias or ReLU (for error bounds that scale with <c>sum |w||x|</c>).
    /// </summary>
    private delegate CheckResult Judge(string kernel, string shape, float[] actual, double[] x, double[] w,
        Func<double[], double[], double[]> reference, Func<double[], double[], double[]> magnitude);

    // The launchers below name the forward's output y, its input x, weights w and bias b; the input
    // gradient dx, the output gradient dy.

    /// <summary>Kernel 3: shared-memory tiles, one output per thread (no split).</summary>
    private static readonly FastConvolution SharedTileConvolution = new("shared-tile", FitsTiledGroups, false,
        (c, y, x, w, b, s, relu, _) => c.ForwardSharedTile(y, x, w, b, s, relu),
        (c, dx, dy, w, mask, s, _) => c.BackwardInputSharedTile(dx, dy, w, mask, s), WithinFloatSums);

    /// <summary>Kernel 4: register-blocked tiles, split reductions.</summary>
    private static readonly FastConvolution TiledConvolution = new("tiled", FitsTiledGroups, true,
        (c, y, x, w, b, s, relu, splits) => c.ForwardTiled(y, x, w, b, s, relu, splits),
        (c, dx, dy, w, mask, s, splits) => c.BackwardInputTiled(dx, dy, w, mask, s, splits), WithinFloatSums);

    static partial void AddTiledKernels(List<KernelCheck> checks)
    {
        AddFastConvolution(checks, SharedTileConvolution);
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
    /// <see cref="TiledBackwardShapes"/>, and, for one that splits, split reductions (partials summed
    /// in a second pass, then bias and ReLU): R = 45 in 3 slices (16, 16, 13 rows) and in 6 (of 8
    /// rows, the last of 5).
    /// </summary>
    private static void AddFastConvolution(List<KernelCheck> checks, FastConvolution conv)
    {
        foreach (var shape in TiledForwardShapes)
        {
            foreach (bool relu in new[] { false, true })
            {
                string name = $"conv2d.forward{(relu ? "+relu" : "")}/{conv.Variant}";
                checks.Add(Fast(conv, name, shape.ToString(), k => FastForward(k, conv, shape, relu, name)));
            }
        }

        foreach (var shape in TiledBackwardShapes)
        {
            foreach (bool mask in new[] { false, true })
            {
                string name = $"conv2d.backward{(mask ? "+relu-mask" : "")}/{conv.Variant}";
                checks.Add(Fast(conv, name, shape.ToString(), k => FastBackward(k, conv, shape, mask, name)));
            }
        }

        if (!conv.Splits) return;
        foreach (int splits in new[] { 3, 7 })
        {
            var shape = TiledForwardShapes[1];
            string name = $"conv2d.forward+relu/{conv.Variant}-split";
            checks.Add(Fast(conv, name, $"{shape} x{splits}", k => FastForward(k, conv, shape, true, name, splits)));
            var back = TiledBackwardShapes[1];
            string backName = $"conv2d.backward+relu-mask/{conv.Variant}-split";
            checks.Add(Fast(conv, backName, $"{back} x{splits}",
                k => FastBackward(k, conv, back, true, backName, splits)));
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

    private static CheckResult FastForward(KernelSet k, FastConvolution conv, Conv2dShape s, bool relu, string name,
        int splits = 0)
    {
        var random = new Random(71);
        var input = Uniform(random, s.Input.Length);
        var weight = Uniform(random, s.WeightLength);
        var bias = Uniform(random, s.OutChannels);
        double[] Reference(double[] x, double[] w)
        {
            var output = new double[s.Output.Length];
            Conv2d.ForwardReference(output, x, w, bias, s, relu);
            return output;
        }
        double[] Magnitude(double[] x, double[] w)
        {
            var output = new double[s.Output.Length];
            Conv2d.ForwardReference(output, x, w, new double[s.OutChannels], s, fuseRelu: false);
            return output;
        }

        var a = k.Accelerator;
        using var dInput = Upload(a, input);
        using var dWeight = Upload(a, weight);
        using var dBias = Upload(a, bias);
        using var output = Poisoned(a, s.Output.Length);
        conv.Forward(k.Conv, output.View, dInput.View, dWeight.View, dBias.View, s, relu, splits);
        return conv.Judge(name, s.ToString(), Download(output), input, weight, Reference, Magnitude);
    }

    private static CheckResult FastBackward(KernelSet k, FastConvolution conv, Conv2dShape s, bool mask, string name,
        int splits = 0)
    {
        var random = new Random(72);
        var dOutput = Uniform(random, s.Output.Length);
        var weight = Uniform(random, s.WeightLength);
        var reluOutput = Uniform(random, s.Output.Length);
        Relu.ForwardReference(reluOutput, reluOutput); // a real ReLU output: about half zeros
        var masked = (double[])dOutput.Clone();
        if (mask) Relu.BackwardReference(masked, dOutput, reluOutput);
        double[] Reference(double[] dy, double[] w)
        {
            var dInput = new double[s.Input.Length];
            Conv2d.BackwardInputReference(dInput, dy, w, s);
            return dInput;
        }

        var a = k.Accelerator;
        using var dOut = Upload(a, dOutput);
        using var dWeight = Upload(a, weight);
        using var transposed = Poisoned(a, s.WeightLength);
        using var saved = Upload(a, reluOutput);
        using var dInput = Poisoned(a, s.Input.Length);
        k.Conv.TransposeFlip(transposed.View, dWeight.View, s);
        conv.Backward(k.Conv, dInput.View, dOut.View, transposed.View, mask ? saved.View : default, s, splits);
        return conv.Judge(name, s.ToString(), Download(dInput), masked, weight, Reference, Reference);
    }

    /// <summary>A float kernel's sums against the double reference (<see cref="Sums"/>).</summary>
    private static CheckResult WithinFloatSums(string kernel, string shape, float[] actual, double[] x, double[] w,
        Func<double[], double[], double[]> reference, Func<double[], double[], double[]> magnitude) =>
        Comparison.Compare(kernel, shape, actual, reference(x, w), Sums);

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
