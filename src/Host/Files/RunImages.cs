using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

/// <summary>
/// The images a run is made from, as decoded from their files (the styles colour-matched with
/// <c>--color-control match-style</c> once the run starts). The planner reads their sizes; each scale resamples
/// these originals, never another scale's copy, so no image is resampled twice.
/// </summary>
/// <param name="Content">The content image; null for a texture.</param>
/// <param name="Alpha">The content's alpha channel (one byte per pixel), kept when the output can hold it; else
/// null.</param>
/// <param name="Canvas">The size the result has before scaling: the content's, or the texture's.</param>
/// <param name="Styles">The style images.</param>
/// <param name="Init">The <c>--init-image</c>, if any.</param>
/// <param name="Masks">The regions' masks, if any (<see cref="RegionMasks"/>).</param>
internal sealed record RunImages(RgbImage? Content, byte[]? Alpha, (int Width, int Height) Canvas,
    IReadOnlyList<RgbImage> Styles, RgbImage? Init = null, RegionMasks? Masks = null)
{
    /// <summary>The style images' sizes, as the planner needs them.</summary>
    public IReadOnlyList<(int Width, int Height)> StyleSizes => Styles.Select(s => (s.Width, s.Height)).ToList();

    /// <summary>
    /// Decodes every image of the run and checks the masks against them; a content alpha that a JPEG output
    /// cannot hold is dropped with a note on <paramref name="output"/>.
    /// </summary>
    public static RunImages Load(RunOptions o, TextWriter output)
    {
        var (content, alpha) = o.Content is null
            ? (null, null)
            : ImageFiles.LoadWithAlpha(o.Content, "content image");
        var canvas = content is null ? o.TextureCanvas : (content.Width, content.Height);
        var styles = o.Styles.Select(s => ImageFiles.Load(s, "style image")).ToList();
        var init = o.Init == InitKind.Image ? ImageFiles.Load(o.InitImage!, "init image") : null;
        if (alpha is not null && !ImageFiles.IsPng(o.Output))
        {
            output.WriteLine($"note: the content image has an alpha channel, which a JPEG cannot hold: {o.Output} " +
                             "will be opaque (write a .png to keep it).");
            alpha = null;
        }
        var masks = content is null ? null : RegionMasks.Load(o, content, styles); // none: a texture
        return new RunImages(content, alpha, canvas, styles, init, masks);
    }

    /// <summary>The content's alpha (at the content's size) resized like the content to an image's size; null
    /// without one.</summary>
    public byte[]? AlphaAt(int width, int height) =>
        Alpha is null ? null : ImageFiles.ResizeAlpha(Alpha, Canvas.Width, Canvas.Height, width, height);
}
