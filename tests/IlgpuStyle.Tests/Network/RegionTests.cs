using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// Regions (guided Gram matrices, Gatys et al. 2017 sec. 4) on the device against the unguided
/// objective and the double-precision reference.
/// </summary>
public sealed class RegionTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static readonly StyleOptions AllLayers = new()
    {
        ContentLayers = ["relu4_2"],
        StyleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
    };

    [TestCase(MaskMode.Simple, Pooling.Max, false)]
    [TestCase(MaskMode.Inside, Pooling.Avg, false)]
    [TestCase(MaskMode.Simple, Pooling.Max, true)]
    public void OneWhiteMaskGivesExactlyTheUnmaskedLossAndGradient(MaskMode mode, Pooling pooling, bool normalize)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(18, 21, seed: 60);
        var style = TinyVgg.Image(17, 16, seed: 61);
        var x = TinyVgg.Image(18, 21, seed: 62);
        var options = AllLayers with { Pooling = pooling, NormalizeGradients = normalize };
        var regions = new StyleRegions([GuidePlane.White(18, 21)], [null], mode);

        using var plain = Objectives.Create(Kernels, weights, content, [style], options);
        using var masked = Objectives.Create(Kernels, weights, content, [style], options, regions: regions);
        var (expectedGradient, expected, _) = DeviceEvaluation.Of(Accelerator, plain, x);
        var (gradient, losses, _) = DeviceEvaluation.Of(Accelerator, masked, x);

        Assert.Multiple(() =>
        {
            Assert.That(losses.Style, Is.EqualTo(expected.Style), "style loss, bit for bit");
            Assert.That(losses.Total, Is.EqualTo(expected.Total), "total loss, bit for bit");
            Assert.That(losses.Regions, Is.EqualTo(new[] { expected.Style }), "the one region's loss is L_s");
            Assert.That(expected.Regions, Is.Null, "no regions, no region losses");
            Assert.That(gradient, Is.EqualTo(expectedGradient), "gradient, bit for bit");
            Assert.That(masked.OmittedRegionTerms, Is.Empty);
        });
    }

    /// <summary>
    /// Two complementary masks with a soft seam: with one style twice, and with two styles of which
    /// one is restricted to part of its image by a style guide; against the reference's guided loss.
    /// </summary>
    [TestCase(false, MaskMode.Simple, Pooling.Max)]
    [TestCase(true, MaskMode.Simple, Pooling.Avg)]
    [TestCase(true, MaskMode.Inside, Pooling.Max)]
    [TestCase(false, MaskMode.Simple, Pooling.L2)]
    public void ComplementaryMasksMatchTheDoublePrecisionReference(bool twoStyles, MaskMode mode, Pooling pooling)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(36, 40, seed: 63);
        var first = TinyVgg.Image(34, 32, seed: 64);
        var second = twoStyles ? TinyVgg.Image(38, 36, seed: 65) : first;
        var x = TinyVgg.Image(36, 40, seed: 66);
        var left = Ramp(36, 40, from: 14, to: 22);
        var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), 36, 40);
        var styleGuide = twoStyles ? Ramp(38, 36, from: 10, to: 11) : null;
        var regions = new StyleRegions([left, right], [null, styleGuide], mode);
        var options = AllLayers with { Pooling = pooling, StyleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"] };

        using var objective = Objectives.Create(Kernels, weights, content, [first, second], options,
            regions: regions);
        var (gradient, losses, _) = DeviceEvaluation.Of(Accelerator, objective, x);
        var reference = new ReferenceObjective(weights, content, [first, second], options, regions: regions);
        var expectedGradient = new double[x.Data.Length];
        var expected = reference.Evaluate(ReferenceObjective.ToDouble(x.Data), expectedGradient);

        Assert.Multiple(() =>
        {
            Assert.That(losses.Style, Is.EqualTo(expected.Style).Within(1e-3).Percent, "style");
            Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-3).Percent, "total");
            for (int r = 0; r < 2; r++)
            {
                Assert.That(losses.Regions![r], Is.EqualTo(reference.LastRegionStyle[r]).Within(1e-3).Percent,
                    $"region {r + 1}");
                Assert.That(reference.LastRegionStyle[r], Is.GreaterThan(0), "each region has a loss");
            }
        });
        double scale = expectedGradient.Max(Math.Abs);
        var result = Comparison.Compare("gradient", "", gradient, expectedGradient, new Tolerance(1e-3 * scale, 1e-3));
        Assert.That(result.Passed, Is.True, $"gradient: {result.Detail}");
    }

    /// <summary>
    /// Inside guides: a region's loss on the device does not move, bit for bit, when every pixel
    /// outside the region changes; simple guides see across the boundary, so there it moves.
    /// </summary>
    [TestCase(MaskMode.Inside, true)]
    [TestCase(MaskMode.Simple, false)]
    public void InsideGuidesIgnorePixelsOutsideTheRegion(MaskMode mode, bool unchanged)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(40, 48, seed: 67);
        var style = TinyVgg.Image(32, 32, seed: 68);
        var left = Ramp(40, 48, from: 30, to: 30); // columns below 30: 1; the rest 0
        var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), 40, 48);
        var regions = new StyleRegions([left, right], [null, null], mode);
        var options = AllLayers with { StyleLayers = ["relu1_1", "relu2_1", "relu3_1"] };
        var x = TinyVgg.Image(40, 48, seed: 69);
        var changed = (float[])x.Data.Clone();
        var random = new Random(70);
        for (int i = 0; i < changed.Length; i++)
            if (left.Values[i % left.Values.Length] == 0) changed[i] += (float)(50 * random.NextDouble() + 10);

        using var objective = Objectives.Create(Kernels, weights, content, [style, style], options,
            regions: regions);
        var before = DeviceEvaluation.Of(Accelerator, objective, x).Losses;
        var after = DeviceEvaluation.Of(Accelerator, objective, x with { Data = changed }).Losses;

        Assert.That(objective.OmittedRegionTerms, Is.Empty, "the region reaches relu3_1 in both modes");
        Assert.That(after.Regions![1], Is.Not.EqualTo(before.Regions![1]), "the other region sees the change");
        if (unchanged) Assert.That(after.Regions[0], Is.EqualTo(before.Regions[0]), "bit for bit");
        else Assert.That(after.Regions[0], Is.Not.EqualTo(before.Regions[0]), "simple guides see across");
    }

    /// <summary>A region too small for a deep layer's receptive field leaves that layer's term out.</summary>
    [Test]
    public void InsideGuidesErodedAwayLeaveTheirTermsOut()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(32, 32, seed: 71);
        var left = Ramp(32, 32, from: 6, to: 6);
        var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), 32, 32);
        var regions = new StyleRegions([left, right], [null, null], MaskMode.Inside);
        var options = AllLayers with { StyleLayers = ["relu1_1", "relu3_1"] };
        using var objective = Objectives.Create(Kernels, weights, content, [content, content], options,
            regions: regions);
        Assert.That(objective.OmittedRegionTerms, Is.EqualTo(new[] { "region 1 at relu3_1" }));
        var (_, losses, _) = DeviceEvaluation.Of(Accelerator, objective, TinyVgg.Image(32, 32, seed: 72));
        Assert.That(losses.Regions!.All(float.IsFinite), Is.True);
        Assert.That(losses.Regions![0], Is.GreaterThan(0f), "relu1_1 still counts");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void EstimateEqualsThePeakTheObjectiveAllocates(bool styleGuides)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(21, 18, seed: 50);
        var styles = new[] { TinyVgg.Image(26, 20, seed: 51), TinyVgg.Image(40, 44, seed: 52) };
        var left = Ramp(21, 18, from: 8, to: 10);
        var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), 21, 18);
        var regions = new StyleRegions([left, right], [styleGuides ? Ramp(26, 20, 5, 9) : null,
            styleGuides ? Ramp(40, 44, 20, 21) : null], MaskMode.Simple);
        foreach (var options in new[] { new StyleOptions(), new StyleOptions { NormalizeGradients = true } })
        {
            var estimate = Objectives.Plan(weights, Kernels.Choice, content.Shape,
                styles.Select(s => s.Shape).ToList(), options, regions: regions.Layout).Memory!;
            using var objective = Objectives.Create(Kernels, weights, content, styles, options, regions: regions);
            Assert.That(estimate.Total, Is.EqualTo(objective.Memory.PeakBytes));
            Assert.That(estimate.Held, Is.EqualTo(objective.Memory.CurrentBytes), "the parts are what it holds");
        }
    }

    [Test]
    public void BadRegionsAreRefused()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(18, 21, seed: 60);
        var style = TinyVgg.Image(17, 16, seed: 61);
        var white = GuidePlane.White(18, 21);
        Assert.Multiple(() =>
        {
            Assert.That(() => Objectives.Create(Kernels, weights, content, [style, style], new StyleOptions(),
                regions: new StyleRegions([white], [null], MaskMode.Simple)), Throws.TypeOf<StyleSetupException>()
                .With.Message.Contains("2 style images but 1 regions"));
            Assert.That(() => Objectives.Create(Kernels, weights, content, [style],
                new StyleOptions { StyleBlendWeights = [1f] },
                regions: new StyleRegions([white], [null], MaskMode.Simple)),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("blend weights"));
            Assert.That(() => Objectives.Create(Kernels, weights, content, [style], new StyleOptions(),
                regions: new StyleRegions([GuidePlane.White(21, 18)], [null], MaskMode.Simple)),
                Throws.TypeOf<StyleSetupException>().With.Message.Contains("18x21"));
        });
    }

    /// <summary>
    /// A plane that is 1 left of column <paramref name="from"/>, 0 from column <paramref name="to"/>
    /// on, and falls linearly between (a hard edge when they are equal).
    /// </summary>
    internal static GuidePlane Ramp(int height, int width, int from, int to)
    {
        var values = new double[height * width];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            values[y * width + x] = x < from ? 1 : x >= to ? 0 : 1 - (x - from + 1.0) / (to - from + 1);
        return new GuidePlane(values, height, width);
    }
}

/// <summary>The guides themselves and the reference's guided loss (double precision, no device).</summary>
public sealed class RegionGuideTests
{
    [Test]
    public void SimpleGuidesAverageAtEachPoolingAndInsideGuidesTakeTheReceptiveFieldsMinimum()
    {
        var weights = TinyVgg.Create();
        var pixels = RegionTests.Ramp(9, 11, from: 5, to: 8);
        var simple = RegionGuides.AtLayers(pixels, weights, ["relu1_1", "relu2_1"], MaskMode.Simple);
        var inside = RegionGuides.AtLayers(pixels, weights, ["relu1_2", "relu2_1"], MaskMode.Inside);
        Assert.Multiple(() =>
        {
            Assert.That(simple["relu1_1"].Values, Is.EqualTo(pixels.Values), "a convolution keeps a simple guide");
            var pooled = simple["relu2_1"];
            Assert.That((pooled.Height, pooled.Width), Is.EqualTo((4, 5)));
            for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++)
            {
                double mean = (At(pixels, 2 * y, 2 * x) + At(pixels, 2 * y, 2 * x + 1) + At(pixels, 2 * y + 1, 2 * x)
                               + At(pixels, 2 * y + 1, 2 * x + 1)) / 4;
                Assert.That(At(pooled, y, x), Is.EqualTo(mean).Within(1e-15), $"pooled ({y}, {x})");
            }

            // relu2_1 position (y, x) reads, through conv2_1, pool1, conv1_2 and conv1_1, input rows
            // 2(y-1)-2 .. 2(y+1)+1+2 (clipped to the image), and the same columns.
            var eroded = inside["relu2_1"];
            for (int y = 0; y < eroded.Height; y++)
            for (int x = 0; x < eroded.Width; x++)
            {
                double smallest = double.PositiveInfinity;
                for (int py = Math.Max(0, 2 * y - 4); py <= Math.Min(8, 2 * y + 5); py++)
                for (int px = Math.Max(0, 2 * x - 4); px <= Math.Min(10, 2 * x + 5); px++)
                    smallest = Math.Min(smallest, At(pixels, py, px));
                Assert.That(At(eroded, y, x), Is.EqualTo(smallest), $"inside ({y}, {x})");
            }
        });
    }

    [Test]
    public void ResizedMasksThatCoverEveryPixelStillDo()
    {
        var left = RegionTests.Ramp(30, 50, from: 20, to: 20);
        var right = new GuidePlane(left.Values.Select(v => 1 - v).ToArray(), 30, 50);
        foreach (var (width, height) in new[] { (17, 10), (100, 60), (50, 30) })
        {
            var a = left.Resize(width, height);
            var b = right.Resize(width, height);
            Assert.That(a.Values.Zip(b.Values, (p, q) => p + q), Is.All.EqualTo(1.0).Within(1e-12),
                $"{width}x{height}");
        }
        Assert.That(left.Resize(50, 30), Is.SameAs(left), "the right size is not resampled");
    }

    [TestCase(MaskMode.Simple, Pooling.Max)]
    [TestCase(MaskMode.Inside, Pooling.Avg)]
    public void TheGuidedLossGradientMatchesCentralDifferences(MaskMode mode, Pooling pooling)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(24, 20, seed: 73);
        var first = TinyVgg.Image(20, 22, seed: 74);
        var second = TinyVgg.Image(22, 20, seed: 75);
        var top = RegionTests.Ramp(24, 20, from: 6, to: 12);
        var bottom = new GuidePlane(top.Values.Select(v => 1 - v).ToArray(), 24, 20);
        var regions = new StyleRegions([top, bottom], [RegionTests.Ramp(20, 22, 9, 14), null], mode);
        var options = new StyleOptions { Pooling = pooling, StyleLayers = ["relu1_1", "relu2_1", "relu2_2"],
            ContentLayers = ["relu2_1"] };
        var reference = new ReferenceObjective(weights, content, [first, second], options, regions: regions);
        var x = ReferenceObjective.ToDouble(TinyVgg.Image(24, 20, seed: 76).Data);
        var gradient = new double[x.Length];
        var losses = reference.Evaluate(x, gradient);
        Assert.That(reference.LastRegionStyle.Sum(), Is.EqualTo(losses.Style).Within(1e-12 * losses.Style));
        Assert.That(reference.LastRegionStyle, Is.All.GreaterThan(0));

        var random = new Random(77);
        const double h = 1e-3;
        for (int trial = 0; trial < 8; trial++)
        {
            var direction = new double[x.Length];
            if (trial % 2 == 1) direction[random.Next(x.Length)] = 1;
            else for (int i = 0; i < x.Length; i++) direction[i] = random.NextDouble() * 2 - 1;
            double analytic = direction.Zip(gradient, (d, g) => d * g).Sum();
            double numeric = (reference.Evaluate(Step(x, direction, h), null).Total
                              - reference.Evaluate(Step(x, direction, -h), null).Total) / (2 * h);
            Assert.That(numeric, Is.EqualTo(analytic).Within(1e-5 * Math.Abs(analytic) + 1e-9 * gradient.Max(Math.Abs)),
                $"trial {trial}: directional derivative");
        }
    }

    /// <summary>One all-white guide in the reference is the unguided reference (to rounding).</summary>
    [Test]
    public void OneWhiteGuideInTheReferenceIsTheUnguidedLoss()
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(18, 21, seed: 78);
        var style = TinyVgg.Image(17, 16, seed: 79);
        var x = ReferenceObjective.ToDouble(TinyVgg.Image(18, 21, seed: 80).Data);
        var options = new StyleOptions();
        var plain = new ReferenceObjective(weights, content, [style], options);
        var guided = new ReferenceObjective(weights, content, [style], options,
            new StyleRegions([GuidePlane.White(18, 21)], [GuidePlane.White(17, 16)], MaskMode.Inside));
        var expectedGradient = new double[x.Length];
        var gradient = new double[x.Length];
        var expected = plain.Evaluate(x, expectedGradient);
        var actual = guided.Evaluate(x, gradient);
        Assert.That(actual.Style, Is.EqualTo(expected.Style).Within(1e-12 * expected.Style));
        for (int i = 0; i < x.Length; i++)
            Assert.That(gradient[i], Is.EqualTo(expectedGradient[i]).Within(1e-10 * expectedGradient.Max(Math.Abs)));
    }

    /// <summary>
    /// The definition behind inside guides, in double precision: at every style layer, the features times the
    /// region's inside guide do not change when every pixel outside the region does (and simple guides'
    /// do, so the check can fail).
    /// </summary>
    [TestCase(MaskMode.Inside, true)]
    [TestCase(MaskMode.Simple, false)]
    public void InsideGuidedFeaturesIgnorePixelsOutsideTheRegion(MaskMode mode, bool unchanged)
    {
        var weights = TinyVgg.Create();
        string[] layers = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1"];
        var options = new StyleOptions { ContentLayers = ["relu1_1"], StyleLayers = layers };
        var image = TinyVgg.Image(36, 44, seed: 81);
        var region = RegionTests.Ramp(36, 44, from: 28, to: 28);
        var guides = RegionGuides.AtLayers(region, weights, layers, mode);
        var reference = new ReferenceObjective(weights, image, [image], options);
        var x = ReferenceObjective.ToDouble(image.Data);
        var changed = (double[])x.Clone();
        var random = new Random(82);
        for (int i = 0; i < x.Length; i++)
            if (region.Values[i % region.Values.Length] == 0) changed[i] += 20 + 40 * random.NextDouble();
        var before = reference.Forward(x, image.Shape);
        var after = reference.Forward(changed, image.Shape);
        foreach (string layer in layers)
        {
            var guide = guides[layer].Values;
            var a = before.Single(s => s.Name == layer);
            var b = after.Single(s => s.Name == layer);
            var g = GramShape.Of(a.OutShape);
            var guidedBefore = new double[g.FeatureLength];
            var guidedAfter = new double[g.FeatureLength];
            GuideMultiply.ForwardReference(guidedBefore, a.Output, guide, g, squared: false);
            GuideMultiply.ForwardReference(guidedAfter, b.Output, guide, g, squared: false);
            Assert.That(guide.Max(), Is.EqualTo(1.0), $"{layer}: the region reaches it");
            if (unchanged) Assert.That(guidedAfter, Is.EqualTo(guidedBefore), layer);
            else Assert.That(guidedAfter, Is.Not.EqualTo(guidedBefore), layer);
        }
    }

    private static double At(GuidePlane plane, int y, int x) => plane.Values[y * plane.Width + x];

    private static double[] Step(double[] x, double[] direction, double h) =>
        x.Zip(direction, (v, d) => v + h * d).ToArray();
}
