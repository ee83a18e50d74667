using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

/// <summary>
/// A run's masks (<c>--content-mask(s)</c>, <c>--style-masks</c>, <c>--mask-mode</c>) as read from
/// their files, checked once before anything long starts, and resampled to each scale's images.
/// </summary>
/// <remarks>
/// <para>A mask is a grey image (a colour one counts by the mean of its channels), white (1) where
/// its style applies and black (0) where it does not. "The size of the content" means the content
/// file's shape: a mask must have the content file's size in pixels, or be that shape scaled to
/// another longer side exactly as <c>--size</c> scales the content (so a mask drawn over the
/// content at a smaller size works); any other size or aspect ratio is refused. Every scale
/// resamples the mask from its file with the images' filter, to the content's size at that
/// scale. The same holds for a style mask and its style image.</para>
/// <para>Content masks must all have one size, and with two or more every pixel must be non-black in
/// at least one of them: a pixel no style paints is then a mistake in drawing them. The resampling
/// filter's weights are positive and sum to 1, so the masks then cover every pixel at every scale
/// too. A single mask is the strength of its one style over the picture, so black is allowed there
/// (no style, only the content and TV losses): a fade from black is what it is for.</para>
/// </remarks>
internal sealed record RegionMasks(IReadOnlyList<GuidePlane> Content, IReadOnlyList<GuidePlane?> Styles, MaskMode Mode)
{
    /// <summary>The mask files a run reads (none of them may be written).</summary>
    public static IEnumerable<(string Role, string Path)> Files(RunOptions o) =>
        (o.ContentMasks ?? []).Select(m => ("content mask", m))
        .Concat((o.StyleMasks ?? []).Select(m => ("style mask", m)));

    /// <summary>What the device memory of the run's regions depends on; null without masks.</summary>
    public static RegionLayout? LayoutOf(RunOptions o) => o.ContentMasks is null && o.StyleMasks is null
        ? null
        : new RegionLayout(o.Styles.Select(_ => o.StyleMasks is not null).ToList());

    /// <summary>
    /// Reads and checks the masks against the decoded images (their options checked by <see cref="OptionRules"/>); null
    /// when the run has none. With <c>--style-masks</c> alone (one style image) the content mask is
    /// the whole image.
    /// </summary>
    public static RegionMasks? Load(RunOptions o, RgbImage content, IReadOnlyList<RgbImage> styles)
    {
        if (o.ContentMasks is null && o.StyleMasks is null) return null;
        var contentMasks = o.ContentMasks is { } files
            ? files.Select(file => Read(file, "content mask", content, $"content image '{o.Content}'")).ToList()
            : [GuidePlane.White(content.Height, content.Width)];
        var styleMasks = o.StyleMasks is { } styleFiles
            ? styleFiles.Select((file, i) => (GuidePlane?)Read(file, "style mask", styles[i],
                $"style image '{o.Styles[i]}'")).ToList()
            : styles.Select(_ => (GuidePlane?)null).ToList();
        if (o.ContentMasks is { Count: > 1 } names) CheckCoverage(contentMasks, names);
        return new RegionMasks(contentMasks, styleMasks, o.MaskMode ?? MaskMode.Simple);
    }

    /// <summary>The masks resampled to one scale's content and style image sizes.</summary>
    public StyleRegions At(RgbImage content, IReadOnlyList<RgbImage> styles) => new(
        Content.Select(m => m.Resize(content.Width, content.Height)).ToList(),
        Styles.Select((m, i) => m?.Resize(styles[i].Width, styles[i].Height)).ToList(),
        Mode);

    /// <summary>A mask file as a guide, refused unless it has its image's shape and some non-black pixel.</summary>
    private static GuidePlane Read(string path, string role, RgbImage image, string imageName)
    {
        var mask = GuidePlane.FromImage(ImageFiles.Load(path, role));
        var scaled = ImageResize.LongerSideSize(image.Width, image.Height, Math.Max(mask.Width, mask.Height));
        if (scaled != (mask.Width, mask.Height))
        {
            throw new UsageException($"The {role} '{path}' is {mask.Width}x{mask.Height} but the {imageName} is " +
                                     $"{image.Width}x{image.Height}: a mask must have its image's size or its " +
                                     "shape at another size (the same aspect ratio). Draw it over the image.");
        }
        if (mask.Values.All(v => v == 0))
        {
            throw new UsageException($"The {role} '{path}' is black everywhere, so it selects nothing: white marks " +
                                     "where it applies.");
        }
        return mask;
    }

    /// <summary>Every pixel must be non-black in some content mask (two or more, all of one size).</summary>
    private static void CheckCoverage(IReadOnlyList<GuidePlane> masks, IReadOnlyList<string> names)
    {
        var first = masks[0];
        for (int i = 1; i < masks.Count; i++)
        {
            if (masks[i].Width != first.Width || masks[i].Height != first.Height)
            {
                throw new UsageException($"The content masks '{names[0]}' ({first.Width}x{first.Height}) and " +
                                         $"'{names[i]}' ({masks[i].Width}x{masks[i].Height}) differ in size: " +
                                         "give every content mask the same size.");
            }
        }
        int uncovered = 0, firstUncovered = -1;
        for (int p = 0; p < first.Values.Length; p++)
        {
            if (masks.Any(m => m.Values[p] > 0)) continue;
            if (uncovered++ == 0) firstUncovered = p;
        }
        if (uncovered == 0) return;
        throw new UsageException($"{uncovered} of the {first.Width}x{first.Height} mask pixels are black in " +
                                 $"every content mask (the first at x={firstUncovered % first.Width}, " +
                                 $"y={firstUncovered / first.Width}): every pixel must be painted by some style, " +
                                 "so make each pixel white or grey in at least one mask.");
    }

}
