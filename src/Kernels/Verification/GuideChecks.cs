using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    static partial void AddGuideKernels(List<KernelCheck> checks) => AddGuide(checks, KernelVariant.PerElement);

    /// <summary>
    /// The guide multiply as <paramref name="variant"/> (kernel 1 or the host code), and the guided Gram built on
    /// it as a style tap runs it; the host code also on a plane that spans several cores' ranges.
    /// </summary>
    private static void AddGuide(List<KernelCheck> checks, KernelVariant variant)
    {
        bool host = variant == KernelVariant.Cpu;
        GramShape[] shapes =
        [
            new(3, 35),  // more positions than channels, as at the first layers
            new(12, 5),  // more channels than positions, as at deep layers of a small image
        ];
        foreach (var shape in host ? [.. shapes, new(3, 100003)] : shapes)
        {
            string text = $"C{shape.Channels} M{shape.Positions}";
            foreach (bool squared in new[] { false, true })
            {
                string name = squared ? "guide.multiply/squared" : "guide.multiply";
                checks.Add(new(name, text, k => GuideMultiplyCheck(k, variant, shape, squared, name, text)));
            }
            if (host) continue; // the guided Gram's Gram kernels have their own host checks
            checks.Add(new("guide.gram.forward", text, k => GuidedGramForward(k, shape, text)));
            foreach (bool accumulate in new[] { false, true })
            {
                string name = $"guide.gram.backward{(accumulate ? "+accumulate" : "")}";
                checks.Add(new(name, text, k => GuidedGramBackward(k, shape, accumulate, name, text)));
            }
        }
    }

    /// <summary>A guide in [0, 1] with exact zeros and ones among its values, as masks have.</summary>
    private static double[] GuideValues(Random random, int positions)
    {
        var guide = Uniform(random, positions, 0, 1);
        for (int m = 0; m < positions; m += 3) guide[m] = m % 2 == 0 ? 0 : 1;
        return guide;
    }

    private static CheckResult GuideMultiplyCheck(KernelSet k, KernelVariant variant, GramShape s, bool squared,
        string name, string text)
    {
        var random = new Random(91);
        var features = Uniform(random, s.FeatureLength);
        var guide = GuideValues(random, s.Positions);
        var expected = new double[s.FeatureLength];
        GuideMultiply.ForwardReference(expected, features, guide, s, squared);

        using var dFeatures = Upload(k.Accelerator, features);
        using var dGuide = Upload(k.Accelerator, guide);
        using var output = Poisoned(k.Accelerator, s.FeatureLength);
        k.Guide.Forward(output.View, dFeatures.View, dGuide.View, s, squared, variant);
        return Comparison.Compare(name, text, Download(output), expected, Elementwise);
    }

    /// <summary>The guided Gram as a style tap forms it: the multiply, then the Gram of the product.</summary>
    private static CheckResult GuidedGramForward(KernelSet k, GramShape s, string text)
    {
        var random = new Random(92);
        var features = Uniform(random, s.FeatureLength);
        var guide = GuideValues(random, s.Positions);
        double scale = 1.0 / (s.Channels * guide.Sum(t => t * t));
        var expected = new double[s.GramLength];
        GuideMultiply.GuidedGramReference(expected, features, guide, s, scale);

        using var dFeatures = Upload(k.Accelerator, features);
        using var dGuide = Upload(k.Accelerator, guide);
        using var guided = Poisoned(k.Accelerator, s.FeatureLength);
        using var gram = Poisoned(k.Accelerator, s.GramLength);
        k.Guide.Forward(guided.View, dFeatures.View, dGuide.View, s, squared: false);
        k.Gram.Forward(gram.View, guided.View, s, (float)scale);
        return Comparison.Compare("guide.gram.forward", text, Download(gram), expected, Sums);
    }

    /// <summary>
    /// The guided Gram's backward as a style tap runs it (the Gram backward over <c>F o T^2</c>)
    /// against the plain chain rule through the multiply.
    /// </summary>
    private static CheckResult GuidedGramBackward(KernelSet k, GramShape s, bool accumulate, string name, string text)
    {
        var random = new Random(93);
        var features = Uniform(random, s.FeatureLength);
        var guide = GuideValues(random, s.Positions);
        var dGram = Uniform(random, s.GramLength); // not symmetric
        var start = Uniform(random, s.FeatureLength);
        double scale = 1.0 / 7;
        var expected = (double[])start.Clone();
        GuideMultiply.GuidedGramBackwardReference(expected, dGram, features, guide, s, scale, accumulate);

        using var dFeaturesIn = Upload(k.Accelerator, features);
        using var dGuide = Upload(k.Accelerator, guide);
        using var dG = Upload(k.Accelerator, dGram);
        using var squaredGuided = Poisoned(k.Accelerator, s.FeatureLength);
        using var dFeatures = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, s.FeatureLength);
        k.Guide.Forward(squaredGuided.View, dFeaturesIn.View, dGuide.View, s, squared: true);
        k.Gram.Backward(dFeatures.View, dG.View, squaredGuided.View, s, (float)scale, accumulate);
        return Comparison.Compare(name, text, Download(dFeatures), expected, Sums);
    }
}
