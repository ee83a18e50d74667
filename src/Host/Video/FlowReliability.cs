using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

// Glossary: frame t is being stylised; ŵ = (û, v̂) is its backward flow (to frame t - j), w the forward flow of frame
// t - j (to frame t), w̃(x) = w(x + ŵ(x)) the forward flow followed along the backward one. c is an (H, W) plane of
// per-pixel weights, c[y*W + x], 1 where the warped frame t - j can be trusted at that pixel and 0 where it cannot.

/// <summary>
/// Where a previous frame, warped by the optical flow, may hold the stylised frame t in place: Ruder, Dosovitskiy
/// and Brox 2016 (section 3.2), the weights c of the temporal loss. A pixel is left out (c = 0) where
/// <list type="bullet">
/// <item>it is disoccluded, seen in frame t but not in frame t - j: the forward and backward flows disagree,
/// <c>|w̃ + ŵ|² &gt; 0.01 (|w̃|² + |ŵ|²) + 0.5</c>;</item>
/// <item>it lies on a motion boundary, where the flow changes abruptly and is least accurate:
/// <c>|∇û|² + |∇v̂|² &gt; 0.01 |ŵ|² + 0.002</c>;</item>
/// <item>its point was outside frame t - j (it entered the picture: a pan's new edge).</item>
/// </list>
/// Long-term consistency (eq. 8) weighs several previous frames and excludes from each the pixels a nearer frame
/// already covers, so every pixel follows the nearest frame that saw it (<see cref="LongTerm"/>).
/// </summary>
internal static class FlowReliability
{
    /// <summary>The weights c of frame t from its backward flow to frame t - j and that frame's forward flow to t.
    /// </summary>
    public static float[] Weights(FlowField backward, FlowField forward)
    {
        int w = backward.Width, h = backward.Height;
        var followed = backward.Follow(forward); // w̃
        var c = new float[w * h];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int i = y * w + x;
                double bu = backward.U[i], bv = backward.V[i], fu = followed.U[i], fv = followed.V[i];
                double disagreement = Square(fu + bu) + Square(fv + bv);
                bool disoccluded = disagreement > 0.01 * (Square(fu) + Square(fv) + Square(bu) + Square(bv)) + 0.5;
                double gradient = GradientSquared(backward.U, x, y, w, h) + GradientSquared(backward.V, x, y, w, h);
                bool boundary = gradient > 0.01 * (Square(bu) + Square(bv)) + 0.002;
                c[i] = disoccluded || boundary || !backward.LandsInside(i) ? 0f : 1f;
            }
        }
        return c;
    }

    /// <summary>
    /// Ruder et al.'s long-term weights (eq. 8) from each previous frame's own weights, nearest first
    /// (<paramref name="nearestFirst"/>[0] for frame t - 1, [1] for t - 2, ...):
    /// <c>c_long(j) = max(c(j) - Σ_{k nearer than j} c(k), 0)</c>. With 0-or-1 weights every pixel keeps the nearest
    /// frame that saw it reliably and no other, so the weights are disjoint and the frames' terms merge into one
    /// target (<see cref="Merge"/>).
    /// </summary>
    public static IReadOnlyList<float[]> LongTerm(IReadOnlyList<float[]> nearestFirst)
    {
        var covered = new float[nearestFirst[0].Length];
        var result = new List<float[]>();
        foreach (var c in nearestFirst)
        {
            var own = new float[c.Length];
            for (int i = 0; i < c.Length; i++)
            {
                own[i] = Math.Max(c[i] - covered[i], 0f);
                covered[i] += c[i];
            }
            result.Add(own);
        }
        return result;
    }

    /// <summary>
    /// The temporal loss's one target and one weight plane from the previous frames' warped results and their
    /// disjoint long-term weights: at each pixel the frame that covers it (the nearest warped frame where none does,
    /// with weight 0). <c>Σ_j c_j (x - t_j)²</c> is then <c>m (x - t)²</c> with <c>m = Σ_j c_j</c>, since at most one
    /// c_j is 1 at a pixel.
    /// </summary>
    public static (RgbImage Target, float[] Weights) Merge(IReadOnlyList<RgbImage> warpedNearestFirst,
        IReadOnlyList<float[]> longTerm)
    {
        var first = warpedNearestFirst[0];
        var pixels = (byte[])first.Pixels.Clone();
        var m = new float[first.Width * first.Height];
        for (int j = 0; j < warpedNearestFirst.Count; j++)
        {
            var c = longTerm[j];
            for (int i = 0; i < m.Length; i++)
            {
                if (c[i] == 0) continue;
                m[i] += c[i];
                Array.Copy(warpedNearestFirst[j].Pixels, i * 3, pixels, i * 3, 3);
            }
        }
        return (new RgbImage(first.Width, first.Height, pixels), m);
    }

    private static double Square(double value) => value * value;

    /// <summary>|∇p|² at (x, y) by central differences (one-sided at the border).</summary>
    private static double GradientSquared(float[] p, int x, int y, int w, int h)
    {
        int left = Math.Max(x - 1, 0), right = Math.Min(x + 1, w - 1);
        int up = Math.Max(y - 1, 0), down = Math.Min(y + 1, h - 1);
        double dx = right == left ? 0 : (p[y * w + right] - p[y * w + left]) / (double)(right - left);
        double dy = down == up ? 0 : (p[down * w + x] - p[up * w + x]) / (double)(down - up);
        return dx * dx + dy * dy;
    }
}
