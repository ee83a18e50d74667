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
/// <param name="Temporal">A video frame's temporal target (<see cref="VideoRun"/>); null for a first frame, whose
/// temporal term weighs nothing.</param>
internal sealed record RunImages(RgbImage? Content, byte[]? Alpha, (int Width, int Height) Canvas,
    IReadOnlyList<RgbImage> Styles, RgbImage? Init = null, RegionMasks? Masks = null, TemporalTarget? Temporal = null)
{
    /// <summary>The style images' sizes, as the planner needs them.</summary>
    public IReadOnlyList<(int Width, int Height)> StyleSizes => Styles.Select(s => (s.Width, s.Height)).ToList();

    /// <summary>
    /// Decodes every image of the run and checks the masks against them; a content alpha that a JPEG output
    /// cannot hold is dropped with a note on <paramref name="output"/>. A batch passes <paramref name="styles"/>, which
    /// decodes a style image once for all the images that use it.
    /// </summary>
    public static RunImages Load(RunOptions o, TextWriter output, StyleImages? styles = null)
    {
        var (content, alpha) = o.Content is null
            ? (null, null)
            : ImageFiles.LoadWithAlpha(o.Content, "content image");
        var canvas = content is null ? o.TextureCanvas : (content.Width, content.Height);
        var paintings = o.Styles.Select(s => styles?.Load(s) ?? ImageFiles.Load(s, "style image")).ToList();
        var init = o.Init == InitKind.Image ? ImageFiles.Load(o.InitImage!, "init image") : null;
        if (alpha is not null && !ImageFiles.IsPng(o.Output))
        {
            output.WriteLine($"note: the content image has an alpha channel, which a JPEG cannot hold: {o.Output} " +
                             "will be opaque (write a .png to keep it).");
            alpha = null;
        }
        var masks = content is null ? null : RegionMasks.Load(o, content, paintings); // none: a texture
        return new RunImages(content, alpha, canvas, paintings, init, masks);
    }

    /// <summary>The content's alpha (at the content's size) resized like the content to an image's size; null
    /// without one.</summary>
    public byte[]? AlphaAt(int width, int height) =>
        Alpha is null ? null : ImageFiles.ResizeAlpha(Alpha, Canvas.Width, Canvas.Height, width, height);
}

/// <summary>What the temporal loss keeps a video frame near: the previous stylised frames warped onto it, merged
/// (<see cref="FlowReliability.Merge"/>), at the run's size, and the (H, W) weights c of its pixels.</summary>
/// <param name="Target">The warped stylised frames.</param>
/// <param name="Weights">1 where the flow is reliable, 0 elsewhere, (H, W) row-major.</param>
internal sealed record TemporalTarget(RgbImage Target, float[] Weights);

/// <summary>
/// A batch's style images, each decoded once: most batches paint many photographs with one or a few paintings. A
/// file is decoded again when its size or time of change is not the one decoded (it was replaced meanwhile).
/// </summary>
internal sealed class StyleImages
{
    private readonly Dictionary<string, (long Length, DateTime Changed, RgbImage Image)> _decoded = [];

    /// <summary>The style image at <paramref name="path"/>, as <see cref="ImageFiles.Load"/> decodes it.</summary>
    public RgbImage Load(string path)
    {
        string key = Path.GetFullPath(path);
        var file = new FileInfo(key);
        if (file.Exists && _decoded.TryGetValue(key, out var known) && known.Length == file.Length &&
            known.Changed == file.LastWriteTimeUtc)
            return known.Image;
        var image = ImageFiles.Load(path, "style image");
        if (file.Exists) _decoded[key] = (file.Length, file.LastWriteTimeUtc, image);
        return image;
    }
}
