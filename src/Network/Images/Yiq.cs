namespace IlgpuStyle.Network.Images;

/// <summary>
/// The YIQ colour space (NTSC): Y is the luminance of SPEC.md (<c>0.299 R + 0.587 G + 0.114 B</c>), I and Q
/// the chroma. Luminance-only transfer optimizes Y alone and takes I and Q from the content (Gatys et al.
/// 2017, section 5.1).
/// </summary>
/// <remarks>Any colour space whose first row is this Y and whose chroma rows sum to zero recombines alike
/// (YUV too: <c>--original-colors</c> gives the same colours): grey (1, 1, 1) has no chroma, so
/// replacing Y adds <c>(Y' - Y)(1, 1, 1)</c> to the pixel.</remarks>
public static class Yiq
{
    /// <summary>RGB to YIQ, rows Y, I, Q (the FCC's coefficients).</summary>
    public static readonly double[,] FromRgb =
    {
        { 0.299, 0.587, 0.114 },
        { 0.595716, -0.274453, -0.321263 },
        { 0.211456, -0.522591, 0.311135 },
    };

    /// <summary>YIQ to RGB: the exact inverse of <see cref="FromRgb"/>, computed once in double (the published
    /// four-digit inverse would make RGB to YIQ and back off by 1e-4).</summary>
    public static readonly double[,] ToRgb = Inverse(FromRgb);

    /// <summary>Y of one RGB colour.</summary>
    public static double Luminance(double r, double g, double b) =>
        FromRgb[0, 0] * r + FromRgb[0, 1] * g + FromRgb[0, 2] * b;

    /// <summary>Y of every pixel of an 8-bit image, on the 0-255 scale.</summary>
    public static double[] Luminance(RgbImage image)
    {
        var y = new double[image.Width * image.Height];
        for (int i = 0; i < y.Length; i++)
            y[i] = Luminance(image.Pixels[i * 3], image.Pixels[i * 3 + 1], image.Pixels[i * 3 + 2]);
        return y;
    }

    /// <summary>(Y, I, Q) of one RGB colour.</summary>
    public static (double Y, double I, double Q) Forward(double r, double g, double b) =>
        (Row(FromRgb, 0, r, g, b), Row(FromRgb, 1, r, g, b), Row(FromRgb, 2, r, g, b));

    /// <summary>(R, G, B) of one YIQ colour.</summary>
    public static (double R, double G, double B) Inverse(double y, double i, double q) =>
        (Row(ToRgb, 0, y, i, q), Row(ToRgb, 1, y, i, q), Row(ToRgb, 2, y, i, q));

    /// <summary>
    /// The luminance <paramref name="luminance"/> (one value per pixel, 0-255 scale) with the chroma (I, Q)
    /// of <paramref name="chroma"/> (same size), each value clamped to [0, 255] (a Y far from the content's
    /// can ask for a colour outside the cube: there the chroma is no longer the content's).
    /// </summary>
    public static FloatRgbImage Recombine(ReadOnlySpan<double> luminance, RgbImage chroma)
    {
        int n = chroma.Width * chroma.Height;
        if (luminance.Length != n)
            throw new ArgumentException($"{luminance.Length} luminance values for a {chroma.Width}x{chroma.Height} " +
                                        "image.", nameof(luminance));
        var pixels = new float[n * 3];
        var p = chroma.Pixels;
        for (int k = 0; k < n; k++)
        {
            var (_, i, q) = Forward(p[k * 3], p[k * 3 + 1], p[k * 3 + 2]);
            var (r, g, b) = Inverse(luminance[k], i, q);
            pixels[k * 3] = (float)Math.Clamp(r, 0, 255);
            pixels[k * 3 + 1] = (float)Math.Clamp(g, 0, 255);
            pixels[k * 3 + 2] = (float)Math.Clamp(b, 0, 255);
        }
        return new FloatRgbImage(chroma.Width, chroma.Height, pixels);
    }

    /// <summary>
    /// <paramref name="luminance"/> shifted and scaled so its mean and standard deviation are
    /// <paramref name="target"/>'s: <c>Y' = (s_C/s_S)(Y - m_S) + m_C</c> (SPEC.md, "Luminance"). A constant
    /// image (s_S = 0) becomes the target's mean.
    /// </summary>
    public static double[] MatchMeanAndDeviation(double[] luminance, double[] target)
    {
        var (mean, deviation) = MeanAndDeviation(luminance);
        var (targetMean, targetDeviation) = MeanAndDeviation(target);
        double scale = deviation > 0 ? targetDeviation / deviation : 0;
        return luminance.Select(y => scale * (y - mean) + targetMean).ToArray();
    }

    /// <summary>Mean and (population) standard deviation.</summary>
    public static (double Mean, double Deviation) MeanAndDeviation(double[] values)
    {
        double mean = values.Average();
        double variance = values.Sum(v => (v - mean) * (v - mean)) / values.Length;
        return (mean, Math.Sqrt(variance));
    }

    private static double Row(double[,] m, int row, double a, double b, double c) =>
        m[row, 0] * a + m[row, 1] * b + m[row, 2] * c;

    /// <summary>The inverse of a 3x3 matrix by cofactors (well conditioned here).</summary>
    private static double[,] Inverse(double[,] m)
    {
        var inverse = new double[3, 3];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
        {
            // Cofactor of (c, r), the transpose's entry: rows and columns cycled, so no sign is needed.
            int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
            inverse[r, c] = m[r1, c1] * m[r2, c2] - m[r1, c2] * m[r2, c1];
        }
        double determinant = m[0, 0] * inverse[0, 0] + m[0, 1] * inverse[1, 0] + m[0, 2] * inverse[2, 0];
        for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            inverse[r, c] /= determinant;
        return inverse;
    }
}
