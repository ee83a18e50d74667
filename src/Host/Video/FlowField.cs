using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

// Glossary: a flow field belongs to one frame of W x H pixels; U and V are (H, W) row-major, U[y*W + x]. The pixel
// (x, y) of this frame shows the point that is at (x + U, y + V) in the other frame. Coordinates are pixel centres,
// 0 to W - 1 and 0 to H - 1.

/// <summary>
/// A dense optical flow between two frames, as the frame it belongs to sees it: for each pixel, the displacement to
/// the same point in the other frame. The backward flow of frame t (to frame t - 1) is what warps the stylised frame
/// t - 1 onto frame t (<see cref="Warp"/>); the forward flow of t - 1 (to t), followed along it
/// (<see cref="Follow"/>), checks it (<see cref="FlowReliability"/>).
/// </summary>
internal sealed class FlowField
{
    /// <summary>Wraps the two planes of displacements (<paramref name="u"/> along x, <paramref name="v"/> along y).
    /// </summary>
    public FlowField(int width, int height, float[] u, float[] v)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"A flow needs a positive size, got {width}x{height}.");
        if (u.Length != width * height || v.Length != width * height)
            throw new ArgumentException($"A {width}x{height} flow needs {width * height} values per plane.");
        Width = width;
        Height = height;
        U = u;
        V = v;
    }

    /// <summary>The frame's width in pixels.</summary>
    public int Width { get; }

    /// <summary>The frame's height in pixels.</summary>
    public int Height { get; }

    /// <summary>Displacements along x, (H, W) row-major.</summary>
    public float[] U { get; }

    /// <summary>Displacements along y, (H, W) row-major.</summary>
    public float[] V { get; }

    /// <summary>The same displacement (<paramref name="u"/>, <paramref name="v"/>) everywhere: a pan.</summary>
    public static FlowField Uniform(int width, int height, float u, float v)
    {
        var us = new float[width * height];
        var vs = new float[width * height];
        Array.Fill(us, u);
        Array.Fill(vs, v);
        return new FlowField(width, height, us, vs);
    }

    /// <summary>Whether the pixel at <paramref name="index"/> (y*W + x) lands inside the other frame.</summary>
    public bool LandsInside(int index)
    {
        int x = index % Width, y = index / Width;
        float tx = x + U[index], ty = y + V[index];
        return tx >= 0 && tx <= Width - 1 && ty >= 0 && ty <= Height - 1;
    }

    /// <summary>
    /// The other frame's image pulled onto this frame: <c>out(x, y) = other(x + U, y + V)</c>, bilinear between
    /// the four nearest pixels, the border repeated where the flow leads outside (those pixels are never reliable;
    /// they only give the optimizer a start). Rounded to bytes, as every frame is stored.
    /// </summary>
    public RgbImage Warp(RgbImage other)
    {
        if (other.Width != Width || other.Height != Height)
            throw new ArgumentException($"A {Width}x{Height} flow cannot warp a {other.Width}x{other.Height} image.");
        var pixels = new byte[other.Pixels.Length];
        for (int y = 0; y < Height; y++)
        {
            for (int x = 0; x < Width; x++)
            {
                int i = y * Width + x;
                var (x0, y0, fx, fy) = Corner(x + U[i], y + V[i]);
                for (int c = 0; c < 3; c++)
                {
                    double value = Bilinear((xx, yy) => other.Pixels[(yy * Width + xx) * 3 + c], x0, y0, fx, fy);
                    pixels[i * 3 + c] = (byte)Math.Clamp(Math.Round(value), 0, 255);
                }
            }
        }
        return new RgbImage(Width, Height, pixels);
    }

    /// <summary>
    /// <paramref name="other"/> (a flow of the other frame) read where this flow leads: <c>out(x) = other(x + this(x))
    /// </c>, bilinear. With this the backward flow ŵ of frame t and <paramref name="other"/> the forward flow w of
    /// frame t - 1, it is Ruder et al.'s w̃, which should be -ŵ wherever the point is seen in both frames.
    /// </summary>
    public FlowField Follow(FlowField other)
    {
        if (other.Width != Width || other.Height != Height)
            throw new ArgumentException($"Flows of {Width}x{Height} and {other.Width}x{other.Height} do not match.");
        var u = new float[U.Length];
        var v = new float[V.Length];
        for (int y = 0; y < Height; y++)
        {
            for (int x = 0; x < Width; x++)
            {
                int i = y * Width + x;
                var (x0, y0, fx, fy) = Corner(x + U[i], y + V[i]);
                u[i] = (float)Bilinear((xx, yy) => other.U[yy * Width + xx], x0, y0, fx, fy);
                v[i] = (float)Bilinear((xx, yy) => other.V[yy * Width + xx], x0, y0, fx, fy);
            }
        }
        return new FlowField(Width, Height, u, v);
    }

    /// <summary>The top-left pixel of the four around (x, y), clamped into the frame, and the fractions towards the
    /// other three (0 on a clamped side: the border pixel repeated).</summary>
    private (int X0, int Y0, double Fx, double Fy) Corner(double x, double y)
    {
        x = Math.Clamp(x, 0, Width - 1);
        y = Math.Clamp(y, 0, Height - 1);
        int x0 = Math.Min((int)Math.Floor(x), Width - 1), y0 = Math.Min((int)Math.Floor(y), Height - 1);
        return (x0, y0, x - x0, y - y0);
    }

    /// <summary>Bilinear interpolation of <paramref name="at"/> (x, y) between (x0, y0) and the next pixel each way.
    /// </summary>
    private double Bilinear(Func<int, int, double> at, int x0, int y0, double fx, double fy)
    {
        int x1 = Math.Min(x0 + 1, Width - 1), y1 = Math.Min(y0 + 1, Height - 1);
        double top = (1 - fx) * at(x0, y0) + fx * at(x1, y0);
        double bottom = (1 - fx) * at(x0, y1) + fx * at(x1, y1);
        return (1 - fy) * top + fy * bottom;
    }
}
