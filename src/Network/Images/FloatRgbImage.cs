namespace IlgpuStyle.Network.Images;

/// <summary>
/// An RGB image of unrounded values on the 0-255 scale, <c>Pixels[(y*Width + x)*3 + channel]</c>: the
/// result of a run before it is written, so that a 16-bit PNG gets the optimizer's precision and not an
/// 8-bit rounding of it (<see cref="RgbImage"/> is what a decoder gives).
/// </summary>
public sealed class FloatRgbImage
{
    /// <summary>Wraps <paramref name="pixels"/> (3 values per pixel, 0 to 255).</summary>
    public FloatRgbImage(int width, int height, float[] pixels)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"An image needs a positive size, got {width}x{height}.");
        if (pixels.Length != (long)width * height * 3)
            throw new ArgumentException(
                $"A {width}x{height} RGB image needs {width * height * 3} values, got {pixels.Length}.",
                nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>RGB values on the 0-255 scale, row-major.</summary>
    public float[] Pixels { get; }

    /// <summary>The 8-bit image: each value clamped to [0, 255] and rounded (to even at .5, as everywhere).</summary>
    public RgbImage ToBytes()
    {
        var bytes = new byte[Pixels.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Clamp(Math.Round(Pixels[i]), 0, 255);
        return new RgbImage(Width, Height, bytes);
    }

    /// <summary>An 8-bit image's values as they are.</summary>
    public static FloatRgbImage From(RgbImage image) =>
        new(image.Width, image.Height, image.Pixels.Select(p => (float)p).ToArray());
}
