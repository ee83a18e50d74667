using ILGPU.Runtime;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Support.DeviceEvaluation;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// Regions evaluated tile by tile against the untiled objective: the guided Gram is a sum over positions, so the
/// tiled loss (1e-5 relative), each region's loss and the gradient (1e-4 relative in L2) are the whole image's;
/// and the memory estimate of a tiled masked objective equals what it allocates.
/// </summary>
public sealed class TiledRegionTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    /// <summary>One case: the content's size and tile core, the style images' sizes, the guides and options.</summary>
    public sealed record Case(int Height, int Width, int Core, (int Height, int Width)[] Styles, int SeamFrom,
        int SeamTo, bool StyleGuides, MaskMode Mode, StyleOptions Options, bool Omits)
    {
        public NetworkImage Content() => TinyVgg.Image(Height, Width, seed: 81);

        public NetworkImage[] StyleImages() =>
            Styles.Select((s, k) => TinyVgg.Image(s.Height, s.Width, seed: 82 + k)).ToArray();

        /// <summary>Two complementary regions split by a seam; style guides, when asked, on both styles.</summary>
        public StyleRegions Regions()
        {
            var left = RegionTests.Ramp(Height, Width, SeamFrom, SeamTo);
            var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), Height, Width);
            var styleGuides = Styles.Select((s, k) => StyleGuides
                ? k == 0 ? RegionTests.Ramp(s.Height, s.Width, 9, 14) : RegionTests.Ramp(s.Height, s.Width, 30, 30)
                : null).ToList();
            return new StyleRegions([left, right], styleGuides, Mode);
        }
    }

    private static readonly StyleOptions Shallow = new()
    {
        ContentLayers = ["relu3_2", "relu2_2"],
        StyleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu3_2"],
        StyleLayerWeights = [1f, 0.5f, 2f, 1f],
    };

    private static IEnumerable<TestCaseData> Cases()
    {
        // 61 x 53 with cores of 8 (stride 4): 8 x 7 tiles whose last ones are mostly halo; the first style image is
        // tiled too, the second is smaller than a tile.
        yield return Make("simple, max, soft seam", new Case(61, 53, 8, [(47, 58), (20, 23)], 20, 29,
            StyleGuides: false, MaskMode.Simple, Shallow, Omits: false));
        yield return Make("inside, avg, style masks, a narrow region", new Case(59, 44, 8, [(40, 50), (47, 58)], 7, 7,
            StyleGuides: true, MaskMode.Inside, Shallow with { Pooling = Pooling.Avg }, Omits: true));
        yield return Make("simple, normalized gradients, style masks", new Case(45, 62, 12, [(47, 58), (20, 23)],
            25, 33, StyleGuides: true, MaskMode.Simple, Shallow with { NormalizeGradients = true }, Omits: false));
    }

    private static TestCaseData Make(string name, Case c) => new TestCaseData(c).SetArgDisplayNames(name);

    [TestCaseSource(nameof(Cases))]
    public void TiledMasksEqualUntiled(Case c)
    {
        var weights = TinyVgg.Create();
        var content = c.Content();
        var styles = c.StyleImages();
        var regions = c.Regions();
        var x = TinyVgg.Image(c.Height, c.Width, seed: 90);
        using var untiled = Objectives.Create(Kernels, weights, content, styles, c.Options, regions: regions);
        using var tiled = Objectives.Create(Kernels, weights, content, styles, c.Options, c.Core, regions);
        Assert.That(tiled.Plan.IsTiled, Is.True, "the case must tile");
        var (expectedGradient, expected, _) = DeviceEvaluation.Of(Accelerator, untiled, x);
        var (gradient, actual, _) = DeviceEvaluation.Of(Accelerator, tiled, x);

        Assert.Multiple(() =>
        {
            Assert.That(actual.Total, Is.EqualTo(expected.Total).Within(1e-5 * Math.Abs(expected.Total)), "total");
            Assert.That(actual.Content, Is.EqualTo(expected.Content).Within(1e-5 * Math.Abs(expected.Total)),
                "content");
            Assert.That(actual.Style, Is.EqualTo(expected.Style).Within(1e-5 * Math.Abs(expected.Style)), "style");
            for (int r = 0; r < 2; r++)
            {
                Assert.That(expected.Regions![r], Is.GreaterThan(0f), $"region {r + 1} has a loss");
                Assert.That(actual.Regions![r],
                    Is.EqualTo(expected.Regions[r]).Within(1e-5 * Math.Abs(expected.Regions[r])), $"region {r + 1}");
            }
            Assert.That(RelativeL2(gradient, expectedGradient), Is.LessThan(1e-4), "gradient, relative L2");
            Assert.That(tiled.OmittedRegionTerms, Is.EqualTo(untiled.OmittedRegionTerms), "the same terms left out");
            Assert.That(untiled.OmittedRegionTerms, c.Omits ? Is.Not.Empty : Is.Empty, "terms left out");
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void EstimateEqualsThePeakTheTiledMaskedObjectiveAllocates(Case c)
    {
        var weights = TinyVgg.Create();
        var styles = c.StyleImages();
        var regions = c.Regions();
        var memory = Objectives.Plan(weights, Kernels.Choice, new(3, c.Height, c.Width),
            styles.Select(s => s.Shape).ToList(), c.Options, c.Core, regions.Layout).Memory!;
        using var objective = Objectives.Create(Kernels, weights, c.Content(), styles, c.Options, c.Core, regions);
        Assert.That(objective.Plan.IsTiled, Is.True, "the case must tile");
        Assert.That(memory.Total, Is.EqualTo(objective.Memory.PeakBytes));
        Assert.That(memory.Held, Is.EqualTo(objective.Memory.CurrentBytes), "the parts are what it holds");
    }
}
