using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// Video's temporal term as one more objective term (issue 26): the device objective, whole and tiled, against the
/// double-precision reference with the same term; the reference against central differences; the plan equal to the
/// allocation; and an objective that takes another content image equal to one built for it.
/// </summary>
public sealed class TemporalObjectiveTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static readonly StyleOptions Options = new()
    {
        ContentLayers = ["relu2_2"],
        StyleLayers = ["relu1_1", "relu2_1", "relu3_1"],
        TemporalWeight = 2e3f, // large enough that the term is a good part of the loss
    };

    /// <summary>A warped previous frame and its reliability: the image shifted, weights 0 on a band and a few
    /// fractions.</summary>
    private static (float[] Target, float[] Weights) Temporal(NetworkImage x, int seed)
    {
        var random = new Random(seed);
        var target = x.Data.Select(v => v + (float)(random.NextDouble() * 20 - 10)).ToArray();
        var weights = Enumerable.Range(0, x.Shape.PlaneLength)
            .Select(p => p % x.Shape.Width < 3 ? 0f : p % 7 == 0 ? 0.5f : 1f).ToArray();
        return (target, weights);
    }

    private IStyleObjective Create(VggWeights weights, NetworkImage content, NetworkImage style, int? tileCore) =>
        StyleObjectives.Create(ObjectivePlan.Build(LossPlan.Build(weights, Options, 1, temporal: true), weights,
            Kernels.Choice, content.Shape, [style.Shape], tileCore), Kernels, weights,
            new ObjectiveImages(content, [style]));

    [TestCase(null)]
    [TestCase(8)]
    public void TheTermMatchesTheReferenceWholeAndTiled(int? tileCore)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(37, 29, seed: 80);
        var style = TinyVgg.Image(30, 33, seed: 81);
        var x = TinyVgg.Image(37, 29, seed: 82);
        var (target, mask) = Temporal(x, 83);
        using var objective = Create(weights, content, style, tileCore);
        Assert.That(objective.Plan.IsTiled, Is.EqualTo(tileCore is not null), "the case tiles when asked");
        objective.SetTemporalTarget(target, mask);
        var (gradient, losses, loss) = DeviceEvaluation.Of(Accelerator, objective, x);

        var reference = new ReferenceObjective(weights, content, [style], Options);
        reference.SetTemporal(ReferenceObjective.ToDouble(target), ReferenceObjective.ToDouble(mask),
            Options.TemporalWeight!.Value);
        var expectedGradient = new double[x.Data.Length];
        var expected = reference.Evaluate(ReferenceObjective.ToDouble(x.Data), expectedGradient);

        Assert.Multiple(() =>
        {
            Assert.That(reference.LastTemporal, Is.GreaterThan(0.05 * expected.Total), "the term counts");
            Assert.That(losses.Temporal, Is.EqualTo(reference.LastTemporal).Within(1e-5 * expected.Total), "temporal");
            Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-5 * expected.Total), "total");
            Assert.That(loss, Is.EqualTo(losses.Total), "the optimizer's loss is the total");
            double scale = expectedGradient.Max(Math.Abs);
            var result = Comparison.Compare("gradient", "", gradient, expectedGradient,
                new Tolerance(1e-4 * scale, 1e-4));
            Assert.That(result.Passed, Is.True, result.Detail);
        });
    }

    [Test]
    public void TheReferenceGradientMatchesCentralDifferences()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(16, 17, seed: 84);
        var style = TinyVgg.Image(17, 16, seed: 85);
        var x = TinyVgg.Image(16, 17, seed: 86);
        var (target, mask) = Temporal(x, 87);
        var reference = new ReferenceObjective(weights, content, [style], Options);
        reference.SetTemporal(ReferenceObjective.ToDouble(target), ReferenceObjective.ToDouble(mask), 2e3);
        var point = ReferenceObjective.ToDouble(x.Data);
        var gradient = new double[point.Length];
        reference.Evaluate(point, gradient);
        var random = new Random(88);
        for (int trial = 0; trial < 6; trial++)
        {
            var direction = Enumerable.Range(0, point.Length).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            double analytic = direction.Zip(gradient, (d, g) => d * g).Sum();
            double Along(double h) => reference.Evaluate(point.Zip(direction, (v, d) => v + h * d).ToArray(), null)
                .Total;
            double numeric = (Along(1e-3) - Along(-1e-3)) / 2e-3;
            Assert.That(numeric, Is.EqualTo(analytic).Within(1e-5 * Math.Abs(analytic)), $"trial {trial}");
        }
    }

    [TestCase(null)]
    [TestCase(8)]
    public void ThePlanIsWhatTheObjectiveAllocates(int? tileCore)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(37, 29, seed: 80);
        var style = TinyVgg.Image(30, 33, seed: 81);
        using var objective = Create(weights, content, style, tileCore);
        var memory = objective.Plan.Memory!;
        Assert.That(memory.Total, Is.EqualTo(objective.Memory.PeakBytes));
        Assert.That(memory.Held, Is.EqualTo(objective.Memory.CurrentBytes));
        var without = ObjectivePlan.Build(LossPlan.Build(weights, Options, 1), weights, Kernels.Choice,
            content.Shape, [style.Shape], tileCore).Memory!;
        Assert.That(memory.Held - without.Held, Is.EqualTo(sizeof(float) * (4L * 37 * 29 + 1)),
            "the target, the weights and one scalar");
    }

    /// <summary>A batch's next image or a video's next frame through the same objective: the same loss and
    /// gradient, to the bit, as an objective built for that image.</summary>
    [TestCase(null)]
    [TestCase(8)]
    public void AnObjectiveThatTakesANewContentEqualsOneBuiltForIt(int? tileCore)
    {
        var weights = TinyVgg.Create();
        var first = TinyVgg.Image(37, 29, seed: 80);
        var second = TinyVgg.Image(37, 29, seed: 90);
        var style = TinyVgg.Image(30, 33, seed: 81);
        var x = TinyVgg.Image(37, 29, seed: 82);
        var (target, mask) = Temporal(x, 83);
        using var reused = Create(weights, first, style, tileCore);
        DeviceEvaluation.Of(Accelerator, reused, x); // the network holds the first image's evaluation
        reused.ReplaceContent(second);
        reused.SetTemporalTarget(target, mask);
        using var fresh = Create(weights, second, style, tileCore);
        fresh.SetTemporalTarget(target, mask);
        Assert.That(reused.Plan.SameAs(fresh.Plan), Is.True, "plans made from the same values are the same");
        var (gradient, losses, _) = DeviceEvaluation.Of(Accelerator, reused, x);
        var (expectedGradient, expected, _) = DeviceEvaluation.Of(Accelerator, fresh, x);
        Assert.Multiple(() =>
        {
            Assert.That(losses, Is.EqualTo(expected));
            Assert.That(gradient, Is.EqualTo(expectedGradient));
        });
    }

    [Test]
    public void PlansDifferWhenTheirValuesDo()
    {
        var weights = TinyVgg.Create();
        ObjectivePlan Plan(StyleOptions options, int height, int? core = null, bool temporal = true) =>
            ObjectivePlan.Build(LossPlan.Build(weights, options, 1, temporal: temporal), weights, Kernels.Choice,
                new ChwShape(3, height, 29), [new ChwShape(3, 30, 33)], core);
        var plan = Plan(Options, 37);
        Assert.Multiple(() =>
        {
            Assert.That(plan.SameAs(Plan(Options, 37)), Is.True);
            Assert.That(plan.SameAs(Plan(Options, 38)), Is.False, "another size");
            Assert.That(plan.SameAs(Plan(Options with { StyleWeight = 3 }, 37)), Is.False, "another weight");
            Assert.That(plan.SameAs(Plan(Options, 37, temporal: false)), Is.False, "no temporal term");
            Assert.That(plan.SameAs(Plan(Options, 37, core: 8)), Is.False, "tiled");
        });
    }

    [Test]
    public void TheTermIsRefusedOnTheLuminanceAndForATexture()
    {
        var weights = TinyVgg.Create();
        Assert.Multiple(() =>
        {
            Assert.That(() => LossPlan.Build(weights, Options, 1, luminance: true, temporal: true),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("luminance-only"));
            Assert.That(() => LossPlan.Build(weights, Options, 1, ObjectiveKind.Texture, temporal: true),
                Throws.TypeOf<StyleSetupException>());
        });
    }
}
