using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// A region's guide at each style layer's resolution (Gatys et al. 2017, sec. 4), computed on the
/// host in double precision from the pixel guide, once per run and scale: the one statement of how
/// guides go down the network, used by the device objective and the reference alike.
/// </summary>
/// <remarks>
/// The guide follows the network's geometry, not its values: a 3x3 convolution (padding 1) keeps
/// the resolution, a 2x2 pooling (stride 2, floor on odd sizes) halves it. <see cref="MaskMode.Simple"/>
/// leaves a guide unchanged through a convolution and averages it at a pooling.
/// <see cref="MaskMode.Inside"/> takes the minimum over what each position reads, the 3x3
/// neighbourhood within the image (padding reads zeros, which belong to no region) or the 2x2
/// window, so a position's guide is the smallest pixel guide in its receptive field: a position is
/// inside a binary mask exactly when its whole receptive field is, and its feature then depends on
/// no pixel outside the region.
/// </remarks>
public static class RegionGuides
{
    /// <summary>
    /// The guide of <paramref name="pixels"/> at each ReLU layer of <paramref name="layers"/>, as a
    /// plane of that layer's height x width.
    /// </summary>
    public static IReadOnlyDictionary<string, GuidePlane> AtLayers(GuidePlane pixels, VggWeights weights,
        IReadOnlyCollection<string> layers, MaskMode mode)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(weights);
        var guides = new Dictionary<string, GuidePlane>();
        if (layers.Count == 0) return guides;
        string deepest = weights.Architecture.Deepest(layers);
        var guide = pixels;
        int block = 1;
        foreach (var conv in weights.Layers)
        {
            int convBlock = weights.Architecture.Block(conv.Name);
            if (convBlock != block)
            {
                guide = mode == MaskMode.Inside ? MinimumPool(guide) : AveragePool(guide);
                block = convBlock;
            }
            if (mode == MaskMode.Inside) guide = Erode(guide);
            string relu = weights.Architecture.ReluName(conv.Name);
            if (layers.Contains(relu)) guides[relu] = guide;
            if (relu == deepest) break;
        }
        return guides;
    }

    /// <summary>
    /// A guide as the device uses it: rounded to float (a guide of ones stays exactly ones).
    /// </summary>
    public static float[] ToFloat(GuidePlane guide) => Array.ConvertAll(guide.Values, v => (float)v);

    /// <summary>
    /// The guided Gram's normalisation (SPEC.md, "Regions"), <c>1 / (C * sum_p T[p]^2)</c>, from the
    /// float guide the device multiplies by; with a guide of ones exactly the unguided
    /// <c>1 / (C*H*W)</c>. Zero when the guide is zero everywhere (the caller leaves such a term out).
    /// </summary>
    public static float GramScale(int channels, float[] guide)
    {
        double mass = 0;
        foreach (float t in guide) mass += (double)t * t;
        return mass == 0 ? 0f : 1f / (float)(channels * mass);
    }

    /// <summary>The 2x2 average of each window, as <see cref="AvgPool2d"/> pools features.</summary>
    private static GuidePlane AveragePool(GuidePlane guide)
    {
        var input = new ChwShape(1, guide.Height, guide.Width);
        var output = MaxPool2d.OutputShape(input);
        var values = new double[output.Length];
        AvgPool2d.ForwardReference(values, guide.Values, input);
        return new GuidePlane(values, output.Height, output.Width);
    }

    /// <summary>The 2x2 minimum of each window (floor on odd sizes, like the pooling of the features).</summary>
    private static GuidePlane MinimumPool(GuidePlane guide)
    {
        int height = guide.Height / 2, width = guide.Width / 2;
        var values = new double[height * width];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            double a = guide.Values[2 * y * guide.Width + 2 * x], b = guide.Values[2 * y * guide.Width + 2 * x + 1];
            double c = guide.Values[(2 * y + 1) * guide.Width + 2 * x];
            double d = guide.Values[(2 * y + 1) * guide.Width + 2 * x + 1];
            values[y * width + x] = Math.Min(Math.Min(a, b), Math.Min(c, d));
        }
        return new GuidePlane(values, height, width);
    }

    /// <summary>Grey-scale erosion by the 3x3 window a convolution reads, within the image.</summary>
    private static GuidePlane Erode(GuidePlane guide)
    {
        int height = guide.Height, width = guide.Width;
        var values = new double[height * width];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            double smallest = double.PositiveInfinity;
            for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
            {
                int yy = y + dy, xx = x + dx;
                if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                    smallest = Math.Min(smallest, guide.Values[yy * width + xx]);
            }
            values[y * width + x] = smallest;
        }
        return new GuidePlane(values, height, width);
    }
}
