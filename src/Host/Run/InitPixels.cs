using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

/// <summary>
/// The starting images that are made rather than loaded: <c>--init gray</c>, <c>uniform</c>, <c>normal</c> and
/// <c>style-stats</c>, crowsonkb's style-transfer-pytorch's choices. Each is defined on [0, 1] RGB and returned
/// on the 0-255 scale of <see cref="FloatRgbImage"/>, unrounded, so the optimization starts from exactly the
/// values drawn. The draws come from <c>System.Random(seed)</c>, pixel by pixel, R, G, B in turn.
/// </summary>
internal static class InitPixels
{
    /// <summary>The mean and deviation of <c>--init normal</c>, on [0, 1] (crowsonkb's).</summary>
    public const double NormalMean = 0.5, NormalDeviation = 0.25;

    /// <summary>Whether <paramref name="kind"/> is one this class makes (not the content, the faint noise of
    /// <c>random</c>, or a file).</summary>
    public static bool Makes(InitKind kind) =>
        kind is InitKind.Gray or InitKind.Uniform or InitKind.Normal or InitKind.StyleStats;

    /// <summary>A <paramref name="width"/> x <paramref name="height"/> starting image of <paramref name="kind"/>;
    /// <c>style-stats</c> draws from <paramref name="styles"/>' statistics blended by <paramref name="blend"/>
    /// (null: equal weights).</summary>
    public static FloatRgbImage Make(InitKind kind, int width, int height, int seed, IReadOnlyList<RgbImage> styles,
        IReadOnlyList<float>? blend)
    {
        var random = new Random(seed);
        var pixels = new float[width * height * 3];
        var (mean, deviation) = kind switch
        {
            InitKind.Normal => (Same(NormalMean), Same(NormalDeviation)),
            InitKind.StyleStats => StyleStatistics(styles, blend),
            _ => (Same(0.5), Same(0)),
        };
        for (int i = 0; i < pixels.Length; i++)
        {
            double value = kind switch
            {
                InitKind.Gray => 0.5,
                InitKind.Uniform => random.NextDouble(),
                InitKind.Normal or InitKind.StyleStats => mean[i % 3] + deviation[i % 3] * Gaussian(random),
                _ => throw new ArgumentException($"--init {ChoiceOptions.Name(kind)} is not made here.", nameof(kind)),
            };
            pixels[i] = (float)(255 * Math.Clamp(value, 0, 1));
        }
        return new FloatRgbImage(width, height, pixels);
    }

    /// <summary>
    /// Each channel's mean and standard deviation on [0, 1] over the style images' pixels, blended: the means
    /// and the variances are each the blend-weighted sum of the images' (crowsonkb's way), the deviation the
    /// root of that variance. The variance is the population one (over all pixels, divided by their count).
    /// </summary>
    public static (double[] Mean, double[] Deviation) StyleStatistics(IReadOnlyList<RgbImage> styles,
        IReadOnlyList<float>? blend)
    {
        double total = blend?.Sum(w => (double)w) ?? styles.Count;
        var mean = new double[3];
        var variance = new double[3];
        for (int k = 0; k < styles.Count; k++)
        {
            double weight = (blend?[k] ?? 1.0) / total;
            var p = styles[k].Pixels;
            long count = p.Length / 3;
            for (int c = 0; c < 3; c++)
            {
                double sum = 0, squares = 0;
                for (long i = c; i < p.Length; i += 3)
                {
                    double v = p[i] / 255.0;
                    sum += v;
                    squares += v * v;
                }
                double m = sum / count;
                mean[c] += weight * m;
                variance[c] += weight * Math.Max(squares / count - m * m, 0);
            }
        }
        return (mean, variance.Select(Math.Sqrt).ToArray());
    }

    private static double[] Same(double value) => [value, value, value];

    /// <summary>A standard normal draw (Box-Muller, as <c>--init random</c> draws its noise).</summary>
    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
