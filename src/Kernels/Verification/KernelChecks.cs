using ILGPU;
using ILGPU.Runtime;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>One kernel launch checked against its CPU reference on one shape.</summary>
/// <param name="Kernel">Operation, direction and variant, e.g. <c>conv2d.backward/per-element</c>.</param>
/// <param name="Shape">The shape, as printed in the verify table.</param>
/// <param name="Run">Runs the kernel on fresh seeded data and compares.</param>
public sealed record KernelCheck(string Kernel, string Shape, Func<KernelSet, CheckResult> Run)
{
    /// <summary>
    /// What the accelerator must offer for this check (null: any accelerator), e.g. 256-thread groups.
    /// </summary>
    public Func<ILGPU.Runtime.Accelerator, bool>? Requires { get; init; }

    /// <summary>Why the check cannot run on an accelerator that fails <see cref="Requires"/>.</summary>
    public string? RequirementText { get; init; }

    /// <summary>Whether this check can run on <paramref name="accelerator"/>.</summary>
    public bool RunsOn(ILGPU.Runtime.Accelerator accelerator) => Requires?.Invoke(accelerator) ?? true;

    /// <inheritdoc/>
    public override string ToString() => $"{Kernel} {Shape}";
}

/// <summary>
/// Every kernel-versus-reference check of the project, in one place: the NUnit tests run each on
/// every available accelerator, and <c>ilgpu-style verify</c> runs them on the chosen one.
/// </summary>
/// <remarks>
/// Shapes are small and awkward on purpose (3 channels, 5x7 images, 4 output channels, odd pooling
/// inputs, a Gram with more channels than positions and one with far fewer): index bugs hide in
/// square, power-of-two shapes. Outputs are poisoned with NaN before each launch, so an element a
/// kernel never writes fails the check. Inputs come from fixed seeds, so a failure repeats.
/// </remarks>
public static partial class KernelChecks
{
    // Elementwise results: only rounding of one or two float operations.
    private static readonly Tolerance Elementwise = new(1e-6, 1e-6);

    // Sums of up to a few hundred float products, compared with a double-precision reference.
    private static readonly Tolerance Sums = new(2e-5, 1e-4);

    private static readonly Lazy<IReadOnlyList<KernelCheck>> Catalog = new(Build);

    /// <summary>All checks, in a stable order (built on first use, after every static field below).</summary>
    public static IReadOnlyList<KernelCheck> All => Catalog.Value;

    private static List<KernelCheck> Build()
    {
        var checks = new List<KernelCheck>();
        AddConvolution(checks);
        AddRelu(checks);
        AddPooling(checks);
        AddGram(checks);
        AddLosses(checks);
        AddVectorOps(checks);
        AddOptimizerKernels(checks);
        AddUpsampleKernels(checks);
        AddWindowKernels(checks);
        AddReplicateKernels(checks);
        AddGuideKernels(checks);
        AddTemporalKernels(checks);
        AddTiledKernels(checks);
        AddTf32Kernels(checks);
        AddWinogradKernels(checks);
        AddCpuKernels(checks);
        AddCpuPasses(checks);
        return checks;
    }

    /// <summary>Checks of the tiled (shared-memory) kernels (in TiledChecks.cs).</summary>
    static partial void AddTiledKernels(List<KernelCheck> checks);

    /// <summary>Checks of the TF32 tensor-core convolution (in Tf32Checks.cs).</summary>
    static partial void AddTf32Kernels(List<KernelCheck> checks);

    /// <summary>Checks of Winograd's convolutions, kernels 5 and 6 (in WinogradChecks.cs).</summary>
    static partial void AddWinogradKernels(List<KernelCheck> checks);

    /// <summary>Checks of the host-code CPU variants (in CpuChecks.cs).</summary>
    static partial void AddCpuKernels(List<KernelCheck> checks);

    /// <summary>Checks of the host-code CPU variants of the memory-bound operations (in CpuChecks.cs).</summary>
    static partial void AddCpuPasses(List<KernelCheck> checks);

    /// <summary>Checks of the optimizers' fused update kernels (in OptimizerChecks.cs).</summary>
    static partial void AddOptimizerKernels(List<KernelCheck> checks);

    /// <summary>Checks of bilinear and bicubic upsampling (in UpsampleChecks.cs).</summary>
    static partial void AddUpsampleKernels(List<KernelCheck> checks);

    /// <summary>Checks of the window copies of tiled evaluation (in WindowChecks.cs).</summary>
    static partial void AddWindowKernels(List<KernelCheck> checks);

    /// <summary>Checks of the guide multiply and the guided Gram built on it (in GuideChecks.cs).</summary>
    static partial void AddGuideKernels(List<KernelCheck> checks);

    /// <summary>Checks of the temporal loss of video, both variants (in TemporalChecks.cs).</summary>
    static partial void AddTemporalKernels(List<KernelCheck> checks);

    /// <summary>Checks of the one-to-three channel map of luminance-only transfer (in ReplicateChecks.cs).</summary>
    static partial void AddReplicateKernels(List<KernelCheck> checks);

    // ------------------------------------------------------------------ convolution

    /// <summary>
    /// The convolution's awkward shapes, on which every variant is checked: VGG's 3x3/pad 1/stride 1 on an
    /// awkward size; no padding, stride 2 (odd output widths); 1x1 (the first layer of some VGG variants);
    /// a rectangular kernel with padding wider than the kernel. (A property: the other files' shape lists
    /// start from it, and static fields of a partial class have no order across files.)
    /// </summary>
    private static Conv2dShape[] ConvShapes =>
    [
        new(3, 5, 7, 4, 3, 3, 1, 1),
        new(2, 6, 9, 5, 3, 3, 0, 2),
        new(4, 7, 5, 3, 1, 1, 0, 1),
        new(3, 8, 6, 2, 2, 4, 2, 3),
    ];

    /// <summary>
    /// Judges a result computed from inputs <paramref name="x"/> and weights <paramref name="w"/>:
    /// <paramref name="reference"/> maps (x, w) to the exact result, <paramref name="magnitude"/> to
    /// the same product without bias or ReLU (for error bounds that scale with <c>sum |w||x|</c>).
    /// </summary>
    private delegate CheckResult Judge(string kernel, string shape, float[] actual, double[] x, double[] w,
        Func<double[], double[], double[]> reference, Func<double[], double[], double[]> magnitude);

    /// <summary>A float kernel's sums against the double reference (<see cref="Sums"/>).</summary>
    private static CheckResult WithinFloatSums(string kernel, string shape, float[] actual, double[] x, double[] w,
        Func<double[], double[], double[]> reference, Func<double[], double[], double[]> magnitude) =>
        Comparison.Compare(kernel, shape, actual, reference(x, w), Sums);

    private static void AddConvolution(List<KernelCheck> checks)
    {
        const KernelVariant variant = KernelVariant.PerElement;
        foreach (var shape in ConvShapes)
        {
            string text = shape.ToString();
            checks.Add(new("conv2d.forward/per-element", text, k => ConvForward(k, shape, variant, fuseRelu: false,
                "conv2d.forward/per-element", seed: 11, WithinFloatSums)));
            checks.Add(new("conv2d.backward/per-element", text, k => ConvBackward(k, shape, variant, mask: "",
                "conv2d.backward/per-element", seed: 12, WithinFloatSums)));
        }
        var vgg = ConvShapes[0];
        checks.Add(new("conv2d.forward+relu/per-element", vgg.ToString(), k => ConvForward(k, vgg, variant,
            fuseRelu: true, "conv2d.forward+relu/per-element", seed: 11, WithinFloatSums)));
    }

    /// <summary>
    /// The forward convolution in <paramref name="variant"/> (the input gradient's variant left per element,
    /// so no W' is made) on data drawn from <paramref name="seed"/>, judged by <paramref name="judge"/>. The
    /// input may sit at <paramref name="offset"/> inside a larger buffer, as the network's views into its
    /// scratch do; <paramref name="splits"/> are the tiled kernels' slices of the reduction.
    /// </summary>
    private static CheckResult ConvForward(KernelSet k, Conv2dShape s, KernelVariant variant, bool fuseRelu,
        string name, int seed, Judge judge, int offset = 0, int splits = 0) =>
        ConvForward(k, s, new ConvVariants(variant, KernelVariant.PerElement), fuseRelu, name, seed, judge, offset,
            splits);

    /// <summary><see cref="ConvForward(KernelSet, Conv2dShape, KernelVariant, bool, string, int, Judge, int, int)"/>
    /// with the layer's variants in full (a Winograd tile, weights packed once).</summary>
    private static CheckResult ConvForward(KernelSet k, Conv2dShape s, ConvVariants variants, bool fuseRelu,
        string name, int seed, Judge judge, int offset = 0, int splits = 0)
    {
        var random = new Random(seed);
        var input = Uniform(random, s.Input.Length + offset);
        var weight = Uniform(random, s.WeightLength);
        var bias = Uniform(random, s.OutChannels);
        double[] Reference(double[] x, double[] w)
        {
            var output = new double[s.Output.Length];
            Conv2d.ForwardReference(output, x, w, bias, s, fuseRelu);
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
        using var prepared = new PreparedBuffers(a);
        var weights = prepared.Prepare(k, s, dWeight.View, dBias.View, variants);
        k.Conv.Forward(output.View, default, dInput.View.SubView(offset, s.Input.Length), weights, fuseRelu, splits);
        return judge(name, s.ToString(), Download(output), input[offset..], weight, Reference, Magnitude);
    }

    /// <summary>
    /// The buffers <see cref="Conv2d.Prepare"/> asks for in a check (each poisoned with NaN, so a prepared filter
    /// with a hole fails), and kernel 5's scratch, freed together.
    /// </summary>
    private sealed class PreparedBuffers(Accelerator accelerator) : IDisposable
    {
        private readonly List<MemoryBuffer1D<float, Stride1D.Dense>> _buffers = [];

        /// <summary>The layer's weights for <paramref name="variants"/>, with everything they need.</summary>
        public Conv2dWeights Prepare(KernelSet k, Conv2dShape s, ArrayView<float> weight, ArrayView<float> bias,
            ConvVariants variants)
        {
            long scratch = Conv2d.WinogradScratchFloats(s, k.Choice.Conv(s, variants));
            return k.Conv.Prepare(s, weight, bias, Floats, variants, scratch > 0 ? Floats(scratch) : default);
        }

        private ArrayView<float> Floats(long n)
        {
            var buffer = Poisoned(accelerator, checked((int)n));
            _buffers.Add(buffer);
            return buffer.View;
        }

        public void Dispose()
        {
            foreach (var buffer in _buffers) buffer.Dispose();
        }
    }

    /// <summary>
    /// The input gradient in <paramref name="variant"/> (with W' as <see cref="Conv2d.Prepare"/> makes it
    /// where the variant reads it) on data drawn from <paramref name="seed"/>, through a ReLU's
    /// <paramref name="mask"/>: none (""), the kept output ("+relu-mask") or its bits ("+relu-bits").
    /// </summary>
    private static CheckResult ConvBackward(KernelSet k, Conv2dShape s, KernelVariant variant, string mask,
        string name, int seed, Judge judge, int splits = 0) =>
        ConvBackward(k, s, new ConvVariants(KernelVariant.PerElement, variant), mask, name, seed, judge, splits);

    /// <summary><see cref="ConvBackward(KernelSet, Conv2dShape, KernelVariant, string, string, int, Judge, int)"/>
    /// with the layer's variants in full.</summary>
    private static CheckResult ConvBackward(KernelSet k, Conv2dShape s, ConvVariants variants, string mask,
        string name, int seed, Judge judge, int splits = 0)
    {
        var random = new Random(seed);
        var dOutput = Uniform(random, s.Output.Length);
        var weight = Uniform(random, s.WeightLength);
        var reluOutput = Uniform(random, s.Output.Length);
        Relu.ForwardReference(reluOutput, reluOutput); // a real ReLU output: about half zeros
        var bits = new uint[Relu.MaskWords(s.Output.Length)];
        Relu.PackMaskReference(bits, reluOutput);
        var masked = (double[])dOutput.Clone();
        if (mask.Length > 0) Relu.BackwardReference(masked, dOutput, reluOutput);
        double[] Reference(double[] dy, double[] w)
        {
            var dInput = new double[s.Input.Length];
            Conv2d.BackwardInputReference(dInput, dy, w, s);
            return dInput;
        }

        var a = k.Accelerator;
        using var dOut = Upload(a, dOutput);
        using var dWeight = Upload(a, weight);
        using var dBias = Upload(a, new double[s.OutChannels]);
        using var saved = Upload(a, reluOutput);
        using var dBits = a.Allocate1D(bits);
        using var dInput = Poisoned(a, s.Input.Length);
        using var prepared = new PreparedBuffers(a);
        var weights = prepared.Prepare(k, s, dWeight.View, dBias.View, variants);
        k.Conv.BackwardInput(dInput.View, dOut.View, weights, mask == "+relu-mask" ? saved.View : default,
            mask == "+relu-bits" ? dBits.View : default, splits);
        return judge(name, s.ToString(), Download(dInput), masked, weight, Reference, Reference);
    }

    // ------------------------------------------------------------------ ReLU

    /// <param name="checks">Where the checks go.</param>
    /// <param name="variant">The variant of the operations that have two (kernel 1 or the host code).</param>
    private static void AddRelu(List<KernelCheck> checks, KernelVariant variant = KernelVariant.PerElement)
    {
        const int n = 37;
        checks.Add(new("relu.backward", "n=37", k =>
        {
            var random = new Random(22);
            var output = Uniform(random, n);
            Relu.ForwardReference(output, output); // a real ReLU output: about half zeros
            var dOutput = Uniform(random, n);
            var expected = new double[n];
            Relu.BackwardReference(expected, dOutput, output);
            using var dOut = Upload(k.Accelerator, dOutput);
            using var saved = Upload(k.Accelerator, output);
            using var dInput = Poisoned(k.Accelerator, n);
            k.Relu.Backward(dInput.View, dOut.View, saved.View);
            return Comparison.Compare("relu.backward", "n=37", Download(dInput), expected, Elementwise);
        }));

        // Bit masks: lengths that end mid-word (37, 70) and exactly on a word (64); 200003 spans two
        // ranges of the host variant.
        foreach (int length in new[] { 37, 64, 70, 200003 })
        {
            string text = $"n={length}";
            checks.Add(new("relu.pack-mask", text, k =>
            {
                var output = Uniform(new Random(23 + length), length);
                Relu.ForwardReference(output, output);
                var expected = new uint[Relu.MaskWords(length)];
                Relu.PackMaskReference(expected, output);
                using var saved = Upload(k.Accelerator, output);
                using var mask = Filled(k.Accelerator, expected.Length, 0xDEADBEEFu);
                k.Relu.PackMask(mask.View, saved.View, variant);
                return Comparison.CompareExact("relu.pack-mask", text, DownloadAll(mask), expected);
            }));
            checks.Add(new("relu.backward/bits", text, k =>
            {
                var random = new Random(26 + length);
                var output = Uniform(random, length);
                Relu.ForwardReference(output, output);
                var dOutput = Uniform(random, length);
                var mask = new uint[Relu.MaskWords(length)];
                Relu.PackMaskReference(mask, output);
                var expected = new double[length];
                Relu.BackwardBitsReference(expected, dOutput, mask);
                using var dOut = Upload(k.Accelerator, dOutput);
                using var dMask = k.Accelerator.Allocate1D(mask);
                k.Relu.BackwardBits(dOut.View, dOut.View, dMask.View); // in place, as the network runs it
                return Comparison.Compare("relu.backward/bits", text, Download(dOut), expected, Elementwise);
            }));
        }
    }

    // ------------------------------------------------------------------ pooling

    private static readonly ChwShape[] PoolShapes =
    [
        new(3, 5, 7),  // odd height and width: last row and column are in no window
        new(2, 4, 6),  // even
        new(1, 9, 2),  // a single window column
    ];

    private static void AddPooling(List<KernelCheck> checks, KernelVariant variant = KernelVariant.PerElement)
    {
        foreach (var shape in PoolShapes)
        {
            string text = shape.ToString();
            checks.Add(new("maxpool2d.forward", text, k => MaxPoolForward(k, variant, shape, reluInput: false,
                "maxpool2d.forward", text)));
            checks.Add(new("maxpool2d.backward", text, k => MaxPoolBackward(k, variant, shape, reluInput: false,
                "maxpool2d.backward", text)));
            checks.Add(new("maxpool2d.forward/fused-relu", text, k => MaxPoolForward(k, variant, shape,
                reluInput: true, "maxpool2d.forward/fused-relu", text)));
            checks.Add(new("maxpool2d.backward/fused-relu", text, k => MaxPoolBackward(k, variant, shape,
                reluInput: true, "maxpool2d.backward/fused-relu", text)));
            checks.Add(new("avgpool2d.forward", text, k => AvgPoolForward(k, variant, shape, text)));
            checks.Add(new("avgpool2d.backward", text, k => AvgPoolBackward(k, variant, shape, text)));
            checks.Add(new("l2pool2d.forward", text, k => L2PoolForward(k, variant, shape, text)));
            checks.Add(new("l2pool2d.backward", text, k => L2PoolBackward(k, variant, shape, text)));
        }
    }

    /// <summary>
    /// Max pooling on plain inputs, and on a ReLU output with the ReLU's backward fused
    /// (<paramref name="reluInput"/>): about half the inputs are 0 and every third window wholly 0,
    /// so windows without a winner occur on every shape.
    /// </summary>
    private static double[] PoolInput(ChwShape s, int seed, bool reluInput)
    {
        var input = Uniform(new Random(seed), s.Length);
        if (!reluInput) return input;
        Relu.ForwardReference(input, input);
        var o = MaxPool2d.OutputShape(s);
        for (int c = 0; c < s.Channels; c++)
        for (int oy = 0; oy < o.Height; oy++)
        for (int ox = 0; ox < o.Width; ox++)
        {
            if (o.Index(c, oy, ox) % 3 != 0) continue;
            for (int w = 0; w < 4; w++)
                input[s.Index(c, 2 * oy + w / 2, 2 * ox + w % 2)] = 0;
        }
        return input;
    }

    private static CheckResult MaxPoolForward(KernelSet k, KernelVariant variant, ChwShape s, bool reluInput,
        string name,
        string text)
    {
        var o = MaxPool2d.OutputShape(s);
        var input = PoolInput(s, 31, reluInput);
        var expected = new double[o.Length];
        var expectedArgmax = new byte[o.Length];
        MaxPool2d.ForwardReference(expected, expectedArgmax, input, s, reluInput);

        using var dInput = Upload(k.Accelerator, input);
        using var output = Poisoned(k.Accelerator, o.Length);
        using var argmax = Filled<byte>(k.Accelerator, o.Length, 77);
        k.MaxPool.Forward(output.View, argmax.View, dInput.View, s, reluInput, variant);
        return Comparison.Combine(name, text,
            Comparison.Compare("output", text, Download(output), expected, Elementwise),
            Comparison.CompareExact("argmax", text, DownloadAll(argmax), expectedArgmax));
    }

    private static CheckResult MaxPoolBackward(KernelSet k, KernelVariant variant, ChwShape s, bool reluInput,
        string name,
        string text)
    {
        var o = MaxPool2d.OutputShape(s);
        var input = PoolInput(s, 32, reluInput);
        var dOutput = Uniform(new Random(33), o.Length);
        var pooled = new double[o.Length];
        var argmax = new byte[o.Length];
        MaxPool2d.ForwardReference(pooled, argmax, input, s, reluInput);
        var expected = new double[s.Length];
        MaxPool2d.BackwardReference(expected, dOutput, argmax, s);

        using var dOut = Upload(k.Accelerator, dOutput);
        using var dArgmax = k.Accelerator.Allocate1D(argmax);
        using var dInput = Poisoned(k.Accelerator, s.Length);
        k.MaxPool.Backward(dInput.View, dOut.View, dArgmax.View, s, variant);
        return Comparison.Compare(name, text, Download(dInput), expected, Elementwise);
    }

    private static CheckResult AvgPoolForward(KernelSet k, KernelVariant variant, ChwShape s, string text) =>
        OneToOne(k, "avgpool2d.forward", text, seed: 33, s.Length, MaxPool2d.OutputShape(s).Length,
            (expected, input) => AvgPool2d.ForwardReference(expected, input, s),
            (output, input) => k.AvgPool.Forward(output, input, s, variant), Elementwise);

    private static CheckResult AvgPoolBackward(KernelSet k, KernelVariant variant, ChwShape s, string text) =>
        OneToOne(k, "avgpool2d.backward", text, seed: 34, MaxPool2d.OutputShape(s).Length, s.Length,
            (expected, dOutput) => AvgPool2d.BackwardReference(expected, dOutput, s),
            (dInput, dOutput) => k.AvgPool.Backward(dInput, dOutput, s, variant), Elementwise);

    /// <summary>L2 pooling of a ReLU output, as in VGG: every third window wholly 0, where y is the root of
    /// <see cref="L2Pool2d.Eps"/> alone.</summary>
    private static CheckResult L2PoolForward(KernelSet k, KernelVariant variant, ChwShape s, string text)
    {
        var input = PoolInput(s, 35, reluInput: true);
        var expected = new double[MaxPool2d.OutputShape(s).Length];
        L2Pool2d.ForwardReference(expected, input, s);
        using var dInput = Upload(k.Accelerator, input);
        using var output = Poisoned(k.Accelerator, expected.Length);
        k.L2Pool.Forward(output.View, dInput.View, s, variant);
        return Comparison.Compare("l2pool2d.forward", text, Download(output), expected, Elementwise);
    }

    /// <summary>L2 pooling's backward on a ReLU output: a wholly 0 window's gradient must be 0, not 0/0.</summary>
    private static CheckResult L2PoolBackward(KernelSet k, KernelVariant variant, ChwShape s, string text)
    {
        var input = PoolInput(s, 36, reluInput: true);
        var dOutput = Uniform(new Random(37), MaxPool2d.OutputShape(s).Length);
        var expected = new double[s.Length];
        L2Pool2d.BackwardReference(expected, dOutput, input, s);
        using var dIn = Upload(k.Accelerator, input);
        using var dOut = Upload(k.Accelerator, dOutput);
        using var dInput = Poisoned(k.Accelerator, s.Length);
        k.L2Pool.Backward(dInput.View, dOut.View, dIn.View, s, variant);
        return Comparison.Compare("l2pool2d.backward", text, Download(dInput), expected, Elementwise);
    }

    /// <summary>
    /// A launch with one input and one output against its reference: <paramref name="inputLength"/>
    /// values drawn from <paramref name="seed"/>, the reference's result, the launch's into a poisoned
    /// output of <paramref name="outputLength"/>, compared within <paramref name="tolerance"/>.
    /// </summary>
    private static CheckResult OneToOne(KernelSet k, string name, string text, int seed, int inputLength,
        int outputLength, Action<double[], double[]> reference, Action<ArrayView<float>, ArrayView<float>> launch,
        Tolerance tolerance)
    {
        var input = Uniform(new Random(seed), inputLength);
        var expected = new double[outputLength];
        reference(expected, input);
        using var dInput = Upload(k.Accelerator, input);
        using var output = Poisoned(k.Accelerator, outputLength);
        launch(output.View, dInput.View);
        return Comparison.Compare(name, text, Download(output), expected, tolerance);
    }

    // ------------------------------------------------------------------ Gram

    private static void AddGram(List<KernelCheck> checks)
    {
        GramShape[] shapes =
        [
            new(3, 35),   // H*W much larger than C (the usual case: 64 channels, 512x512 positions)
            new(12, 5),   // C larger than H*W (deep layers of a small image)
            new(1, 1),
        ];
        foreach (var shape in shapes)
        {
            string text = $"C{shape.Channels} M{shape.Positions}";
            const KernelVariant variant = KernelVariant.PerElement;
            checks.Add(new("gram.forward/per-element", text,
                k => GramForward(k, shape, variant, "gram.forward/per-element", text)));
            foreach (bool accumulate in new[] { false, true })
            {
                string backward = $"gram.backward{(accumulate ? "+accumulate" : "")}/per-element";
                checks.Add(new(backward, text, k => GramBackward(k, shape, variant, accumulate, backward, text)));
            }
        }
    }

    /// <summary>The Gram forward in <paramref name="variant"/>; with <paramref name="algorithm"/>, on a Gram whose rule
    /// has that algorithm (the host code's two blockings: <see cref="KernelChoice.GramAsProduct"/>).</summary>
    private static CheckResult GramForward(KernelSet k, GramShape s, KernelVariant variant, string name, string text,
        ConvAlgorithm? algorithm = null)
    {
        var features = Uniform(new Random(41), s.FeatureLength);
        double scale = 1.0 / (s.FeatureLength);
        var expected = new double[s.GramLength];
        Gram.ForwardReference(expected, features, s, scale);

        using var dFeatures = Upload(k.Accelerator, features);
        using var gram = Poisoned(k.Accelerator, s.GramLength);
        using var own = algorithm is { } a
            ? new Gram(k.Accelerator, new KernelChoice(k.Choice.Accelerator, algorithm: a), k.Host)
            : null;
        (own ?? k.Gram).Forward(gram.View, dFeatures.View, s, (float)scale, variant);
        return Comparison.Compare(name, text, Download(gram), expected, Sums);
    }

    private static CheckResult GramBackward(
        KernelSet k, GramShape s, KernelVariant variant, bool accumulate, string name, string text)
    {
        var random = new Random(42);
        var features = Uniform(random, s.FeatureLength);
        var dGram = Uniform(random, s.GramLength); // not symmetric: backward must use dG + dG^T
        var start = Uniform(random, s.FeatureLength);
        double scale = 1.0 / 7;
        var expected = (double[])start.Clone();
        Gram.BackwardReference(expected, dGram, features, s, scale, accumulate);

        using var dFeaturesIn = Upload(k.Accelerator, features);
        using var dG = Upload(k.Accelerator, dGram);
        using var dFeatures = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, s.FeatureLength);
        k.Gram.Backward(dFeatures.View, dG.View, dFeaturesIn.View, s, (float)scale, accumulate, variant);
        return Comparison.Compare(name, text, Download(dFeatures), expected, Sums);
    }

    // ------------------------------------------------------------------ losses

    private static void AddLosses(List<KernelCheck> checks, KernelVariant variant = KernelVariant.PerElement)
    {
        foreach (int n in new[] { 1, 1000 })
        {
            foreach (bool accumulate in new[] { false, true })
            {
                string suffix = accumulate ? "+accumulate" : "";
                checks.Add(new($"mse.forward{suffix}", $"n={n}", k => MseForward(k, variant, n, accumulate,
                    $"mse.forward{suffix}")));
                checks.Add(new($"mse.backward{suffix}", $"n={n}", k => MseBackward(k, variant, n, accumulate,
                    $"mse.backward{suffix}")));
            }
        }
        ChwShape[] tvShapes = [new(3, 5, 7), new(2, 1, 4), new(1, 6, 1), new(2, 2, 2)];
        foreach (var shape in tvShapes)
        {
            foreach (bool accumulate in new[] { false, true })
            {
                string suffix = accumulate ? "+accumulate" : "";
                checks.Add(new($"tv.forward{suffix}", shape.ToString(), k => TvForward(k, variant, shape,
                    accumulate, $"tv.forward{suffix}")));
                checks.Add(new($"tv.backward{suffix}", shape.ToString(), k => TvBackward(k, variant, shape,
                    accumulate, $"tv.backward{suffix}")));
            }
        }
    }

    private static CheckResult MseForward(KernelSet k, KernelVariant variant, int n, bool accumulate, string name)
    {
        var random = new Random(51);
        var a = Uniform(random, n);
        var b = Uniform(random, n);
        const double weight = 2.5, start = 0.75;
        double expected = MseLoss.ForwardReference(a, b, weight) + (accumulate ? start : 0);

        using var dA = Upload(k.Accelerator, a);
        using var dB = Upload(k.Accelerator, b);
        using var loss = accumulate ? Upload(k.Accelerator, [start]) : Poisoned(k.Accelerator, 1);
        k.Mse.Forward(loss.View, dA.View, dB.View, (float)weight, accumulate, variant);
        return Comparison.Compare(name, $"n={n}", Download(loss), [expected], Sums);
    }

    private static CheckResult MseBackward(KernelSet k, KernelVariant variant, int n, bool accumulate, string name)
    {
        var random = new Random(52);
        var a = Uniform(random, n);
        var b = Uniform(random, n);
        var start = Uniform(random, n);
        const double weight = 2.5;
        var expected = (double[])start.Clone();
        MseLoss.BackwardReference(expected, a, b, weight, accumulate);

        using var dA = Upload(k.Accelerator, a);
        using var dB = Upload(k.Accelerator, b);
        using var gradient = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, n);
        k.Mse.Backward(gradient.View, dA.View, dB.View, (float)weight, accumulate, variant);
        return Comparison.Compare(name, $"n={n}", Download(gradient), expected, Elementwise);
    }

    private static CheckResult TvForward(KernelSet k, KernelVariant variant, ChwShape s, bool accumulate,
        string name)
    {
        var x = Uniform(new Random(53), s.Length);
        const double weight = 0.3, start = -1.25;
        double expected = TotalVariation.ForwardReference(x, s, weight) + (accumulate ? start : 0);

        using var dX = Upload(k.Accelerator, x);
        using var loss = accumulate ? Upload(k.Accelerator, [start]) : Poisoned(k.Accelerator, 1);
        k.TotalVariation.Forward(loss.View, dX.View, s, (float)weight, accumulate, variant);
        return Comparison.Compare(name, s.ToString(), Download(loss), [expected], Sums);
    }

    private static CheckResult TvBackward(KernelSet k, KernelVariant variant, ChwShape s, bool accumulate,
        string name)
    {
        var random = new Random(54);
        var x = Uniform(random, s.Length);
        var start = Uniform(random, s.Length);
        const double weight = 0.3;
        var expected = (double[])start.Clone();
        TotalVariation.BackwardReference(expected, x, s, weight, accumulate);

        using var dX = Upload(k.Accelerator, x);
        using var gradient = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, s.Length);
        k.TotalVariation.Backward(gradient.View, dX.View, s, (float)weight, accumulate, variant);
        return Comparison.Compare(name, s.ToString(), Download(gradient), expected, Sums);
    }

    // ------------------------------------------------------------------ vector operations

    private static void AddVectorOps(List<KernelCheck> checks, KernelVariant variant = KernelVariant.PerElement)
    {
        const int n = 1001;
        string text = $"n={n}";
        var v = variant;

        checks.Add(new("vector.fill", text, k => Elementwise1(k, "vector.fill", n, (ops, x, z) => ops.Fill(z,
            -3.5f, v), x => -3.5)));
        checks.Add(new("vector.copy", text, k => Elementwise1(k, "vector.copy", n, (ops, x, z) => ops.Copy(z, x, v),
            x => x)));
        checks.Add(new("vector.scale", text, k => Elementwise1(k, "vector.scale", n, (ops, x, z) =>
        {
            ops.Copy(z, x, v);
            ops.Scale(z, 0.3f, v);
        }, x => (float)0.3 * x)));
        checks.Add(new("vector.add", text, k => Elementwise2(k, "vector.add", n, (ops, x, y, z) => ops.Add(z, x, y, v),
            (x, y) => x + y)));
        checks.Add(new("vector.subtract", text, k => Elementwise2(k, "vector.subtract", n, (ops, x, y,
            z) => ops.Subtract(z, x, y, v), (x, y) => x - y)));
        checks.Add(new("vector.multiply", text, k => Elementwise2(k, "vector.multiply", n, (ops, x, y,
            z) => ops.Multiply(z, x, y, v), (x, y) => x * y)));
        checks.Add(new("vector.axpy", text, k => Elementwise2(k, "vector.axpy", n, (ops, x, y, z) =>
        {
            ops.Copy(z, y, v);
            ops.Axpy(z, -1.75f, x, v);
        }, (x, y) => y - 1.75 * x)));
        checks.Add(new("vector.linear-combination", text, k => Elementwise2(k, "vector.linear-combination", n,
            (ops, x, y, z) => ops.LinearCombination(z, 0.5f, x, -2f, y, 0.25f, v), (x, y) => 0.5 * x - 2 * y + 0.25)));
        checks.Add(new("vector.axpy-by-scalar", text, k => AxpyByScalar(k, v, n)));

        // Batched: 5 of 7 rows take part (the last two hold NaN: a row past the count must not be read).
        checks.Add(new("vector.dots", "5 rows, n=1001", k => Dots(k, v, 1, "5 rows, n=1001")));
        checks.Add(new("vector.dots", "5 rows x 3 vectors", k => Dots(k, v, 3, "5 rows x 3 vectors")));
        foreach (bool accumulate in new[] { false, true })
        {
            string name = $"vector.combine-rows{(accumulate ? "+accumulate" : "")}";
            checks.Add(new(name, "5 rows, n=1001", k => CombineRows(k, v, accumulate, name)));
        }

        // Reductions: the default width, and a width that forces the fold pass on any accelerator.
        foreach (int? width in new int?[] { null, 300 })
        {
            string shape = width is null ? text : $"n=5000 P={width}";
            int count = width is null ? n : 5000;
            checks.Add(new("vector.dot", shape, k => Reduce(k, "vector.dot", shape, count, width, (ops, r, x,
                y) => ops.Dot(r, x, y, v), VectorOps.DotReference)));
            checks.Add(new("vector.l1-norm", shape, k => Reduce(k, "vector.l1-norm", shape, count, width, (ops,
                r, x, y) => ops.L1Norm(r, x, v), (x, y) => VectorOps.L1NormReference(x))));
            checks.Add(new("vector.l2-norm", shape, k => Reduce(k, "vector.l2-norm", shape, count, width, (ops,
                r, x, y) => ops.L2Norm(r, x, v), (x, y) => Math.Sqrt(VectorOps.DotReference(x, x)))));
        }

        foreach (var op in Enum.GetValues<ScalarOp>())
        {
            checks.Add(new($"vector.scalar-{op.ToString().ToLowerInvariant()}", "a=1.5 b=-0.25", k => ScalarCheck(k,
                v, op, 1.5, -0.25)));
        }
        checks.Add(new("vector.scalar-divide", "a=1.5 b=0", k => ScalarCheck(k, v, ScalarOp.Divide, 1.5, 0)));
    }

    private static CheckResult Elementwise1(KernelSet k, string name, int n,
        Action<VectorOps, ArrayView<float>, ArrayView<float>> run, Func<double, double> reference)
    {
        var x = Uniform(new Random(61), n);
        using var dX = Upload(k.Accelerator, x);
        using var z = Poisoned(k.Accelerator, n);
        run(k.Vectors, dX.View, z.View);
        return Comparison.Compare(name, $"n={n}", Download(z), Array.ConvertAll(x, v => reference(v)), Elementwise);
    }

    private static CheckResult Elementwise2(KernelSet k, string name, int n,
        Action<VectorOps, ArrayView<float>, ArrayView<float>, ArrayView<float>> run,
        Func<double, double, double> reference)
    {
        var random = new Random(62);
        var x = Uniform(random, n);
        var y = Uniform(random, n);
        using var dX = Upload(k.Accelerator, x);
        using var dY = Upload(k.Accelerator, y);
        using var z = Poisoned(k.Accelerator, n);
        run(k.Vectors, dX.View, dY.View, z.View);
        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = reference(x[i], y[i]);
        return Comparison.Compare(name, $"n={n}", Download(z), expected, Elementwise);
    }

    private static CheckResult AxpyByScalar(KernelSet k, KernelVariant variant, int n)
    {
        var random = new Random(63);
        var x = Uniform(random, n);
        var y = Uniform(random, n);
        const double alpha = 0.625, factor = -3;
        using var dX = Upload(k.Accelerator, x);
        using var dY = Upload(k.Accelerator, y);
        using var dAlpha = Upload(k.Accelerator, [alpha]);
        k.Vectors.AxpyByScalar(dY.View, dAlpha.View, (float)factor, dX.View, variant);
        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = y[i] + factor * alpha * x[i];
        return Comparison.Compare("vector.axpy-by-scalar", $"n={n}", Download(dY), expected, Elementwise);
    }

    private static double[] BatchRows(Random random, int n) =>
        [.. Uniform(random, 5 * n), .. Enumerable.Repeat(double.NaN, 2 * n)];

    /// <summary>Dots of 5 rows with 1 or 3 vectors, results 7 apart (the gaps must stay untouched).</summary>
    private static CheckResult Dots(KernelSet k, KernelVariant variant, int vectors, string text)
    {
        const int n = 1001, count = 5, stride = 7;
        var random = new Random(65);
        var rows = BatchRows(random, n);
        var v = Enumerable.Range(0, vectors).Select(_ => Uniform(random, n)).ToArray();
        var expected = new double[vectors * stride];
        Array.Fill(expected, double.NaN);
        for (int j = 0; j < vectors; j++)
        {
            var block = new double[count];
            VectorOps.DotsReference(block, rows, count, v[j]);
            block.CopyTo(expected, j * stride);
        }
        using var dRows = Upload(k.Accelerator, rows);
        var dV = v.Select(x => Upload(k.Accelerator, x)).ToArray();
        using var scratch = Poisoned(k.Accelerator, (int)VectorOps.DotsScratchLength(count));
        using var result = Poisoned(k.Accelerator, expected.Length);
        var batch = vectors == 1 ? new DotVectors(dV[0].View) : new DotVectors(dV[0].View, dV[1].View, dV[2].View);
        k.Vectors.Dots(result.View, stride, dRows.View, count, batch, scratch.View, variant);
        var actual = Download(result);
        foreach (var buffer in dV) buffer.Dispose();
        // The gaps between the blocks must still hold the poison: compare them as NaN against NaN.
        for (int i = 0; i < actual.Length; i++)
        {
            if (i % stride >= count && float.IsNaN(actual[i])) actual[i] = 0f;
            if (i % stride >= count) expected[i] = 0;
        }
        return Comparison.Compare("vector.dots", text, actual, expected, Sums);
    }

    private static CheckResult CombineRows(KernelSet k, KernelVariant variant, bool accumulate, string name)
    {
        const int n = 1001, count = 5;
        var random = new Random(66);
        var rows = BatchRows(random, n);
        var coefficients = Uniform(random, count);
        var start = Uniform(random, n);
        var expected = (double[])start.Clone();
        VectorOps.CombineRowsReference(expected, rows, coefficients, count, accumulate);
        using var dRows = Upload(k.Accelerator, rows);
        using var dCoefficients = Upload(k.Accelerator, coefficients);
        using var z = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, n);
        k.Vectors.CombineRows(z.View, dRows.View, dCoefficients.View, count, accumulate, variant);
        return Comparison.Compare(name, "5 rows, n=1001", Download(z), expected, Sums);
    }

    /// <summary>A sum, on the kernel set's reduction or (<paramref name="width"/>) on one of that first-pass
    /// width.</summary>
    private static CheckResult Reduce(KernelSet k, string name, string shape, int n, int? width,
        Action<VectorOps, ArrayView<float>, ArrayView<float>, ArrayView<float>> run,
        Func<double[], double[], double> reference)
    {
        var random = new Random(64);
        var x = Uniform(random, n);
        var y = Uniform(random, n);
        using var reduction = width is { } w ? new Reduction(k.Accelerator, w) : null;
        var vectors = reduction is null ? k.Vectors : new VectorOps(k.Accelerator, k.Choice, k.Host, reduction);
        using var dX = Upload(k.Accelerator, x);
        using var dY = Upload(k.Accelerator, y);
        using var result = Poisoned(k.Accelerator, 1);
        run(vectors, result.View, dX.View, dY.View);
        return Comparison.Compare(name, shape, Download(result), [reference(x, y)], Sums);
    }

    private static CheckResult ScalarCheck(KernelSet k, KernelVariant variant, ScalarOp op, double a, double b)
    {
        double expected = op switch
        {
            ScalarOp.Add => a + b,
            ScalarOp.Subtract => a - b,
            ScalarOp.Multiply => a * b,
            _ => b == 0 ? 0 : a / b,
        };
        using var dA = Upload(k.Accelerator, [a]);
        using var dB = Upload(k.Accelerator, [b]);
        using var result = Poisoned(k.Accelerator, 1);
        k.Vectors.Scalar(result.View, dA.View, op, dB.View, variant);
        return Comparison.Compare($"vector.scalar-{op.ToString().ToLowerInvariant()}", $"a={a} b={b}",
            Download(result), [expected], Elementwise);
    }
}
