using System.Runtime.InteropServices;
using IlgpuStyle.Network.Images;
using OpenCvSharp;

namespace IlgpuStyle.Host;

/// <summary>An optical flow method: the flow of one frame to another (<see cref="FlowField"/>).</summary>
internal interface IOpticalFlow
{
    /// <summary>For each pixel of <paramref name="from"/>, where its point is in <paramref name="to"/> (same size).
    /// </summary>
    FlowField Estimate(RgbImage from, RgbImage to);
}

/// <summary>
/// Farnebäck's dense optical flow (2003), from OpenCV. The issue asked for DIS (Kroeger et al. 2016), which the
/// OpenCvSharp4 4.13 packages do not have (neither in the managed API nor exported by their native library);
/// Farnebäck's is the dense method they do have that runs in well under a second a frame on a CPU (DualTVL1 is far
/// slower). It fits a quadratic polynomial to each neighbourhood and solves for the shift between the two fits, coarse
/// to fine over a pyramid: accurate to a tenth of a pixel on textured areas, smooth across motion boundaries (there
/// the reliability check, not the flow, keeps the temporal loss out).
/// </summary>
internal sealed class FarnebackFlow : IOpticalFlow
{
    // Five pyramid levels halving each time follow motions of up to about 2^5 windows; 21 px windows, 10 iterations a
    // level and polyN 7 with sigma 1.5 (OpenCV's recommendation for polyN 7) gave 0.02 px mean error on a 3 px pan
    // of a photograph at 160x120, where OpenCV's example values (3 levels, 15 px, 3 iterations, polyN 5) gave 0.1 px.
    private const double PyramidScale = 0.5;
    private const int Levels = 5, Window = 21, Iterations = 10, PolyN = 7;
    private const double PolySigma = 1.5;

    /// <inheritdoc/>
    public FlowField Estimate(RgbImage from, RgbImage to)
    {
        if (from.Width != to.Width || from.Height != to.Height)
            throw new ArgumentException("The optical flow needs two frames of one size.");
        using var a = OpenCv.Grey(from);
        using var b = OpenCv.Grey(to);
        using var flow = new Mat();
        Cv2.CalcOpticalFlowFarneback(a, b, flow, PyramidScale, Levels, Window, Iterations, PolyN, PolySigma,
            OpticalFlowFlags.None);
        flow.GetArray(out Vec2f[] values); // (H, W) of (dx, dy)
        var u = new float[values.Length];
        var v = new float[values.Length];
        for (int i = 0; i < values.Length; i++) (u[i], v[i]) = (values[i].Item0, values[i].Item1);
        return new FlowField(from.Width, from.Height, u, v);
    }
}

/// <summary>
/// What the video command takes from OpenCV besides the flow: that its native library loads, and the conversions
/// between its matrices (BGR, as OpenCV decodes) and our RGB images.
/// </summary>
internal static class OpenCv
{
    /// <summary>
    /// Loads OpenCV's native library, or throws a <see cref="UsageException"/> that says what it needs: the
    /// OpenCvSharp4 runtime for Linux x64 links against GTK3, pango, cairo, gdk-pixbuf, glib, freetype, harfbuzz
    /// and the X11 libraries.
    /// </summary>
    public static string Version()
    {
        try
        {
            return Cv2.GetVersionString() ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or BadImageFormatException
                                      or EntryPointNotFoundException)
        {
            throw new UsageException("Video needs OpenCV's native library (libOpenCvSharpExtern), which could not " +
                                     $"be loaded ({(e.InnerException ?? e).Message.ReplaceLineEndings(" ")}). On " +
                                     "Linux it needs GTK3, pango, cairo, gdk-pixbuf, glib, freetype, harfbuzz and " +
                                     "the X11 libraries (Debian: apt-get install libgtk-3-0).");
        }
    }

    /// <summary>The grey (8-bit, one channel) matrix of an image, as the flow methods take it.</summary>
    public static Mat Grey(RgbImage image)
    {
        using var rgb = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC3, image.Pixels);
        var grey = new Mat();
        Cv2.CvtColor(rgb, grey, ColorConversionCodes.RGB2GRAY);
        return grey;
    }

    /// <summary>The BGR matrix of an image, as a <see cref="VideoWriter"/> takes it.</summary>
    public static Mat Bgr(RgbImage image)
    {
        using var rgb = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC3, image.Pixels);
        var bgr = new Mat();
        Cv2.CvtColor(rgb, bgr, ColorConversionCodes.RGB2BGR);
        return bgr;
    }

    /// <summary>The RGB image of a decoded BGR frame.</summary>
    public static RgbImage Image(Mat bgr)
    {
        using var rgb = new Mat();
        Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
        var pixels = new byte[rgb.Width * rgb.Height * 3];
        if (!rgb.IsContinuous()) throw new InvalidOperationException("OpenCV gave a frame with gaps between rows.");
        Marshal.Copy(rgb.Data, pixels, 0, pixels.Length);
        return new RgbImage(rgb.Width, rgb.Height, pixels);
    }
}
