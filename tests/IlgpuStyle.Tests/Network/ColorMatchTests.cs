using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// Colour control's host-side maps (issue 16, "Colour"): the linear colour matches give the target's mean and
/// covariance, sym's matrix is symmetric, histogram matching reproduces the target's cumulative histogram,
/// RGB to YIQ and back is the identity, and luminance matching gives the target's mean and deviation.
/// </summary>
public sealed class ColorMatchTests
{
    private static readonly ColorMatchMethod[] LinearMethods =
        [ColorMatchMethod.Pca, ColorMatchMethod.Chol, ColorMatchMethod.Sym];

    /// <summary>n random colours in [0, 1] with correlated channels (a random mixing matrix) and a shifted mean,
    /// so the covariance is full and far from the identity.</summary>
    private static double[] RandomColours(int seed, int n)
    {
        var random = new Random(seed);
        var mix = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            mix[r, c] = random.NextDouble() * 0.5 + (r == c ? 0.3 : 0);
        var pixels = new double[n * 3];
        for (int i = 0; i < n; i++)
        {
            double a = random.NextDouble(), b = random.NextDouble(), c = random.NextDouble();
            for (int r = 0; r < 3; r++) pixels[i * 3 + r] = mix[r, 0] * a + mix[r, 1] * b + mix[r, 2] * c;
        }
        return pixels;
    }

    [Test]
    public void LinearMatchesGiveTheTargetsMeanAndCovariance(
        [ValueSource(nameof(LinearMethods))] ColorMatchMethod method)
    {
        var style = RandomColours(seed: 1, n: 37 * 23);
        var content = RandomColours(seed: 2, n: 41 * 29);
        var matched = ColorMatch.MatchLinear(style, content, method);

        var (mean, covariance) = ColorMatch.Moments(matched);
        var (targetMean, targetCovariance) = ColorMatch.Moments(content);
        var (styleMean, styleCovariance) = ColorMatch.Moments(style);
        for (int r = 0; r < 3; r++)
        {
            Assert.That(mean[r], Is.EqualTo(targetMean[r]).Within(1e-5), $"{method}: mean of channel {r}");
            Assert.That(Math.Abs(styleMean[r] - targetMean[r]), Is.GreaterThan(1e-3), "the means differ at first");
            for (int c = 0; c < 3; c++)
            {
                Assert.That(covariance[r, c], Is.EqualTo(targetCovariance[r, c]).Within(1e-5),
                    $"{method}: covariance ({r}, {c})");
            }
        }
        Assert.That(Math.Abs(styleCovariance[0, 1] - targetCovariance[0, 1]), Is.GreaterThan(1e-4),
            "the covariances differ at first");
    }

    [Test]
    public void TheThreeLinearMapsDifferButEachSatisfiesASAtEqualsT()
    {
        var (_, s) = ColorMatch.Moments(RandomColours(3, 500));
        var (_, t) = ColorMatch.Moments(RandomColours(4, 500));
        var maps = LinearMethods.Select(m => ColorMatch.Map(s, t, m)).ToList();
        foreach (var a in maps)
        {
            var ast = ColorMatch.Multiply(ColorMatch.Multiply(a, s), Transpose(a));
            for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                Assert.That(ast[r, c], Is.EqualTo(t[r, c]).Within(1e-9 * t[0, 0]));
        }
        Assert.That(MaxDifference(maps[0], maps[1]), Is.GreaterThan(1e-3), "pca and chol choose different maps");
        Assert.That(MaxDifference(maps[0], maps[2]), Is.GreaterThan(1e-3), "pca and sym choose different maps");
    }

    [Test]
    public void SymsMapIsSymmetricAndCholsLowerTriangularProductIsAsDefined()
    {
        var (_, s) = ColorMatch.Moments(RandomColours(5, 400));
        var (_, t) = ColorMatch.Moments(RandomColours(6, 400));
        var sym = ColorMatch.Map(s, t, ColorMatchMethod.Sym);
        Assert.That(MaxDifference(sym, Transpose(sym)), Is.LessThan(1e-12 * Math.Abs(sym[0, 0])), "sym: A = A^T");
        var l = ColorMatch.Cholesky(s);
        Assert.That(new[] { l[0, 1], l[0, 2], l[1, 2] }, Is.All.Zero, "L is lower triangular");
        Assert.That(MaxDifference(ColorMatch.Multiply(l, Transpose(l)), s), Is.LessThan(1e-15));
    }

    [Test]
    public void TheEigendecompositionReassemblesTheMatrixWithOrthonormalVectors()
    {
        var (_, s) = ColorMatch.Moments(RandomColours(15, 200)); // positive definite
        var (values, q) = ColorMatch.SymmetricEigen(s);
        var qtq = ColorMatch.Multiply(Transpose(q), q);
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            for (int k = 0; k < 3; k++) sum += q[r, k] * values[k] * q[c, k];
            Assert.That(sum, Is.EqualTo(s[r, c]).Within(1e-15), $"Q diag Q^T ({r}, {c})");
            Assert.That(qtq[r, c], Is.EqualTo(r == c ? 1 : 0).Within(1e-13), $"Q^T Q ({r}, {c})");
        }
        var root = ColorMatch.Power(s, 0.5);
        Assert.That(MaxDifference(ColorMatch.Multiply(root, root), s), Is.LessThan(1e-15), "S^1/2 S^1/2 = S");
        var inverseRoot = ColorMatch.Power(s, -0.5);
        var identity = ColorMatch.Multiply(ColorMatch.Multiply(inverseRoot, s), inverseRoot);
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            Assert.That(identity[r, c], Is.EqualTo(r == c ? 1 : 0).Within(1e-12), "S^-1/2 S S^-1/2 = I");
    }

    [Test]
    public void AGreyStyleImageDoesNotBlowUp([ValueSource(nameof(LinearMethods))] ColorMatchMethod method)
    {
        // Colour only along the grey axis: a singular covariance. The map must stay finite and give the
        // target's mean; no map can give it the target's colour variance.
        var random = new Random(7);
        var grey = new double[300 * 3];
        for (int i = 0; i < 300; i++) grey[i * 3] = grey[i * 3 + 1] = grey[i * 3 + 2] = random.Next(256);
        var content = RandomColours(8, 300).Select(v => v * 255).ToArray();
        var matched = ColorMatch.MatchLinear(grey, content, method);
        Assert.That(matched, Has.All.Matches<double>(double.IsFinite));
        var (mean, _) = ColorMatch.Moments(matched);
        var (targetMean, _) = ColorMatch.Moments(content);
        for (int c = 0; c < 3; c++) Assert.That(mean[c], Is.EqualTo(targetMean[c]).Within(1e-6));
    }

    [Test]
    public void OnEightBitImagesThatDoNotClipTheMatchIsExactUpToRounding(
        [ValueSource(nameof(LinearMethods))] ColorMatchMethod method)
    {
        // Both images well inside the cube with similar spreads: the mapped colours need no clamp.
        var style = Bytes(RandomColours(9, 30 * 20), 60, 100);
        var content = Bytes(RandomColours(10, 25 * 16), 70, 90);
        var matched = ColorMatch.Match(new RgbImage(30, 20, style), new RgbImage(25, 16, content), method);
        var unclamped = ColorMatch.MatchLinear(ColorMatch.ToDoubles(style), ColorMatch.ToDoubles(content), method);
        Assert.That(unclamped, Has.All.InRange(0.0, 255.0), "the test images do not clip");
        var (mean, covariance) = ColorMatch.Moments(ColorMatch.ToDoubles(matched.Pixels));
        var (targetMean, targetCovariance) = ColorMatch.Moments(ColorMatch.ToDoubles(content));
        for (int r = 0; r < 3; r++)
        {
            Assert.That(mean[r], Is.EqualTo(targetMean[r]).Within(0.05), "rounding moves the mean by < 0.5/sqrt(n)");
            for (int c = 0; c < 3; c++)
            {
                // Rounding adds noise of variance 1/12, and its sample correlation with the colours
                // (of deviation sqrt(S_rr S_cc / (12 n))) moves the covariance too: 4 of those deviations.
                double tolerance = 0.1 + 4 * Math.Sqrt(targetCovariance[r, r] * targetCovariance[c, c] / (12.0 * 600));
                Assert.That(covariance[r, c], Is.EqualTo(targetCovariance[r, c]).Within(tolerance),
                    $"covariance ({r}, {c})");
            }
        }
    }

    [Test]
    public void HistogramMatchingReproducesTheTargetsCumulativeHistogramAtEveryLevel()
    {
        var random = new Random(11);
        // Same pixel count: exactly the target's histogram. Another count: the target's scaled, rounded.
        foreach (var (n, m) in new[] { (600, 600), (700, 450) })
        {
            var source = new byte[n * 3];
            var target = new byte[m * 3];
            for (int i = 0; i < source.Length; i++) source[i] = (byte)(random.Next(64) + (i % 3) * 40);
            for (int i = 0; i < target.Length; i++) target[i] = (byte)Math.Min(255, random.Next(100) * random.Next(3));
            var matched = ColorMatch.MatchHistograms(source, target);
            for (int c = 0; c < 3; c++)
            {
                var have = Cumulative(matched, c);
                var want = Cumulative(target, c);
                for (int level = 0; level < 256; level++)
                {
                    double expected = (double)want[level] * n / m;
                    Assert.That(have[level], Is.EqualTo(expected).Within(n == m ? 0 : 0.5 + 1e-9),
                        $"{n} from {m} pixels, channel {c}, level {level}");
                }
            }
            // The order of the source's values is kept: a brighter source pixel never becomes darker.
            for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j += 37)
            {
                if (source[i * 3] < source[j * 3]) Assert.That(matched[i * 3], Is.LessThanOrEqualTo(matched[j * 3]));
            }
        }
    }

    [Test]
    public void RgbToYiqAndBackIsTheIdentity()
    {
        var random = new Random(12);
        for (int i = 0; i < 1000; i++)
        {
            double r = random.NextDouble() * 255, g = random.NextDouble() * 255, b = random.NextDouble() * 255;
            var (y, iq, q) = Yiq.Forward(r, g, b);
            var (r2, g2, b2) = Yiq.Inverse(y, iq, q);
            Assert.That(new[] { r2 - r, g2 - g, b2 - b }, Has.All.InRange(-1e-11, 1e-11));
            Assert.That(y, Is.EqualTo(0.299 * r + 0.587 * g + 0.114 * b).Within(1e-12), "Y is SPEC.md's luminance");
        }
        var (_, grayI, grayQ) = Yiq.Forward(100, 100, 100);
        Assert.That(new[] { grayI, grayQ }, Has.All.InRange(-1e-12, 1e-12), "grey has no chroma");
    }

    [Test]
    public void RecombiningKeepsTheChromaAndTakesTheLuminance()
    {
        var random = new Random(13);
        var pixels = new byte[20 * 10 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(60 + random.Next(120));
        var content = new RgbImage(20, 10, pixels);
        var luminance = Enumerable.Range(0, 200).Select(_ => 90 + 60 * random.NextDouble()).ToArray();
        var result = Yiq.Recombine(luminance, content);
        for (int p = 0; p < 200; p++)
        {
            var (y, i, q) = Yiq.Forward(result.Pixels[p * 3], result.Pixels[p * 3 + 1], result.Pixels[p * 3 + 2]);
            var (_, ci, cq) = Yiq.Forward(pixels[p * 3], pixels[p * 3 + 1], pixels[p * 3 + 2]);
            Assert.That(y, Is.EqualTo(luminance[p]).Within(1e-4), "Y is the optimized luminance (float storage)");
            Assert.That(i, Is.EqualTo(ci).Within(1e-4), "I is the content's");
            Assert.That(q, Is.EqualTo(cq).Within(1e-4), "Q is the content's");
        }
    }

    [Test]
    public void LuminanceMatchingGivesTheTargetsMeanAndDeviation()
    {
        var random = new Random(14);
        var style = Enumerable.Range(0, 500).Select(_ => 200 * random.NextDouble()).ToArray();
        var content = Enumerable.Range(0, 300).Select(_ => 50 + 30 * random.NextDouble()).ToArray();
        var (mean, deviation) = Yiq.MeanAndDeviation(Yiq.MatchMeanAndDeviation(style, content));
        var (targetMean, targetDeviation) = Yiq.MeanAndDeviation(content);
        Assert.That(mean, Is.EqualTo(targetMean).Within(1e-9));
        Assert.That(deviation, Is.EqualTo(targetDeviation).Within(1e-9));
    }

    private static long[] Cumulative(byte[] pixels, int channel)
    {
        var counts = new long[256];
        for (int i = channel; i < pixels.Length; i += 3) counts[pixels[i]]++;
        for (int l = 1; l < 256; l++) counts[l] += counts[l - 1];
        return counts;
    }

    private static byte[] Bytes(double[] unit, double offset, double scale) =>
        unit.Select(v => (byte)Math.Round(offset + scale * v)).ToArray();

    private static double[,] Transpose(double[,] a)
    {
        var t = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            t[c, r] = a[r, c];
        return t;
    }

    private static double MaxDifference(double[,] a, double[,] b)
    {
        double max = 0;
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            max = Math.Max(max, Math.Abs(a[r, c] - b[r, c]));
        return max;
    }
}
