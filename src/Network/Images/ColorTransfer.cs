namespace IlgpuStyle.Network.Images;

/// <summary>
/// <c>--original-colors</c>: keep the content photograph's colours and take only the luminance of
/// the stylized result (Gatys et al., "Preserving Color in Neural Artistic Style Transfer"; the
/// classic tool does it in YUV, as here).
/// </summary>
public static class ColorTransfer
{
    /// <summary>Y of <paramref name="stylized"/> with U and V of <paramref name="content"/> (same size).</summary>
    public static RgbImage KeepOriginalColors(RgbImage stylized, RgbImage content) =>
        KeepOriginalColors(FloatRgbImage.From(stylized), content).ToBytes();

    /// <summary>Y of <paramref name="stylized"/> (unrounded) with U and V of <paramref name="content"/> (same
    /// size), clamped to [0, 255] but not rounded.</summary>
    public static FloatRgbImage KeepOriginalColors(FloatRgbImage stylized, RgbImage content)
    {
        if (stylized.Width != content.Width || stylized.Height != content.Height)
            throw new ArgumentException(
                $"The images must have one size: {stylized.Width}x{stylized.Height} " +
                $"and {content.Width}x{content.Height}.");
        var pixels = new float[stylized.Pixels.Length];
        var s = stylized.Pixels;
        for (int i = 0; i < pixels.Length; i += 3)
        {
            double y = 0.299 * s[i] + 0.587 * s[i + 1] + 0.114 * s[i + 2];
            var (u, v) = Chroma(content.Pixels, i);
            pixels[i] = Clamp(y + 1.13983 * v);
            pixels[i + 1] = Clamp(y - 0.39465 * u - 0.58060 * v);
            pixels[i + 2] = Clamp(y + 2.03211 * u);
        }
        return new FloatRgbImage(stylized.Width, stylized.Height, pixels);
    }

    /// <summary>Y of the pixel at byte offset i (BT.601 weights).</summary>
    public static double Luma(byte[] rgb, int i) => 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];

    /// <summary>U and V of the pixel at byte offset i.</summary>
    public static (double U, double V) Chroma(byte[] rgb, int i) =>
        (-0.14713 * rgb[i] - 0.28886 * rgb[i + 1] + 0.436 * rgb[i + 2],
         0.615 * rgb[i] - 0.51499 * rgb[i + 1] - 0.10001 * rgb[i + 2]);

    private static float Clamp(double value) => (float)Math.Clamp(value, 0, 255);
}
