using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Host;

/// <summary><c>--init gray|uniform|normal|style-stats</c> against crowsonkb's definitions, on [0, 1].</summary>
public sealed class InitPixelsTests
{
    private const int Side = 200; // 40,000 pixels: a sample mean is within 0.003 of the truth (about 2 sigma)

    private static double[] Values(InitKind kind, int seed = 1, IReadOnlyList<RgbImage>? styles = null,
        IReadOnlyList<float>? blend = null) =>
        InitPixels.Make(kind, Side, Side, seed, styles ?? [], blend).Pixels.Select(v => v / 255.0).ToArray();

    private static (double Mean, double Deviation) Channel(double[] values, int c)
    {
        var channel = values.Where((_, i) => i % 3 == c).ToArray();
        double mean = channel.Average();
        return (mean, Math.Sqrt(channel.Average(v => (v - mean) * (v - mean))));
    }

    private static RgbImage Flat(byte r, byte g, byte b, int width = 4, int height = 3) =>
        new(width, height, Enumerable.Range(0, width * height).SelectMany(_ => new[] { r, g, b }).ToArray());

    [Test]
    public void GrayIsMidGreyEverywhere() =>
        Assert.That(Values(InitKind.Gray), Is.All.EqualTo(0.5).Within(1e-7));

    [Test]
    public void UniformFillsTheUnitIntervalEvenly()
    {
        var values = Values(InitKind.Uniform);
        Assert.That(values, Is.All.InRange(0.0, 1.0));
        for (int c = 0; c < 3; c++)
        {
            var (mean, deviation) = Channel(values, c);
            Assert.That(mean, Is.EqualTo(0.5).Within(0.006), $"channel {c}");
            Assert.That(deviation, Is.EqualTo(Math.Sqrt(1 / 12.0)).Within(0.006), $"channel {c}");
        }
        Assert.That(values.Count(v => v < 0.1) / (double)values.Length, Is.EqualTo(0.1).Within(0.005),
            "a tenth of the values in the lowest tenth");
    }

    [Test]
    public void NormalHasMeanHalfAndDeviationAQuarterBeforeClamping()
    {
        var values = Values(InitKind.Normal);
        Assert.That(values, Is.All.InRange(0.0, 1.0));
        for (int c = 0; c < 3; c++)
        {
            var (mean, deviation) = Channel(values, c);
            Assert.That(mean, Is.EqualTo(0.5).Within(0.006), $"channel {c}");
            // Clamping at 2 sigma pulls the deviation in a little: 0.2399 for N(0.5, 0.25) clamped to [0, 1].
            Assert.That(deviation, Is.EqualTo(0.2399).Within(0.004), $"channel {c}");
        }
        Assert.That(values.Count(v => v == 0) / (double)values.Length, Is.EqualTo(0.02275).Within(0.004),
            "P(z < -2) of the values clamped to 0");
    }

    [TestCase("uniform")]
    [TestCase("normal")]
    [TestCase("style-stats")]
    public void TheSeedDecidesTheImage(string name)
    {
        var kind = ChoiceOptions.Parse<InitKind>(name);
        RgbImage[] styles = [new(2, 1, [0, 100, 200, 255, 50, 10])];
        var first = Values(kind, 5, styles);
        var again = Values(kind, 5, styles);
        Assert.That(again, Is.EqualTo(first), "the same seed, the same image");
        Assert.That(Values(kind, 6, styles), Is.Not.EqualTo(first), "another seed, another");
    }

    [Test]
    public void StyleStatsOfAFlatColourIsThatColour()
    {
        var values = Values(InitKind.StyleStats, styles: [Flat(255, 51, 0)]);
        for (int c = 0; c < 3; c++)
        {
            Assert.That(values.Where((_, i) => i % 3 == c), Is.All.EqualTo(new[] { 1.0, 0.2, 0.0 }[c]).Within(1e-6),
                $"channel {c}");
        }
    }

    [Test]
    public void StyleStatsOfATwoColourImageHasItsMeanAndDeviation()
    {
        // Half the pixels (64, 128, 191), half (128, 128, 255) out of 255: red and blue have mean m and deviation
        // 32/255 (half the gap), green none.
        var pixels = Enumerable.Range(0, 8).SelectMany(i => i % 2 == 0
            ? new byte[] { 64, 128, 191 } : new byte[] { 128, 128, 255 }).ToArray();
        var (mean, deviation) = InitPixels.StyleStatistics([new RgbImage(4, 2, pixels)], null);
        Assert.That(mean, Is.EqualTo(new[] { 96 / 255.0, 128 / 255.0, 223 / 255.0 }).Within(1e-12));
        Assert.That(deviation, Is.EqualTo(new[] { 32 / 255.0, 0, 32 / 255.0 }).Within(1e-9));

        var values = Values(InitKind.StyleStats, styles: [new RgbImage(4, 2, pixels)]);
        var red = Channel(values, 0);
        Assert.That(red.Mean, Is.EqualTo(96 / 255.0).Within(0.003));
        Assert.That(red.Deviation, Is.EqualTo(32 / 255.0).Within(0.003));
        Assert.That(values.Where((_, i) => i % 3 == 1), Is.All.EqualTo(128 / 255.0).Within(1e-6), "green is flat");
    }

    [Test]
    public void StyleStatsBlendsTheStylesMeansAndVariancesByTheBlendWeights()
    {
        // A black and a white style, weighted 3:1: the mean is a quarter; each style's variance is 0.
        var (mean, deviation) = InitPixels.StyleStatistics([Flat(0, 0, 0), Flat(255, 255, 255, 2, 2)], [3f, 1f]);
        Assert.That(mean, Is.All.EqualTo(0.25).Within(1e-12));
        Assert.That(deviation, Is.All.EqualTo(0.0));

        var equal = InitPixels.StyleStatistics([Flat(0, 0, 0), Flat(255, 255, 255)], null);
        Assert.That(equal.Mean, Is.All.EqualTo(0.5).Within(1e-12), "no weights: equal ones");
    }

    [Test]
    public void TheNamesOnTheCommandLine()
    {
        var (o, error) = OptionParsing.TryParse(["--content", "c.png", "--style", "s.png", "--init", "style-stats"]);
        Assert.That((error, o!.Init), Is.EqualTo(((string?)null, InitKind.StyleStats)));
        var (_, bad) = OptionParsing.TryParse(["--content", "c.png", "--style", "s.png", "--init", "grey"]);
        Assert.That(bad, Is.EqualTo(
            "--init takes content, random, image, gray, uniform, normal or style-stats; 'grey' is not one."));
    }
}
