using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The double-precision reference objective (content + style + TV through a tiny VGG-19) against
/// central finite differences: single pixels and random directions. This ties the device objective,
/// which is tested against this reference, to the loss's definition.
/// </summary>
public sealed class ReferenceObjectiveTests
{
    [TestCase(Pooling.Max, "caffe")]
    [TestCase(Pooling.Avg, "torchvision")]
    [TestCase(Pooling.L2, "caffe")]
    [TestCase(Pooling.L2, "torchvision")]
    public void GradientMatchesCentralDifferences(Pooling pooling, string preprocess)
    {
        var weights = TinyVgg.Create(preprocess);
        var content = TinyVgg.Image(16, 17, seed: 30, preprocess);
        var style = TinyVgg.Image(17, 16, seed: 31, preprocess);
        var options = new StyleOptions { Pooling = pooling };
        var reference = new ReferenceObjective(weights, content, [style], options);
        var x = ReferenceObjective.ToDouble(TinyVgg.Image(16, 17, seed: 32, preprocess).Data);
        var gradient = new double[x.Length];
        reference.Evaluate(x, gradient);

        var random = new Random(33);
        double scale = preprocess == "caffe" ? 1e-3 : 1e-5; // steps small against the input's range
        for (int trial = 0; trial < 10; trial++)
        {
            // Odd trials: one pixel; even trials: a random direction through every pixel.
            var direction = new double[x.Length];
            if (trial % 2 == 1) direction[random.Next(x.Length)] = 1;
            else for (int i = 0; i < x.Length; i++) direction[i] = random.NextDouble() * 2 - 1;

            double analytic = direction.Zip(gradient, (d, g) => d * g).Sum();
            double numeric = (reference.Evaluate(Step(x, direction, scale), null).Total
                              - reference.Evaluate(Step(x, direction, -scale), null).Total) / (2 * scale);
            Assert.That(numeric, Is.EqualTo(analytic).Within(1e-5 * Math.Abs(analytic) + 1e-9 * gradient.Max(Math.Abs)),
                $"trial {trial}: directional derivative");
        }
    }

    /// <summary>The project's preprocessing (in float) against the reference's statement of SPEC.md's.</summary>
    [TestCase(PreprocessConvention.Caffe)]
    [TestCase(PreprocessConvention.Torchvision)]
    public void PreprocessingMatchesTheReference(PreprocessConvention convention)
    {
        var pixels = new byte[5 * 7 * 3];
        new Random(34).NextBytes(pixels); // every channel different, so a swapped channel order fails
        var image = new RgbImage(7, 5, pixels);
        var preprocessing = convention == PreprocessConvention.Caffe ? Preprocessing.Caffe : Preprocessing.Torchvision;
        var actual = preprocessing.ToNetworkInput(image);
        var expected = ReferenceObjective.Preprocess(image, convention);
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-6 * Math.Max(1, Math.Abs(expected[i]))),
                $"element {i}");
    }

    private static double[] Step(double[] x, double[] direction, double h) =>
        x.Zip(direction, (v, d) => v + h * d).ToArray();
}
