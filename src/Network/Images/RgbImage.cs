namespace IlgpuStyle.Network.Images;

/// <summary>
/// An 8-bit RGB image, <c>Pixels[(y*Width + x)*3 + channel]</c> (R, G, B interleaved, row-major):
/// what a decoder gives and an encoder takes.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Wraps <paramref name="pixels"/> (3 bytes per pixel).</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"An image needs a positive size, got {width}x{height}.");
        if (pixels.Length != (long)width * height * 3)
            throw new ArgumentException(
                $"A {width}x{height} RGB image needs {width * height * 3} bytes, got {pixels.Length}.", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>RGB bytes, row-major.</summary>
    public byte[] Pixels { get; }
}
