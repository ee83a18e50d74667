using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The objective's plan: its bytes equal the peak the objective really allocates, so "needs about X, --size N
/// fits" is a promise, not a guess; and what it decides (the layers, their weights, a texture's kind) is what the
/// objective does.
/// </summary>
public sealed class ObjectivePlanTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new StyleOptions(), 1).SetArgDisplayNames("defaults, one style");
        yield return new TestCaseData(new StyleOptions { Pooling = Pooling.Avg, NormalizeGradients = true }, 2)
            .SetArgDisplayNames("avg, normalized, two styles");
        yield return new TestCaseData(new StyleOptions { Pooling = Pooling.L2 }, 2)
            .SetArgDisplayNames("l2 (the ReLU outputs below the poolings kept), two styles");
        yield return new TestCaseData(new StyleOptions { StyleWeight = 0f }, 1).SetArgDisplayNames("content only");
        var shallow = new StyleOptions { ContentLayers = ["relu1_2"], StyleLayers = ["relu1_1", "relu3_2"] };
        yield return new TestCaseData(shallow, 1)
            .SetArgDisplayNames("shallow layers");
        yield return new TestCaseData(new StyleOptions { ContentWeight = 0f, StyleWeight = 0f }, 1)
            .SetArgDisplayNames("tv only");
        yield return new TestCaseData(new StyleOptions { StyleLoss = StyleLossKind.W2 }, 2)
            .SetArgDisplayNames("w2, two styles");
        yield return new TestCaseData(new StyleOptions { StyleLoss = StyleLossKind.W2, NormalizeGradients = true }, 1)
            .SetArgDisplayNames("w2, normalized");
    }

    [TestCaseSource(nameof(Cases))]
    public void ThePlanIsWhatTheObjectiveAllocates(StyleOptions options, int styleCount)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(21, 18, seed: 50);
        var styles = new[] { TinyVgg.Image(26, 20, seed: 51), TinyVgg.Image(16, 30, seed: 52) }
            .Take(styleCount).ToList();
        using var objective = Objectives.Create(Kernels, weights, content, styles, options);
        var plan = Objectives.Plan(weights, Kernels.Choice, content.Shape, styles.Select(s => s.Shape).ToList(),
            options).Memory!;
        Assert.That(plan.Total, Is.EqualTo(objective.Memory.PeakBytes));
        Assert.That(plan.Held, Is.EqualTo(objective.Memory.CurrentBytes), "the parts are what it holds");
    }

    /// <summary>
    /// A texture is its own kind: no content image, no content layer (whatever the options name), nothing
    /// forwarded for a content; the plan still equals the allocation, untiled and tiled.
    /// </summary>
    [TestCase(null)]
    [TestCase(8)]
    public void ATextureHasNoContentTermAndThePlanIsItsAllocation(int? tileCore)
    {
        var weights = TinyVgg.Create();
        var shape = new ChwShape(3, 44, 50);
        var style = TinyVgg.Image(26, 20, seed: 51);
        var options = new StyleOptions { ContentLayers = ["relu5_1"], StyleLayers = ["relu1_1", "relu2_1"] };
        var plan = Objectives.Plan(weights, Kernels.Choice, shape, [style.Shape], options, tileCore,
            kind: ObjectiveKind.Texture);
        Assert.Multiple(() =>
        {
            Assert.That(plan.Loss.Content, Is.Empty);
            Assert.That(plan.Loss.Weights.Content, Is.Zero);
            Assert.That(plan.Loss.DeepestLayer, Is.EqualTo("relu2_1"), "the content layer does not deepen it");
            Assert.That(plan.IsTiled, Is.EqualTo(tileCore is not null));
        });
        using var objective = StyleObjectives.Create(plan, Kernels, weights, new ObjectiveImages(null, [style]));
        Assert.That(plan.Memory!.Total, Is.EqualTo(objective.Memory.PeakBytes));
        var content = TinyVgg.Image(44, 50, seed: 1);
        Assert.That(() => StyleObjectives.Create(plan, Kernels, weights, new ObjectiveImages(content, [style])),
            Throws.ArgumentException.With.Message.Contains("no content image"));

        var x = TinyVgg.Image(44, 50, seed: 53);
        var (gradient, losses, _) = DeviceEvaluation.Of(Accelerator, objective, x);
        Assert.That(losses.Content, Is.Zero);
        Assert.That(losses.Style, Is.GreaterThan(0f));
        Assert.That(gradient.All(float.IsFinite), Is.True);
    }

    /// <summary>The loss is decided once: a layer's term exists only with a weight, each style layer carries
    /// <c>w_s</c> times its own weight, and a style loss without a style image is refused, not dropped.</summary>
    [Test]
    public void TheLossIsDecidedOnce()
    {
        var weights = TinyVgg.Create("caffe");
        var options = new StyleOptions
        {
            ContentLayers = ["relu4_2"], StyleLayers = ["relu1_1", "relu3_1"], StyleLayerWeights = [2f, 0.5f],
            StyleWeight = 10f,
        };
        var loss = LossPlan.Build(weights, options, styleCount: 2);
        Assert.Multiple(() =>
        {
            Assert.That(loss.Style.Select(l => (l.Name, l.Weight, l.Stride)),
                Is.EqualTo(new[] { ("relu1_1", 20f, 1), ("relu3_1", 5f, 4) }));
            Assert.That(loss.Content.Select(l => (l.Name, l.Weight)), Is.EqualTo(new[] { ("relu4_2", 5f) }),
                "the caffe default w_c");
            Assert.That(loss.UsedLayers, Is.EqualTo(new[] { "relu4_2", "relu1_1", "relu3_1" }));
            Assert.That(loss.Blend, Is.EqualTo(new[] { 0.5f, 0.5f }));
            Assert.That(LossPlan.Build(weights, options with { ContentWeight = 0 }, 2).DeepestLayer,
                Is.EqualTo("relu3_1"));
            Assert.That(() => LossPlan.Build(weights, options, styleCount: 0), Throws.TypeOf<StyleSetupException>()
                .With.Message.Contains("at least one style image"));
            Assert.That(LossPlan.Build(weights, options with { StyleWeight = 0 }, styleCount: 0).Style, Is.Empty);
        });
    }
}
