using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Support.DeviceEvaluation;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// A tiled evaluation against the untiled one (issue 14): the same loss (1e-5 relative) and gradient (1e-4
/// relative in L2), whatever the sizes, layers, pooling and architecture; and the memory estimate of a tiled
/// objective equals what it allocates.
/// </summary>
public sealed class TiledObjectiveTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    /// <summary>One case: weights, images, options and the tile core.</summary>
    public sealed record Case(string Arch, Pooling Pooling, int Height, int Width, int Core, StyleOptions Options,
        (int Height, int Width)[] Styles)
    {
        public VggWeights Weights() => TinyVgg.Create(arch: Arch);

        public NetworkImage Content() => TinyVgg.Image(Height, Width, seed: 61);

        public NetworkImage[] StyleImages() =>
            Styles.Select((s, k) => TinyVgg.Image(s.Height, s.Width, seed: 62 + k)).ToArray();

        public StyleOptions Settings => Options with { Pooling = Pooling };
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        var shallow = new StyleOptions
        {
            ContentLayers = ["relu3_2", "relu2_2"],
            StyleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu3_2"],
            StyleLayerWeights = [1f, 0.5f, 2f, 1f],
            StyleBlendWeights = [0.3f, 0.7f],
        };
        // 61 x 53 with cores of 8 (stride 4, halo 16): 8 x 7 tiles, remainders of 5 and 5 rows and columns
        // (last tiles mostly halo); two styles, one tiled, one smaller than a tile.
        yield return Make("vgg19 max, several layers, blended styles", new Case("vgg19", Pooling.Max, 61, 53, 8,
            shallow, [(47, 58), (20, 23)]));
        yield return Make("vgg16 avg, relu4 layers", new Case("vgg16", Pooling.Avg, 130, 120, 24, new StyleOptions
        {
            ContentLayers = ["relu4_2"],
            StyleLayers = ["relu1_2", "relu3_3", "relu4_1"],
        }, [(166, 70)]));
        yield return Make("vgg19 relu5_1, default layers", new Case("vgg19", Pooling.Max, 181, 210, 48,
            new StyleOptions(), [(120, 100)]));
        yield return Make("content only (one pass)", new Case("vgg19", Pooling.Avg, 45, 38, 4, new StyleOptions
        {
            ContentLayers = ["relu2_1", "relu1_2"], StyleWeight = 0f,
        }, [(10, 10)]));
        yield return Make("normalized gradients", new Case("vgg19", Pooling.Max, 59, 44, 8,
            shallow with { NormalizeGradients = true, StyleBlendWeights = null }, [(40, 50)]));
        // L2 pooling pairs the same pixels as the others, so tiles with halos stay exact: 57 x 50, cores of 8.
        yield return Make("vgg19 l2, several layers", new Case("vgg19", Pooling.L2, 57, 50, 8, shallow,
            [(45, 52), (22, 19)]));
    }

    private static TestCaseData Make(string name, Case c) => new TestCaseData(c).SetArgDisplayNames(name);

    [TestCaseSource(nameof(Cases))]
    public void TiledEvaluationEqualsUntiled(Case c)
    {
        var weights = c.Weights();
        var content = c.Content();
        var styles = c.StyleImages();
        var x = TinyVgg.Image(c.Height, c.Width, seed: 70);
        using var untiled = Objectives.Create(Kernels, weights, content, styles, c.Settings);
        using var tiled = Objectives.Create(Kernels, weights, content, styles, c.Settings, tileCore: c.Core);
        Assert.That(tiled.Plan.IsTiled, Is.True, "the case must tile");
        var (expectedGradient, expected, _) = DeviceEvaluation.Of(Accelerator, untiled, x);
        var (gradient, actual, _) = DeviceEvaluation.Of(Accelerator, tiled, x);

        Assert.Multiple(() =>
        {
            Assert.That(actual.Total, Is.EqualTo(expected.Total).Within(1e-5 * Math.Abs(expected.Total)), "total");
            Assert.That(actual.Content, Is.EqualTo(expected.Content).Within(1e-5 * Math.Abs(expected.Total)),
                "content");
            Assert.That(actual.Style, Is.EqualTo(expected.Style).Within(1e-5 * Math.Abs(expected.Total)), "style");
            Assert.That(actual.TotalVariation, Is.EqualTo(expected.TotalVariation), "total variation");
            Assert.That(RelativeL2(gradient, expectedGradient), Is.LessThan(1e-4), "gradient, relative L2");
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void EstimateEqualsThePeakTheTiledObjectiveAllocates(Case c)
    {
        var weights = c.Weights();
        var styles = c.StyleImages();
        var memory = Objectives.Plan(weights, Kernels.Choice, new(3, c.Height, c.Width),
            styles.Select(s => s.Shape).ToList(), c.Settings, c.Core).Memory!;
        using var objective = Objectives.Create(Kernels, weights, c.Content(), styles, c.Settings, c.Core);
        Assert.That(memory.Total, Is.EqualTo(objective.Memory.PeakBytes));
        Assert.That(memory.Held, Is.EqualTo(objective.Memory.CurrentBytes), "the parts are what it holds");
    }

    /// <summary>The tile network is built once: evaluations allocate nothing, and hold one tile's network.</summary>
    [Test]
    public void TiledEvaluationsAllocateNothingAndHoldOneTileNetwork()
    {
        var c = Cases().First().Arguments[0] as Case;
        var weights = c!.Weights();
        using var objective = Objectives.Create(Kernels, weights, c.Content(), c.StyleImages(), c.Settings, c.Core);
        var x = TinyVgg.Image(c.Height, c.Width, seed: 71);
        DeviceEvaluation.Of(Accelerator, objective, x);
        int allocations = objective.Memory.AllocationCount;
        long bytes = objective.Memory.CurrentBytes;
        DeviceEvaluation.Of(Accelerator, objective, x);
        Assert.That(objective.Memory.AllocationCount, Is.EqualTo(allocations));
        Assert.That(objective.Memory.CurrentBytes, Is.EqualTo(bytes));

        var untiled = Objectives.Plan(weights, Kernels.Choice, new(3, c.Height, c.Width),
            c.StyleImages().Select(s => s.Shape).ToList(), c.Settings).Memory!;
        var tiled = Objectives.Plan(weights, Kernels.Choice, new(3, c.Height, c.Width),
            c.StyleImages().Select(s => s.Shape).ToList(), c.Settings, c.Core).Memory!;
        // 41 x 41 tiles of a 61 x 53 image: about half its pixels.
        Assert.That(tiled.Network, Is.LessThan(untiled.Network * 3 / 4), "one tile's network, not the image's");
        Assert.That(tiled.Weights, Is.EqualTo(untiled.Weights), "weights once");
    }

    /// <summary>The untiled estimate by part: the parts are what the objective holds once built.</summary>
    [Test]
    public void UntiledPartsAreWhatTheObjectiveHolds()
    {
        var c = Cases().First().Arguments[0] as Case;
        var weights = c!.Weights();
        var styles = c.StyleImages();
        var memory = Objectives.Plan(weights, Kernels.Choice, new(3, c.Height, c.Width),
            styles.Select(s => s.Shape).ToList(), c.Settings with { NormalizeGradients = true }).Memory!;
        using var objective = Objectives.Create(Kernels, weights, c.Content(), styles,
            c.Settings with { NormalizeGradients = true });
        Assert.That(memory.Held, Is.EqualTo(objective.Memory.CurrentBytes));
        Assert.That(memory.Total, Is.EqualTo(objective.Memory.PeakBytes));
    }

    /// <summary>A core that covers the image: the untiled objective, to the bit.</summary>
    [Test]
    public void ACoreLargerThanTheImageIsTheUntiledObjective()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(30, 27, seed: 72);
        var style = TinyVgg.Image(25, 31, seed: 73);
        var options = new StyleOptions();
        var x = TinyVgg.Image(30, 27, seed: 74);
        using var untiled = Objectives.Create(Kernels, weights, content, [style], options);
        using var large = Objectives.Create(Kernels, weights, content, [style], options, tileCore: 32);
        Assert.That(large.Plan.IsTiled, Is.False);
        var (g1, l1, _) = DeviceEvaluation.Of(Accelerator, untiled, x);
        var (g2, l2, _) = DeviceEvaluation.Of(Accelerator, large, x);
        Assert.That(l2, Is.EqualTo(l1));
        Assert.That(g2, Is.EqualTo(g1));
        Assert.That(large.Memory.PeakBytes, Is.EqualTo(untiled.Memory.PeakBytes));
    }
}
