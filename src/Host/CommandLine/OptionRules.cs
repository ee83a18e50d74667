using System.Globalization;

namespace IlgpuStyle.Host;

/// <summary>
/// What the user typed of the options whose value the parser folds into another (<c>--original-colors</c> into
/// <c>--color-control</c>, <c>--schedule</c> and <c>--texture-size</c> into <c>--size</c>, <c>--content-mask</c>
/// into <c>--content-masks</c>), for the rules that compare what was typed.
/// </summary>
/// <param name="Size"><c>--size</c> when given, else null.</param>
/// <param name="ColorControl"><c>--color-control</c> when given, else null.</param>
/// <param name="OriginalColors">Whether <c>--original-colors</c> was given.</param>
/// <param name="ColorMatch">Whether <c>--color-match</c> was given.</param>
/// <param name="ContentMask">Whether <c>--content-mask</c> was given.</param>
/// <param name="ContentMasks">Whether <c>--content-masks</c> was given.</param>
/// <param name="StyleScale">Whether <c>--style-scale</c> was given (<c>--style-size</c> refuses it).</param>
internal sealed record GivenOptions(int? Size = null, ColorControl? ColorControl = null, bool OriginalColors = false,
    bool ColorMatch = false, bool ContentMask = false, bool ContentMasks = false, bool StyleScale = false);

/// <summary>
/// The one check of the main job's options against each other, made once the command line is read and before
/// any file is opened. Each option's own syntax and range are its parser's (<see cref="NumberOptions"/>,
/// <see cref="ChoiceOptions"/>, <see cref="PlanningOptions"/>); what depends on files (images, masks, weights,
/// output paths) and on memory is the run's to check.
/// </summary>
internal static class OptionRules
{
    /// <summary>Throws a <see cref="UsageException"/> naming the first pair of options that do not go together.
    /// </summary>
    public static void Check(RunOptions o, GivenOptions given)
    {
        CheckSizes(o, given);
        CheckColour(o, given);
        if (o.Init == InitKind.Image && o.InitImage is null)
            throw new UsageException("--init image needs --init-image FILE.");
        if (o.Init != InitKind.Image && o.InitImage is not null)
            throw new UsageException("--init-image is used only with --init image.");
        if (o.Style.StyleBlendWeights is { } blend && blend.Count != o.Styles.Count)
        {
            throw new UsageException(
                $"--style-blend-weights has {blend.Count} values but there are {o.Styles.Count} style images.");
        }
        CheckRegions(o, given);
        CheckTexture(o);
        CheckScales(o);
        if (o.HtmlReport is { } page && Path.GetExtension(page).ToLowerInvariant() is not (".html" or ".htm"))
        {
            throw new UsageException($"--html-report writes a web page: give a file name ending in .html, not " +
                                     $"'{page}'.");
        }
        if (o.BitDepth == 16 && !ImageFiles.IsPng(o.Output))
        {
            throw new UsageException($"--bit-depth 16 needs a PNG output, but '{o.Output}' is a JPEG (8 bits only); " +
                                     "write a .png or leave --bit-depth out.");
        }
    }

    /// <summary>Options given that this run does not use, each as a sentence for a <c>note:</c> line.</summary>
    public static IEnumerable<string> Unused(RunOptions o)
    {
        if (o.Schedule is not null && o.MinSize is not null)
            yield return "--schedule names every scale, so --min-size is not used.";
        if (o.Schedule is not null && o.InitialIterations is not null)
            yield return "--schedule names every scale's iterations, so --initial-iterations is not used.";
        if (o.DryRun && o.Preview is not null) yield return "--dry-run runs nothing, so --preview serves no page.";
        if (o.DryRun && o.HtmlReport is not null) yield return "--dry-run writes nothing, so no --html-report.";
        if (o.MinSize is null && o.ScaleRatio != RunOptions.Defaults.ScaleRatio)
            yield return "--scale-ratio is used only with --min-size.";
        if (!o.MultiScale && o.InitialIterations is not null)
            yield return "--initial-iterations is used only with --min-size.";
    }

    /// <summary><c>--size</c> against <c>--schedule</c>'s last scale and a texture's longer side.</summary>
    private static void CheckSizes(RunOptions o, GivenOptions given)
    {
        // Two ways to size the style images; which one wins would be a rule to learn, so neither does.
        if (o.StyleSize is not null && given.StyleScale)
        {
            throw new UsageException("--style-size and --style-scale both size the style images: give one " +
                                     "(--style-size: a fixed longer side; --style-scale: a multiple of each scale's).");
        }
        int? scheduleEnd = o.Schedule?[^1].Size;
        // The last scale is the result: --size may repeat it, not contradict it.
        if (scheduleEnd is { } end && given.Size is { } size && size != end)
        {
            throw new UsageException($"--schedule ends at {end} but --size is {size}: the last scale is the " +
                                     "result's size; leave --size out or make the two agree.");
        }
        if (o.TextureSize is not { } texture) return;
        if (o.Content is not null)
        {
            throw new UsageException("--texture-size is for a texture (no --content); with a content image the " +
                                     "result takes the content's shape and --size its longer side.");
        }
        int longer = Math.Max(texture.Width, texture.Height);
        if ((scheduleEnd ?? given.Size) is { } asked && asked != longer)
        {
            throw new UsageException($"--texture-size {texture.Width}x{texture.Height} has the longer side {longer} " +
                                     $"but the run's size is {asked} (--size or --schedule): make the two agree or " +
                                     "leave --size out.");
        }
    }

    /// <summary>What needs a content image: a texture has none.</summary>
    private static void CheckTexture(RunOptions o)
    {
        if (o.Content is not null) return;
        if (o.ColorControl != ColorControl.None)
        {
            throw new UsageException($"--color-control {ChoiceOptions.Name(o.ColorControl)} needs a --content image " +
                                     "to take colours from; a texture (no --content) takes the style's colours.");
        }
        if (o.Init == InitKind.Content)
            throw new UsageException("--init content needs --content; a texture starts from --init random.");
        if (o.Style.ContentWeight is > 0)
            throw new UsageException("--content-weight needs --content; a texture has no content loss.");
    }

    /// <summary><c>--original-colors</c>, <c>--color-control</c> and <c>--color-match</c>.</summary>
    private static void CheckColour(RunOptions o, GivenOptions given)
    {
        if (given.OriginalColors && given.ColorControl is { } control && control != ColorControl.PostLuminance)
        {
            throw new UsageException("--original-colors means --color-control post-luminance, but --color-control " +
                                     $"is {ChoiceOptions.Name(control)}: give one of the two.");
        }
        if (given.ColorMatch && o.ColorControl != ColorControl.MatchStyle)
        {
            throw new UsageException("--color-match is used only with --color-control match-style; add that or " +
                                     "leave --color-match out.");
        }
    }

    /// <summary>
    /// How the mask options combine, before any file is read: a content mask per style image, a style mask per
    /// style image, no blend weights with masks, no mode without masks.
    /// </summary>
    private static void CheckRegions(RunOptions o, GivenOptions given)
    {
        if (given.ContentMask && given.ContentMasks)
        {
            throw new UsageException("Give --content-mask (one style image) or --content-masks (one mask per " +
                                     "style image), not both.");
        }
        int styles = o.Styles.Count;
        if (o.ContentMasks is { } content && content.Count != styles)
        {
            throw new UsageException($"{Count(content.Count, "content mask")} for {Count(styles, "style image")}: " +
                                     "mask i says where style image i paints, so give one per style image " +
                                     "(--content-mask for one, --content-masks for several).");
        }
        if (o.StyleMasks is { } style && style.Count != styles)
        {
            throw new UsageException($"--style-masks has {Count(style.Count, "mask")} for " +
                                     $"{Count(styles, "style image")}: give one per style image, in order.");
        }
        if (o.StyleMasks is not null && o.ContentMasks is null && styles > 1)
        {
            throw new UsageException("--style-masks with several style images needs --content-masks to say where " +
                                     "each style paints.");
        }
        bool masked = o.ContentMasks is not null || o.StyleMasks is not null;
        if (masked && o.Content is null)
        {
            throw new UsageException("Masks need --content: a texture (no content image) has no picture to divide " +
                                     "into regions.");
        }
        if (masked && o.Style.StyleBlendWeights is not null)
        {
            throw new UsageException("--style-blend-weights cannot be used with masks: each style paints its own " +
                                     "region; leave the blend weights out.");
        }
        if (!masked && o.MaskMode is not null)
            throw new UsageException("--mask-mode needs --content-mask, --content-masks or --style-masks.");
    }

    /// <summary><c>--min-size</c> against <c>--size</c> and <c>--scale-ratio</c> (<see cref="ScaleSchedule"/>).
    /// </summary>
    private static void CheckScales(RunOptions o)
    {
        if (o.MinSize is not { } minSize) return;
        if (minSize > o.Size)
        {
            throw new UsageException($"--min-size {minSize} is larger than --size {o.Size}: " +
                                     "the first scale cannot be larger than the last.");
        }
        if (ScaleSchedule.Steps(o.Size, minSize, o.ScaleRatio) > ScaleSchedule.MaxScales)
        {
            string ratio = o.ScaleRatio.ToString("G", CultureInfo.InvariantCulture);
            string usual = RunOptions.Defaults.ScaleRatio.ToString("G", CultureInfo.InvariantCulture);
            throw new UsageException($"--scale-ratio {ratio} is so close to 1 that {o.Size} down to {minSize} takes " +
                                     $"over {ScaleSchedule.MaxScales} steps; use a ratio such as {usual}.");
        }
    }

    /// <summary><c>1 content mask</c>, <c>2 style images</c>.</summary>
    private static string Count(int n, string what) => $"{n} {what}{(n == 1 ? "" : "s")}";
}
