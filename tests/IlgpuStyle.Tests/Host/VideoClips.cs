using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Test clips whose motion is known: a window that pans across a picture by a whole number of pixels a frame, so
/// pixel (x, y) of frame t is pixel (x + dx, y + dy) of frame t - 1 (the backward flow is (dx, dy) everywhere, and
/// warping by it is exact). The picture is the project's own synthetic scene, or a photograph from ../shared.
/// </summary>
internal static class VideoClips
{
    /// <summary>
    /// A textured synthetic scene: sinusoids at three angles and wavelengths in each channel and a few discs, so
    /// every neighbourhood has structure in two directions (as a flow method needs) and nothing repeats within a
    /// window (so the motion is unambiguous).
    /// </summary>
    public static RgbImage Scene(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        (double X, double Y, double R)[] discs = [(0.3, 0.4, 0.09), (0.7, 0.6, 0.12), (0.5, 0.2, 0.06)];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    double v = 128
                               + 45 * Math.Sin(0.21 * x + 0.13 * y + 2.1 * c)
                               + 35 * Math.Sin(0.05 * x - 0.17 * y + 0.7 * c)
                               + 25 * Math.Sin(0.11 * x * (1 + 0.3 * c) + 0.02 * y * y / (1 + c));
                    foreach (var (dx, dy, r) in discs)
                    {
                        double distance = Math.Sqrt(Math.Pow(x - dx * width, 2) + Math.Pow(y - dy * height, 2));
                        if (distance < r * width) v = 255 - v * (0.4 + 0.2 * c);
                    }
                    pixels[(y * width + x) * 3 + c] = (byte)Math.Clamp(Math.Round(v), 0, 255);
                }
            }
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Frame t (from 0) of the pan: the <paramref name="width"/> x <paramref name="height"/> window at
    /// (x0 + t dx, y0 + t dy) of <paramref name="picture"/>.</summary>
    public static RgbImage Frame(RgbImage picture, int width, int height, int x0, int y0, int dx, int dy, int t)
    {
        int left = x0 + t * dx, top = y0 + t * dy;
        if (left < 0 || top < 0 || left + width > picture.Width || top + height > picture.Height)
            throw new ArgumentException("The pan leaves the picture.");
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            Array.Copy(picture.Pixels, ((top + y) * picture.Width + left) * 3, pixels, y * width * 3, width * 3);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>The frames written as frame_0001.png, ... into <paramref name="folder"/>.</summary>
    public static string FramesFolder(string folder, IEnumerable<RgbImage> frames)
    {
        Directory.CreateDirectory(folder);
        int t = 0;
        foreach (var frame in frames) ImageFiles.SaveAtomically(frame, Path.Combine(folder, $"frame_{++t:D4}.png"));
        return folder;
    }

    /// <summary>
    /// Ruder et al.'s measure of flicker between consecutive stylised frames: the mean squared difference (0-255
    /// scale, over the three channels) between frame t and frame t - 1 warped by the known motion, over the pixels
    /// whose point was inside frame t - 1, averaged over the frame pairs.
    /// </summary>
    public static double WarpingError(IReadOnlyList<RgbImage> stylised, int dx, int dy)
    {
        double total = 0;
        for (int t = 1; t < stylised.Count; t++)
        {
            var (now, before) = (stylised[t], stylised[t - 1]);
            double sum = 0;
            long count = 0;
            for (int y = 0; y < now.Height; y++)
            {
                for (int x = 0; x < now.Width; x++)
                {
                    int px = x + dx, py = y + dy;
                    if (px < 0 || py < 0 || px >= now.Width || py >= now.Height) continue;
                    for (int c = 0; c < 3; c++)
                    {
                        double d = now.Pixels[(y * now.Width + x) * 3 + c] -
                                   before.Pixels[(py * now.Width + px) * 3 + c];
                        sum += d * d;
                        count++;
                    }
                }
            }
            total += sum / count;
        }
        return total / (stylised.Count - 1);
    }

    /// <summary>
    /// How far an estimated flow is from the known (dx, dy), over the pixels at least <paramref name="margin"/> from
    /// the border (where the window's new content enters): the mean end-point error and the share of pixels within
    /// 1 px.
    /// </summary>
    public static (double Mean, double WithinOnePixel) FlowError(FlowField flow, int dx, int dy, int margin)
    {
        var errors = new List<double>();
        for (int y = margin; y < flow.Height - margin; y++)
        {
            for (int x = margin; x < flow.Width - margin; x++)
            {
                int i = y * flow.Width + x;
                errors.Add(Math.Sqrt(Math.Pow(flow.U[i] - dx, 2) + Math.Pow(flow.V[i] - dy, 2)));
            }
        }
        return (errors.Average(), errors.Count(e => e <= 1) / (double)errors.Count);
    }
}
