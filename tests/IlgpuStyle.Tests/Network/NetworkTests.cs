using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>The network and the whole objective on the device against the double-precision reference.</summary>
public sealed class NetworkTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static readonly StyleOptions AllLayers = new()
    {
        ContentLayers = ["relu4_2"],
        StyleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
    };

    /// <summary>
    /// Device values against reference values with a tolerance scaled to the reference's largest magnitude.
    /// </summary>
    private static void AssertClose(string what, float[] actual, double[] reference, double relative = 1e-4)
    {
        double scale = reference.Max(Math.Abs);
        var result = Comparison.Compare(what, "", actual, reference, new Tolerance(relative * scale, relative));
        Assert.That(result.Passed, Is.True,
            $"{what}: max abs {result.MaxAbsError:G3} (scale {scale:G3}); {result.Detail}");
    }

    /// <summary>
    /// One evaluation of the objective on the device, and the same on the double-precision reference.
    /// </summary>
    private (float[] Gradient, LossBreakdown Losses, float Loss,
        (double Total, double Content, double Style, double Tv) Expected, double[] ExpectedGradient)
        DeviceAndReference(IlgpuStyle.Network.Weights.VggWeights weights, NetworkImage content, NetworkImage[] styles,
            NetworkImage x, StyleOptions options)
    {
        using var objective = Objectives.Create(Kernels, weights, content, styles, options);
        var (gradient, losses, loss) = DeviceEvaluation.Of(Accelerator, objective, x);
        var reference = new ReferenceObjective(weights, content, styles, options);
        var expectedGradient = new double[x.Data.Length];
        var expected = reference.Evaluate(ReferenceObjective.ToDouble(x.Data), expectedGradient);
        return (gradient, losses, loss, expected, expectedGradient);
    }

    [Test]
    public void ForwardMatchesTheCpuReferenceAtEveryBlock()
    {
        var weights = TinyVgg.Create();
        var image = TinyVgg.Image(20, 24, seed: 1);
        using var memory = new DeviceMemory(Accelerator);
        string[] kept = ["relu1_1", "relu1_2", "relu2_2", "relu3_4", "relu4_2", "relu5_1"];
        var plan = NetworkPlan.Build(weights, 20, 24, Pooling.Max, kept, Kernels.Choice);
        var filters = new PreparedFilters(Kernels, weights, memory);
        filters.Hold(plan.Filters());
        var network = new VggNetwork(Kernels, memory, weights, plan, filters);
        using var input = Accelerator.Allocate1D(image.Data);
        network.Forward(input.View, new Tape());
        Accelerator.Synchronize();

        var reference = new ReferenceObjective(weights, image, [image], AllLayers);
        var steps = reference.Forward(ReferenceObjective.ToDouble(image.Data), image.Shape);
        foreach (string layer in kept)
        {
            var actual = network.Activation(layer).View.SubView(0, network.Activation(layer).Shape.Length);
            var host = new float[actual.Length];
            actual.CopyToCPU(host);
            AssertClose(layer, host, steps.Single(s => s.Name == layer).Output);
        }
    }

    /// <summary>
    /// Keeping only the deepest output, every other tensor of the forward pass lives in the two
    /// shared buffers in turn: the result must not change, and the layers not kept are not readable.
    /// </summary>
    [TestCase(Pooling.Max)]
    [TestCase(Pooling.Avg)]
    [TestCase(Pooling.L2)]
    public void ForwardThroughTheSharedBuffersMatchesTheReference(Pooling pooling)
    {
        var weights = TinyVgg.Create();
        var image = TinyVgg.Image(19, 22, seed: 6);
        using var memory = new DeviceMemory(Accelerator);
        var plan = NetworkPlan.Build(weights, 19, 22, pooling, ["relu5_1"], Kernels.Choice);
        var filters = new PreparedFilters(Kernels, weights, memory);
        filters.Hold(plan.Filters());
        var network = new VggNetwork(Kernels, memory, weights, plan, filters);
        using var input = Accelerator.Allocate1D(image.Data);
        network.Forward(input.View, new Tape());
        Accelerator.Synchronize();

        var reference = new ReferenceObjective(weights, image, [image], AllLayers with { Pooling = pooling });
        var steps = reference.Forward(ReferenceObjective.ToDouble(image.Data), image.Shape);
        var actual = new float[network.Activation("relu5_1").Shape.Length];
        network.Activation("relu5_1").View.CopyToCPU(actual);
        AssertClose("relu5_1", actual, steps.Single(s => s.Name == "relu5_1").Output);
        Assert.That(network.OutputShape("relu3_2"), Is.EqualTo(steps.Single(s => s.Name == "relu3_2").OutShape));
        var error = Assert.Throws<ArgumentException>(() => network.Activation("relu3_2"));
        Assert.That(error!.Message, Does.Contain("does not keep relu3_2"));
    }

    /// <summary>
    /// What VGG-19 keeps with SPEC.md's default layers: outputs with a loss, masks as bits or folded into max pooling.
    /// </summary>
    [Test]
    public void ThePlanKeepsTappedOutputsAndTheLeastMaskTheBackwardNeeds()
    {
        string[] tapped = [.. AllLayers.ContentLayers, .. AllLayers.StyleLayers];
        var plan = NetworkPlan.Build(TinyVgg.Create(), 64, 64, Pooling.Max, tapped, Kernels.Choice);
        var convs = plan.Layers.Where(l => l.Conv is not null).ToDictionary(l => l.ReluName!);
        Assert.Multiple(() =>
        {
            Assert.That(convs.Values.Where(l => l.Kept).Select(l => l.ReluName), Is.EquivalentTo(tapped));
            Assert.That(convs.Values.Where(l => l.Mask == ReluMaskSource.MaxPooling).Select(l => l.ReluName),
                Is.EquivalentTo(new[] { "relu1_2", "relu2_2", "relu3_4", "relu4_4" }));
            Assert.That(convs.Values.Where(l => l.Mask == ReluMaskSource.Bits).Select(l => l.ReluName),
                Is.EquivalentTo(new[] { "relu3_2", "relu3_3", "relu4_3" }));
            Assert.That(plan.Layers.Where(l => l.Conv is null).All(l => !l.Kept && l.Scratch >= 0),
                "pooling outputs live in the shared buffers");
            var inScratch = plan.Layers.Zip(plan.Layers.Skip(1)).Where(p => !p.First.Kept && !p.Second.Kept);
            Assert.That(inScratch.All(p => p.First.Scratch != p.Second.Scratch),
                "a layer never writes the buffer it reads");
        });
        var beforePool = NetworkPlan.Build(TinyVgg.Create(), 64, 64, Pooling.Max, ["relu1_2", "relu3_1"],
            Kernels.Choice);
        Assert.That(beforePool.Layers.Single(l => l.ReluName == "relu1_2").Mask, Is.EqualTo(ReluMaskSource.KeptOutput),
            "a loss's gradient reaches every element: a kept output masks itself even before a pooling");
        var avg = NetworkPlan.Build(TinyVgg.Create(), 64, 64, Pooling.Avg, tapped, Kernels.Choice);
        Assert.That(avg.Layers.Count(l => l.Mask == ReluMaskSource.Bits && l.Conv is not null), Is.EqualTo(7),
            "average pooling cannot carry the mask");
        var l2 = NetworkPlan.Build(TinyVgg.Create(), 64, 64, Pooling.L2, tapped, Kernels.Choice);
        string[] belowPools = ["relu1_2", "relu2_2", "relu3_4", "relu4_4"];
        Assert.Multiple(() =>
        {
            Assert.That(l2.Layers.Where(l => l.Kept).Select(l => l.ReluName),
                Is.EquivalentTo(tapped.Concat(belowPools)),
                "L2 pooling's backward reads its input: the ReLU output below each pooling is kept");
            Assert.That(l2.Layers.Where(l => belowPools.Contains(l.ReluName)).Select(l => l.Mask),
                Is.All.EqualTo(ReluMaskSource.KeptOutput), "and masks itself");
            Assert.That(l2.DeviceBytes() - avg.DeviceBytes(), Is.EqualTo(
                l2.Layers.Where(l => belowPools.Contains(l.ReluName))
                    .Sum(l => 4L * l.Output.Length - 4L * Relu.MaskWords(l.Output.Length))),
                "the kept outputs, less the masks average pooling keeps instead");
        });
    }

    /// <summary>
    /// Losses on layers right before a max pooling (relu1_2, relu2_2; VGG-16's usual relu3_3): the
    /// loss adds gradient at every element, so the ReLU must mask it although the pooling already
    /// masks what comes back through it.
    /// </summary>
    [TestCase("vgg19", "relu2_2", "relu1_2,relu3_1", Pooling.Max)]
    [TestCase("vgg16", "relu3_3", "relu1_2,relu2_2,relu4_1", Pooling.Max)]
    [TestCase("vgg19", "relu1_2", "relu2_1", Pooling.Avg)]
    [TestCase("vgg16", "relu3_3", "relu1_2,relu2_2,relu4_1", Pooling.L2)]
    public void LossesBeforeAPoolingMatchTheCpuReference(
        string arch, string contentLayer, string styleLayers, Pooling pooling)
    {
        var weights = TinyVgg.Create("caffe", arch);
        var content = TinyVgg.Image(18, 21, seed: 12);
        NetworkImage[] styles = [TinyVgg.Image(17, 16, seed: 13)];
        var x = TinyVgg.Image(18, 21, seed: 14);
        var options = new StyleOptions { ContentLayers = [contentLayer], StyleLayers = styleLayers.Split(','),
            Pooling = pooling };

        var run = DeviceAndReference(weights, content, styles, x, options);
        Assert.That(run.Losses.Total, Is.EqualTo(run.Expected.Total).Within(1e-3).Percent, "loss");
        AssertClose("gradient", run.Gradient, run.ExpectedGradient, relative: 1e-3);
    }

    [TestCase("caffe", Pooling.Max, "vgg19")]
    [TestCase("caffe", Pooling.Avg, "vgg19")]
    [TestCase("caffe", Pooling.L2, "vgg19")]
    [TestCase("torchvision", Pooling.L2, "vgg16")]
    [TestCase("torchvision", Pooling.Max, "vgg19")]
    [TestCase("torchvision", Pooling.Max, "vgg16")]
    public void LossAndGradientMatchTheCpuReference(string preprocess, Pooling pooling, string arch)
    {
        var weights = TinyVgg.Create(preprocess, arch);
        var content = TinyVgg.Image(18, 21, seed: 2, preprocess);
        NetworkImage[] styles = [TinyVgg.Image(17, 16, seed: 3, preprocess),
            TinyVgg.Image(22, 19, seed: 4, preprocess)];
        var x = TinyVgg.Image(18, 21, seed: 5, preprocess);
        var options = AllLayers with { Pooling = pooling, StyleBlendWeights = [3f, 1f],
            StyleLayerWeights = [1f, 0.5f, 2f, 1f, 1f] };

        var (gradient, losses, loss, expected, expectedGradient) = DeviceAndReference(
            weights, content, styles, x, options);

        // The content loss in float is within 1e-6 relative of the double reference: 3.5e-7 and 7e-7 here with max
        // and average pooling, 1.0e-6 with L2 pooling, whose three poolings before relu4_2 add a root and a division
        // per window to the float rounding; so L2 gets twice the bound.
        double contentPercent = pooling == Pooling.L2 ? 2e-4 : 1e-4;
        Assert.Multiple(() =>
        {
            Assert.That(losses.Content, Is.EqualTo(expected.Content).Within(contentPercent).Percent, "content");
            Assert.That(losses.Style, Is.EqualTo(expected.Style).Within(1e-3).Percent, "style");
            Assert.That(losses.TotalVariation, Is.EqualTo(expected.Tv).Within(1e-4).Percent, "tv");
            Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-3).Percent, "total");
            Assert.That(loss, Is.EqualTo(losses.Total), "the loss view holds the total");
        });
        AssertClose("gradient", gradient, expectedGradient, relative: 1e-3);
    }

    [Test]
    public void EachTermAloneEqualsItsSpecFormula()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 18, seed: 6);
        var style = TinyVgg.Image(16, 16, seed: 7);
        var x = TinyVgg.Image(16, 18, seed: 8);
        var reference = new ReferenceObjective(weights, content, [style], AllLayers);
        var xRun = reference.Forward(ReferenceObjective.ToDouble(x.Data), x.Shape);
        var contentRun = reference.Forward(ReferenceObjective.ToDouble(content.Data), content.Shape);
        var styleRun = reference.Forward(ReferenceObjective.ToDouble(style.Data), style.Shape);

        // Content: w_c * mean((F(x) - F(content))^2) at relu4_2, by hand.
        var f = xRun.Single(s => s.Name == "relu4_2").Output;
        var p = contentRun.Single(s => s.Name == "relu4_2").Output;
        double expectedContent = 2.5 * f.Zip(p, (a, b) => (a - b) * (a - b)).Sum() / f.Length;

        // Style: w_s * sum_l mean((G_l(x) - G_l(style))^2), G = F F^T / (C*H*W), by hand.
        double expectedStyle = 0;
        foreach (string layer in AllLayers.StyleLayers)
        {
            var gx = HandGram(xRun.Single(s => s.Name == layer));
            var gs = HandGram(styleRun.Single(s => s.Name == layer));
            expectedStyle += 40.0 * gx.Zip(gs, (a, b) => (a - b) * (a - b)).Sum() / gx.Length;
        }

        // TV: (w/2) * sum over i < H-1, j < W-1 of both squared differences, by hand.
        double expectedTv = 0;
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < 15; i++)
        for (int j = 0; j < 17; j++)
        {
            double here = x.Data[(c * 16 + i) * 18 + j];
            expectedTv += Math.Pow(here - x.Data[(c * 16 + i) * 18 + j + 1], 2)
                + Math.Pow(here - x.Data[(c * 16 + i + 1) * 18 + j], 2);
        }
        expectedTv *= 0.02 / 2;

        var contentOnly = AllLayers with { ContentWeight = 2.5f, StyleWeight = 0f, TvWeight = 0f };
        var styleOnly = AllLayers with { ContentWeight = 0f, StyleWeight = 40f, TvWeight = 0f };
        var tvOnly = AllLayers with { ContentWeight = 0f, StyleWeight = 0f, TvWeight = 0.02f };
        Assert.Multiple(() =>
        {
            Assert.That(Losses(weights, content, style, x, contentOnly),
                Is.EqualTo(new[] { expectedContent, expectedContent, 0, 0 }).Within(1e-4).Percent);
            Assert.That(Losses(weights, content, style, x, styleOnly),
                Is.EqualTo(new[] { expectedStyle, 0, expectedStyle, 0 }).Within(1e-3).Percent);
            Assert.That(Losses(weights, content, style, x, tvOnly),
                Is.EqualTo(new[] { expectedTv, 0, 0, expectedTv }).Within(1e-4).Percent);
        });
    }

    private static double[] HandGram(ReferenceObjective.Step step)
    {
        int c = step.OutShape.Channels, m = step.OutShape.PlaneLength;
        var gram = new double[c * c];
        for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
        {
            double sum = 0;
            for (int k = 0; k < m; k++) sum += step.Output[i * m + k] * step.Output[j * m + k];
            gram[i * c + j] = sum / step.OutShape.Length;
        }
        return gram;
    }

    private double[] Losses(IlgpuStyle.Network.Weights.VggWeights weights, NetworkImage content, NetworkImage style,
        NetworkImage x, StyleOptions options)
    {
        using var objective = Objectives.Create(Kernels, weights, content, [style], options);
        var (_, l, _) = DeviceEvaluation.Of(Accelerator, objective, x);
        return [l.Total, l.Content, l.Style, l.TotalVariation];
    }

    [Test]
    public void Vgg16HasItsOwnLayers()
    {
        var weights = TinyVgg.Create(arch: "vgg16");
        var image = TinyVgg.Image(16, 16, seed: 22);
        using var objective = Objectives.Create(Kernels, weights, image, [image], AllLayers);
        Assert.That(objective.Plan.LayerNames.Count(n => n.StartsWith("conv", StringComparison.Ordinal)),
            Is.EqualTo(11), "conv1_1 .. conv5_1 of VGG-16");
        Assert.That(objective.Plan.LayerNames, Does.Not.Contain("conv3_4"));
        Assert.That(() => Objectives.Create(
            Kernels, weights, image, [image], AllLayers with { StyleLayers = ["relu3_4"] }),
            Throws.TypeOf<StyleSetupException>().With.Message.StartsWith("Unknown style layer 'relu3_4'"));
    }

    [Test]
    public void TheNetworkStopsAtTheDeepestLayerAnyLossNeeds()
    {
        var weights = TinyVgg.Create();
        var image = TinyVgg.Image(16, 16, seed: 9);
        var options = new StyleOptions { ContentLayers = ["relu2_2"], StyleLayers = ["relu1_1", "relu2_1"] };
        using var objective = Objectives.Create(Kernels, weights, image, [image], options);
        Assert.That(objective.Plan.LayerNames, Is.EqualTo(new[] { "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
            "conv2_1", "relu2_1", "conv2_2", "relu2_2" }));

        var styleOnly = options with { ContentWeight = 0f };
        using var shallower = Objectives.Create(Kernels, weights, image, [image], styleOnly);
        Assert.That(shallower.Plan.LayerNames.Last(), Is.EqualTo("relu2_1"),
            "a content layer with weight 0 needs no layers");
    }

    [Test]
    public void MaxAndAveragePoolingGiveDifferentLosses()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 16, seed: 10);
        var style = TinyVgg.Image(16, 16, seed: 11);
        var x = TinyVgg.Image(16, 16, seed: 12);
        var max = Losses(weights, content, style, x, AllLayers with { Pooling = Pooling.Max });
        var avg = Losses(weights, content, style, x, AllLayers with { Pooling = Pooling.Avg });
        Assert.That(avg[1], Is.Not.EqualTo(max[1]).Within(1).Percent, "content (relu4_2 is after three pools)");
        Assert.That(avg[2], Is.Not.EqualTo(max[2]).Within(1).Percent, "style");
        Assert.That(avg[3], Is.EqualTo(max[3]), "TV is on the input: pooling cannot change it");
    }

    [Test]
    public void BlendWeightsOfOneAndZeroEqualASingleStyle()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 17, seed: 13);
        var a = TinyVgg.Image(18, 16, seed: 14);
        var b = TinyVgg.Image(16, 20, seed: 15);
        var x = TinyVgg.Image(16, 17, seed: 16);
        using var single = Objectives.Create(Kernels, weights, content, [a], AllLayers);
        using var blended = Objectives.Create(
            Kernels, weights, content, [a, b], AllLayers with { StyleBlendWeights = [1f, 0f] });
        var (g1, l1, _) = DeviceEvaluation.Of(Accelerator, single, x);
        var (g2, l2, _) = DeviceEvaluation.Of(Accelerator, blended, x);
        Assert.That(l2.Style, Is.EqualTo(l1.Style).Within(1e-5).Percent);
        Assert.That(g2, Is.EqualTo(g1).Within(1e-4).Percent);
    }

    [Test]
    public void EvaluationsAllocateNothing()
    {
        var weights = TinyVgg.Create();
        var image = TinyVgg.Image(16, 16, seed: 17);
        using var objective = Objectives.Create(
            Kernels, weights, image, [image], AllLayers with { NormalizeGradients = true });
        using var input = Accelerator.Allocate1D(image.Data);
        using var gradient = Accelerator.Allocate1D<float>(image.Data.Length);
        using var loss = Accelerator.Allocate1D<float>(1);
        objective.Evaluate(input.View, gradient.View, loss.View);
        int allocations = objective.Memory.AllocationCount;
        long bytes = objective.Memory.CurrentBytes;
        for (int i = 0; i < 3; i++) objective.Evaluate(input.View, gradient.View, loss.View);
        Accelerator.Synchronize();
        Assert.That(objective.Memory.AllocationCount, Is.EqualTo(allocations));
        Assert.That(objective.Memory.CurrentBytes, Is.EqualTo(bytes));
        Assert.That(objective.Memory.PeakBytes, Is.GreaterThanOrEqualTo(bytes));
    }

    /// <summary>
    /// neural-style's <c>-normalize_gradients</c>: what each tap adds to the gradient flowing down is
    /// <c>w g / |g|_1</c>, so its L1 norm is the tap's weight w (unit norm per unit weight) whatever the
    /// layer's scale, and it points along the tap's plain gradient <c>w g</c>.
    /// </summary>
    [TestCase("content")]
    [TestCase("style")]
    public void NormalizedGradientsGiveEachTapUnitL1Norm(string kind)
    {
        const float weight = 3f;
        var shape = new ChwShape(3, 5, 7);
        var random = new Random(22);
        using var memory = new DeviceMemory(Accelerator);
        var activation = new DeviceTensor(Upload(memory, TestData.Uniform(random, shape.Length, 0, 2)), shape);
        int targetLength = kind == "content" ? shape.Length : shape.Channels * shape.Channels;
        var target = Upload(memory, TestData.Uniform(random, targetLength, 0, 2));
        var loss = memory.Floats(1).View;
        var normalizer = new GradientNormalizer(Kernels, memory, shape.Length);
        ILossTap Tap(GradientNormalizer? n) => kind == "content"
            ? new ContentLoss("relu1_1", Kernels, target, loss, weight, n)
            : new StyleLoss("relu1_1", shape, Kernels, memory, target, loss, weight, n);

        // What the tap adds (it accumulates: start from a non-zero gradient and subtract it again).
        double[] below = TestData.Uniform(random, shape.Length);
        float[] Added(ILossTap tap, double[] start)
        {
            var dActivation = Upload(memory, start);
            Kernels.Vectors.Fill(loss, 0f);
            tap.Forward(activation);
            tap.Backward(dActivation, activation);
            var result = new float[shape.Length];
            dActivation.CopyToCPU(result);
            return result.Select((v, i) => (float)(v - start[i])).ToArray();
        }
        float[] normalized = Added(Tap(normalizer), below);
        float[] plain = Added(Tap(null), new double[shape.Length]);

        double plainNorm = plain.Sum(v => Math.Abs((double)v));
        Assert.That(plainNorm, Is.GreaterThan(0), "the test needs a tap with a gradient");
        Assert.That(normalized.Sum(v => Math.Abs((double)v)), Is.EqualTo(weight).Within(1e-3).Percent,
            $"the {kind} tap's normalized gradient has L1 norm w");
        AssertClose($"{kind} tap direction", normalized, plain.Select(v => v * weight / plainNorm).ToArray());
    }

    /// <summary>
    /// In the whole objective, with one content tap and nothing else, the backward pass is linear in
    /// what the tap adds: the normalized gradient of x is the plain one divided by the tap's raw
    /// gradient norm <c>|2 (F - P) / N|_1</c> (the loss value is unchanged).
    /// </summary>
    [Test]
    public void NormalizedGradientsDivideTheObjectivesGradientByTheTapsNorm()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 16, seed: 18);
        var x = TinyVgg.Image(16, 16, seed: 19);
        var options = new StyleOptions { StyleWeight = 0f, TvWeight = 0f, ContentWeight = 3f };
        using var plain = Objectives.Create(Kernels, weights, content, [], options);
        using var normalized = Objectives.Create(Kernels, weights, content, [],
            options with { NormalizeGradients = true });
        var (g1, l1, _) = DeviceEvaluation.Of(Accelerator, plain, x);
        var (g2, l2, _) = DeviceEvaluation.Of(Accelerator, normalized, x);
        Assert.That(l2.Content, Is.EqualTo(l1.Content).Within(1e-5).Percent);

        var reference = new ReferenceObjective(weights, content, [content], options);
        double[] Features(NetworkImage image) => reference.Forward(ReferenceObjective.ToDouble(image.Data), image.Shape)
            .Single(s => s.Name == "relu4_2").Output;
        double[] f = Features(x), p = Features(content);
        double tapNorm = f.Select((v, i) => Math.Abs(2 * (v - p[i]) / f.Length)).Sum();
        AssertClose("normalized gradient", g2, g1.Select(v => v / tapNorm).ToArray(), relative: 1e-3);
    }

    private static ArrayView<float> Upload(DeviceMemory memory, double[] values) =>
        memory.Upload(Array.ConvertAll(values, v => (float)v)).View;

    [Test]
    public void BadSettingsAreRefusedWithAClearMessage()
    {
        var weights = TinyVgg.Create();
        var image = TinyVgg.Image(16, 16, seed: 20);
        Assert.Multiple(() =>
        {
            Assert.That(() => Objectives.Create(
                Kernels, weights, image, [image], AllLayers with { ContentLayers = ["relu9_9"] }),
                Throws.TypeOf<StyleSetupException>().With.Message.StartsWith("Unknown content layer 'relu9_9'"));
            Assert.That(() => Objectives.Create(
                Kernels, weights, image, [image], AllLayers with { StyleBlendWeights = [1f, 1f] }),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("1 style images but 2 blend weights"));
            Assert.That(() => Objectives.Create(
                Kernels, weights, image, [image], AllLayers with { StyleLayerWeights = [1f] }),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("5 style layers but 1 style layer weights"));
            Assert.That(() => Objectives.Create(Kernels, weights, image, [], AllLayers),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("at least one style image"));
            var tiny = TinyVgg.Image(7, 9, seed: 21);
            Assert.That(() => Objectives.Create(Kernels, weights, tiny, [tiny], AllLayers),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("too small to reach relu"));
        });
    }
}
