using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Network;

/// <summary>How a region's guide is carried from the pixels down to each style layer.</summary>
public enum MaskMode
{
    /// <summary>
    /// The mask averaged down by each 2x2 pooling and unchanged through the 3x3 convolutions: a
    /// position's weight is how much of its pixel block the region covers (Gatys et al. 2017's
    /// plain guided Gram). Features near a boundary see a little of the other region.
    /// </summary>
    Simple,

    /// <summary>
    /// The paper's "inside" guides: a position's weight is the smallest mask value in its whole
    /// receptive field (a 3x3 grey-scale erosion at each convolution, a 2x2 minimum at each
    /// pooling), so a region's guided features never see across its boundary. Deep layers of a
    /// small region can be eroded away entirely.
    /// </summary>
    Inside,
}

/// <summary>
/// A grey plane of guide values in [0, 1], one per pixel, row-major (a mask: 1 where its style
/// applies, 0 where it does not).
/// </summary>
/// <param name="Values">Height * Width values, row by row.</param>
/// <param name="Height">Rows.</param>
/// <param name="Width">Columns.</param>
public sealed record GuidePlane(double[] Values, int Height, int Width)
{
    /// <summary>A plane of ones: the whole image.</summary>
    public static GuidePlane White(int height, int width) =>
        new(Enumerable.Repeat(1.0, height * width).ToArray(), height, width);

    /// <summary>
    /// A decoded image as a guide: each pixel's mean of R, G and B over 255, so a grey image's
    /// levels map to [0, 1] exactly (white to 1, black to 0).
    /// </summary>
    public static GuidePlane FromImage(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var values = new double[image.Width * image.Height];
        for (int i = 0; i < values.Length; i++)
            values[i] = (image.Pixels[3 * i] + image.Pixels[3 * i + 1] + image.Pixels[3 * i + 2]) / (3 * 255.0);
        return new GuidePlane(values, image.Height, image.Width);
    }

    /// <summary>
    /// Resampled to <paramref name="width"/> x <paramref name="height"/> with the filter that resizes the
    /// images (<see cref="ImageResize"/>), in double precision, no rounding to 8 bits; the plane
    /// itself when the size is already right. The filter's weights sum to 1, so masks that cover
    /// every pixel between them still do after resampling.
    /// </summary>
    public GuidePlane Resize(int width, int height)
    {
        if (width == Width && height == Height) return this;
        var columns = ImageResize.Taps(Width, width);
        var rows = ImageResize.Taps(Height, height);
        var horizontal = new double[Height * width];
        for (int y = 0; y < Height; y++)
        for (int x = 0; x < width; x++)
            horizontal[y * width + x] = columns[x].Sum(t => t.Weight * Values[y * Width + t.Source]);
        var values = new double[height * width];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            values[y * width + x] = rows[y].Sum(t => t.Weight * horizontal[t.Source * width + x]);
        return new GuidePlane(values, height, width);
    }
}

/// <summary>
/// Which style paints where (Gatys et al. 2017, sec. 4): region r is painted in style image r, its
/// content guide says where (at the content's size), and its optional style guide which part of
/// style image r is used (at that image's size; null: all of it).
/// </summary>
/// <param name="Content">One guide per region, each the content image's size.</param>
/// <param name="Styles">Per region, null or a guide the size of style image r.</param>
/// <param name="Mode">How the guides go down the network.</param>
public sealed record StyleRegions(IReadOnlyList<GuidePlane> Content, IReadOnlyList<GuidePlane?> Styles, MaskMode Mode)
{
    /// <summary>The number of regions (and of style images).</summary>
    public int Count => Content.Count;

    /// <summary>What the device memory of the regions depends on (no values).</summary>
    public RegionLayout Layout => new(Styles.Select(s => s is not null).ToList());
}

/// <summary>The shape of a run's regions, as the memory estimate needs it: per region, whether its
/// style image has a guide.</summary>
/// <param name="StyleGuided">Per region, whether a style guide restricts its style image.</param>
public sealed record RegionLayout(IReadOnlyList<bool> StyleGuided)
{
    /// <summary>The number of regions.</summary>
    public int Count => StyleGuided.Count;
}
