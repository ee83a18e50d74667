namespace IlgpuStyle.Network.Images;

/// <summary>
/// Resampling with a triangle (tent) filter, separable: bilinear interpolation when enlarging, and
/// when shrinking a tent widened by the scale factor, so every input pixel contributes (plain
/// bilinear sampling would skip pixels and alias). This is what PIL calls BILINEAR.
/// </summary>
public static class ImageResize
{
    /// <summary>
    /// Scales so that the longer side becomes <paramref name="longerSide"/>, keeping the aspect
    /// ratio (the shorter side is rounded, at least 1). An image already that size is returned as
    /// it is, not resampled (SPEC.md).
    /// </summary>
    public static RgbImage ToLongerSide(RgbImage image, int longerSide)
    {
        var (width, height) = LongerSideSize(image.Width, image.Height, longerSide);
        return Resize(image, width, height);
    }

    /// <summary>
    /// The size <see cref="ToLongerSide"/> gives a <paramref name="width"/> x <paramref name="height"/>
    /// image, without resizing anything (a run checks its memory with it before it resizes).
    /// </summary>
    public static (int Width, int Height) LongerSideSize(int width, int height, int longerSide)
    {
        if (longerSide <= 0)
            throw new ArgumentOutOfRangeException(nameof(longerSide), "The target size must be positive.");
        double scale = (double)longerSide / Math.Max(width, height);
        return (width >= height ? longerSide : Math.Max(1, (int)Math.Round(width * scale)),
                height > width ? longerSide : Math.Max(1, (int)Math.Round(height * scale)));
    }

    /// <summary>Resamples to exactly <paramref name="width"/> x <paramref name="height"/> (no-op when equal).</summary>
    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"The target size must be positive, got {width}x{height}.");
        if (width == image.Width && height == image.Height) return image;

        // Horizontal pass into floats (rows of the source height), then vertical pass to bytes.
        var horizontal = new float[image.Height * width * 3];
        var columns = Taps(image.Width, width);
        for (int y = 0; y < image.Height; y++)
        for (int x = 0; x < width; x++)
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            foreach (var (source, weight) in columns[x])
                sum += weight * image.Pixels[(y * image.Width + source) * 3 + c];
            horizontal[(y * width + x) * 3 + c] = (float)sum;
        }

        var pixels = new byte[width * height * 3];
        var rows = Taps(image.Height, height);
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            foreach (var (source, weight) in rows[y])
                sum += weight * horizontal[(source * width + x) * 3 + c];
            pixels[(y * width + x) * 3 + c] = (byte)Math.Clamp(Math.Round(sum), 0, 255);
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>
    /// For each output position, the input positions and normalised weights of the tent filter.
    /// Output pixel o covers input coordinates centred at <c>(o + 0.5) * in/out - 0.5</c>; the
    /// tent's half-width is 1 input pixel when enlarging and <c>in/out</c> when shrinking.
    /// </summary>
    internal static (int Source, double Weight)[][] Taps(int inputLength, int outputLength)
    {
        double scale = (double)inputLength / outputLength;
        double support = Math.Max(1.0, scale);
        var taps = new (int, double)[outputLength][];
        for (int o = 0; o < outputLength; o++)
        {
            double center = (o + 0.5) * scale - 0.5;
            int first = Math.Max(0, (int)Math.Floor(center - support) + 1);
            int last = Math.Min(inputLength - 1, (int)Math.Ceiling(center + support) - 1);
            var list = new List<(int, double)>();
            double total = 0;
            for (int i = first; i <= last; i++)
            {
                double weight = 1 - Math.Abs(i - center) / support;
                if (weight <= 0) continue;
                list.Add((i, weight));
                total += weight;
            }
            if (list.Count == 0) list.Add((Math.Clamp((int)Math.Round(center), 0, inputLength - 1), total = 1));
            taps[o] = list.Select(t => (t.Item1, t.Item2 / total)).ToArray();
        }
        return taps;
    }
}
