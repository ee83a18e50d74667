using System.Globalization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

/// <summary>
/// A change to the command line that the planner advises: <see cref="Text"/> as the message says it, and the same
/// as option changes (<see cref="Changes"/>: each option set to a value, or left out when the value is null), so
/// that a test can follow every piece of advice and see the run plan.
/// </summary>
/// <param name="Text">The advice as it appears in the message, e.g. <c>--style-scale 45</c>.</param>
/// <param name="Changes">The options it sets (or leaves out: a null value).</param>
internal sealed record RunFix(string Text, IReadOnlyList<(string Option, string? Value)> Changes)
{
    /// <summary>One option set to a value: <c>--size 21</c>.</summary>
    public static RunFix Set(string option, object value)
    {
        string text = Convert.ToString(value, CultureInfo.InvariantCulture)!;
        return new RunFix($"{option} {text}", [(option, text)]);
    }

    /// <summary>One option left out, as the message says it.</summary>
    public static RunFix Leave(string option, string text) => new(text, [(option, null)]);
}

/// <summary>
/// The planner's refusals and notes, each naming the option that makes the run too big and the change that fixes
/// it (<see cref="RunFix"/>, which a test follows): images too small for their layers, a run that fits in no tiles,
/// and style images so large that capturing their style outweighs the optimization.
/// </summary>
/// <remarks>
/// Which image dominates decides what is advised. The content (or a texture) sets the image-sized vectors and,
/// untiled, the network's activations; each style image is forwarded through the network once per scale for its
/// targets, at <c>--style-scale</c> times the size, and tiled only when the content is. A style image larger than
/// the content is therefore what a smaller <c>--style-scale</c> fixes, and <c>--size</c> shrinks everything. A
/// style image's capture also costs time, which no memory limit shows: a forward pass over its pixels, compared
/// here with an evaluation of the image (forward and input gradient) by convolution FLOPs. The ratio depends on the
/// style scale (squared) and not on the size, so a run at <c>--style-scale 1000</c> spends nearly all its time on
/// one forward pass at any size: the advice never proposes a style scale whose capture costs more than the
/// iterations (<see cref="AllowedCaptureEvaluations"/>), and a run that asks for one gets a note.
/// </remarks>
internal static partial class RunPlanner
{
    /// <summary>
    /// The evaluations a style capture may cost before a note says it outweighs the run, and the most the advice
    /// allows: the last scale's iterations, and at least 100 (a short run is allowed its style images at a few
    /// times its size; <c>--style-scale</c> 2 costs about 2 evaluations).
    /// </summary>
    private static double AllowedCaptureEvaluations(Model model) => Math.Max(model.Iterations, 100);

    /// <summary>An image too small for the layers it feeds: which, its shape, its deepest layer and the least
    /// shorter side that reaches it.</summary>
    private sealed record TooSmallImage(string Name, ChwShape Shape, string Deepest, int Minimum, bool IsStyle);

    /// <summary>
    /// The first image (the content or texture, then each style image) too small at a final size of
    /// <paramref name="size"/> for the layers it feeds: each 2x2 pooling halves the image and needs at least 2x2
    /// pixels, so reaching a layer of stride s needs a shorter side of s pixels (16 for relu5_1). Null when none is.
    /// </summary>
    private static TooSmallImage? TooSmall(Model model, int size)
    {
        var o = model.Options;
        var loss = model.Loss;
        if (loss.DeepestLayer is { } deepest)
        {
            var shape = model.ContentShape(size);
            int minimum = loss.Architecture.Stride(deepest);
            if (Math.Min(shape.Height, shape.Width) < minimum)
                return new(o.Texture ? "texture" : "content image", shape, deepest, minimum, IsStyle: false);
        }
        if (loss.Style.Count == 0) return null;
        string deepestStyle = loss.Architecture.Deepest(loss.Style.Select(l => l.Name));
        int styleMinimum = loss.Architecture.Stride(deepestStyle);
        for (int k = 0; k < model.Styles.Count; k++)
        {
            var shape = model.StyleShape(k, size);
            if (Math.Min(shape.Height, shape.Width) < styleMinimum)
                return new($"style image '{o.Styles[k]}'", shape, deepestStyle, styleMinimum, IsStyle: true);
        }
        return null;
    }

    /// <summary>
    /// Refuses a run whose images are too small at the final size, naming the least <c>--size</c> (or
    /// <c>--texture-size</c>) at which every image is large enough, and for a style image also the least
    /// <c>--style-scale</c>; then a coarse-to-fine run whose first scale is too small, naming the least
    /// <c>--min-size</c> (or first <c>--schedule</c> size) that is not.
    /// </summary>
    private static void CheckImageSizes(Model model, IReadOnlyList<Scale> scales)
    {
        var o = model.Options;
        CheckFinalSize(model);
        if (!o.MultiScale || TooSmall(model, scales[0].Size) is not { } first) return;
        // The final scale is large enough (checked above), so the search ends there.
        int least = Enumerable.Range(scales[0].Size + 1, Math.Max(o.Size - scales[0].Size, 0))
            .First(size => TooSmall(model, size) is null);
        string text = least.ToString(CultureInfo.InvariantCulture);
        RunFix fix;
        string option;
        if (o.Schedule is { } schedule)
        {
            string joined = string.Join(",", schedule.Skip(1).Where(s => s.Size > least)
                .Select(s => $"{s.Size}:{s.Iterations}").Prepend($"{least}:{schedule[0].Iterations}"));
            fix = new RunFix($"--schedule {joined}", [("--schedule", joined)]);
            option = $"the first --schedule size, {scales[0].Size}";
        }
        else
        {
            fix = RunFix.Set("--min-size", text);
            option = $"--min-size {o.MinSize}";
        }
        throw new UsageException($"The {first.Name} becomes {first.Shape.Width}x{first.Shape.Height} pixels at the " +
                                 $"first scale ({option}), too small to reach {first.Deepest}: its shorter side " +
                                 $"must be at least {first.Minimum} pixels. Use at least {fix.Text}.", [fix]);
    }

    /// <summary>The images too small at the final size (<see cref="CheckImageSizes"/>).</summary>
    private static void CheckFinalSize(Model model)
    {
        var o = model.Options;
        if (TooSmall(model, o.Size) is not { } small) return;
        var fixes = new List<RunFix>();
        if (small.IsStyle && o.StyleSize is not null)
        {
            // A fixed style size does not grow with --size: only a larger --style-size helps.
            if (LeastStyleSide(model, o.Size) is { } least)
                fixes.Add(RunFix.Set("--style-size", least.ToString(CultureInfo.InvariantCulture)));
        }
        else if (small.IsStyle && LeastStyleSide(model, o.Size) is { } side)
        {
            // The shortest decimal scale that still gives the style images that longer side.
            double scale = ShortDecimal(side / (double)o.Size,
                x => StyleSize(o with { StyleScale = x }, o.Size) >= side, up: true);
            fixes.Add(RunFix.Set("--style-scale", scale));
        }
        // Every image grows with the size (a fixed style size aside); the search ends long before int's range for
        // any real image.
        for (int size = o.Size + 1; size <= 1 << 20 && !(small.IsStyle && o.StyleSize is not null); size++)
        {
            if (TooSmall(model, size) is not null) continue;
            fixes.Add(SizeFix(model, size, o.Size));
            break;
        }
        string advice = fixes.Count == 0
            ? "It cannot be made large enough: use another image."
            : $"Use at least {string.Join(" or ", fixes.Select(f => f.Text))}.";
        throw new UsageException($"The {small.Name} becomes {small.Shape.Width}x{small.Shape.Height} pixels, too " +
                                 $"small to reach {small.Deepest}: its shorter side must be at least " +
                                 $"{small.Minimum} pixels. {advice}", fixes);
    }

    /// <summary>The least longer side of the style images at which none is too small for its layers (at a
    /// scale of longer side <paramref name="size"/>, the content being large enough); null when none is.</summary>
    private static int? LeastStyleSide(Model model, int size)
    {
        var o = model.Options;
        bool LargeEnough(int side) =>
            TooSmall(model.With(o with { StyleScale = side / (double)size, StyleSize = null }), size) is null;
        int low = 0, high = int.MaxValue; // too small at low (0: no image), large enough at high
        if (!LargeEnough(high)) return null;
        while (high - low > 1)
        {
            int middle = low + (high - low) / 2;
            if (LargeEnough(middle)) high = middle; else low = middle;
        }
        return high;
    }

    /// <summary>
    /// The shortest decimal (fewest significant digits) at or below <paramref name="value"/> (at or above it when
    /// <paramref name="up"/>) that still satisfies <paramref name="good"/>, so the advice reads
    /// <c>--style-scale 45</c>, not <c>--style-scale 45.3125</c>; <paramref name="value"/> itself must satisfy it.
    /// </summary>
    private static double ShortDecimal(double value, Func<double, bool> good, bool up)
    {
        for (int digits = 1; digits <= 15; digits++)
        {
            double unit = Math.Pow(10, Math.Floor(Math.Log10(value)) - digits + 1);
            double rounded = (up ? Math.Ceiling(value / unit) : Math.Floor(value / unit)) * unit;
            rounded = double.Parse(rounded.ToString("G" + digits, CultureInfo.InvariantCulture),
                CultureInfo.InvariantCulture);
            if (rounded > 0 && good(rounded)) return rounded;
        }
        return value;
    }

    /// <summary>
    /// The note for a run whose style images cost more to capture than its iterations (at <c>--style-scale</c>
    /// 1000 nearly all of the run is one forward pass over an image a thousand times the size), with the largest
    /// style scale that does not; null for any usual run.
    /// </summary>
    private static string? CaptureNote(Model model)
    {
        var o = model.Options;
        double evaluations = model.CaptureEvaluations(o.Size);
        double allowed = AllowedCaptureEvaluations(model);
        if (evaluations <= allowed) return null;
        int largest = Enumerable.Range(0, model.Styles.Count)
            .MaxBy(k => Pixels(model.StyleShape(k, o.Size)));
        var style = model.StyleShape(largest, o.Size);
        var image = model.ContentShape(o.Size);
        string scale = TimelyStyleScale(model) is { } timely ? $"--style-scale {Format(timely)} or less" : "";
        string sizing = o.StyleSize is { } fixedSide
            ? $"--style-size {fixedSide}"
            : $"--style-scale {Format(o.StyleScale)}";
        string cost = evaluations.ToString("N0", CultureInfo.InvariantCulture);
        return $"the style image '{o.Styles[largest]}' becomes {style.Width}x{style.Height} pixels at {sizing}: " +
               $"capturing the style costs about as much as {cost} evaluations of the " +
               $"{image.Width}x{image.Height} image, more than its {model.Iterations} iterations, and will take long " +
               "before the first one" + (scale.Length > 0 ? $"; {scale} keeps it below" : "") + ".";
    }

    /// <summary>
    /// The largest <c>--style-scale</c> whose capture costs no more than the allowed evaluations
    /// (<see cref="AllowedCaptureEvaluations"/>; the cost grows with its square), as a short decimal; null without
    /// a style loss.
    /// </summary>
    private static double? TimelyStyleScale(Model model)
    {
        var o = model.Options;
        double evaluations = model.CaptureEvaluations(o.Size);
        if (evaluations <= 0 || o.StyleSize is not null) return null; // a fixed style size is not a scale
        double allowed = AllowedCaptureEvaluations(model);
        double scale = o.StyleScale * Math.Sqrt(allowed / evaluations);
        return ShortDecimal(scale, x => model.With(o with { StyleScale = x }).CaptureEvaluations(o.Size) <= allowed,
            up: false);
    }

    /// <summary>
    /// Whether the planner plans the run of <paramref name="model"/>'s options at a scale of longer side
    /// <paramref name="size"/> under <paramref name="limit"/> bytes without refusing: untiled when it fits and no
    /// <c>--tile-size</c> is asked, else in the smallest tiles and in the asked ones.
    /// </summary>
    private static bool Plans(Model model, int size, long limit)
    {
        if (model.Options.TileSize is null && model.Fits(size, null, limit)) return true;
        if (!model.Fits(size, model.SmallestCore(size), limit)) return false;
        return model.Options.TileSize is not { } asked
               || model.Fits(size, RoundToStride(asked, model.Loss.Stride), limit);
    }

    /// <summary>The bytes the run needs at a size to plan without refusing: its smallest tiles', and the asked
    /// tiles' when <c>--tile-size</c> is given (<see cref="long.MaxValue"/> when a tensor cannot be indexed).
    /// </summary>
    private static long PlanningBytes(Model model, int size)
    {
        long needs = model.Needs(size, model.SmallestCore(size));
        return model.Options.TileSize is { } asked
            ? Math.Max(needs, model.Needs(size, RoundToStride(asked, model.Loss.Stride)))
            : needs;
    }

    /// <summary>
    /// The style image that makes the scale too big, if one does: the one with the most pixels, when it has more
    /// than the content (or texture) and the scale would plan with the style images shrunk to the content's
    /// pixels. Then it, not the content or the optimizer, is what does not fit.
    /// </summary>
    private static int? CulpritStyle(Model model, int size, long limit)
    {
        var o = model.Options;
        if (model.Loss.Style.Count == 0) return null;
        int largest = Enumerable.Range(0, model.Styles.Count).MaxBy(k => Pixels(model.StyleShape(k, size)));
        double ratio = Pixels(model.StyleShape(largest, size)) / Pixels(model.ContentShape(size));
        if (ratio <= 1) return null;
        var shrunk = model.With(o.StyleSize is { } side // pixels go as the scale's square
            ? o with { StyleSize = Math.Max((int)(side / Math.Sqrt(ratio)), 1) }
            : o with { StyleScale = o.StyleScale / Math.Sqrt(ratio) });
        return Plans(shrunk, size, limit) ? largest : null;
    }

    /// <summary>
    /// When a style image is what does not fit (<see cref="CulpritStyle"/>), the largest <c>--style-scale</c>
    /// below the run's (as a short decimal, and no larger than <see cref="TimelyStyleScale"/>) at which the scale
    /// plans, with the style images still large enough for their layers; else null.
    /// </summary>
    private static RunFix? StyleScaleFix(Model model, int size, long limit)
    {
        var o = model.Options;
        if (CulpritStyle(model, size, limit) is null) return null;
        if (o.StyleSize is { } fixedSide) return StyleSizeFix(model, size, limit, fixedSide);
        bool PlansAt(double scale)
        {
            var changed = model.With(o with { StyleScale = scale });
            return TooSmall(changed, o.Size) is null && Plans(changed, size, limit);
        }
        // The timely scale, when it plans, is the answer (the largest that plans is no smaller): one plan, where a
        // search would plan style images of every size down from the run's, each in many tiles when tiled.
        if (TimelyStyleScale(model) is { } timely && timely < o.StyleScale && PlansAt(timely))
            return RunFix.Set("--style-scale", timely);
        // Else bisection on the style images' longer side at this scale, from the least large enough: the bytes
        // grow with it.
        if (LeastStyleSide(model, size) is not { } least || !PlansAt(least / (double)size)) return null;
        int low = least, high = StyleSize(o, size); // plans at low, not at high
        if (high <= low) return null;
        while (high - low > 1)
        {
            int middle = low + (high - low) / 2;
            if (PlansAt(middle / (double)size)) low = middle; else high = middle;
        }
        return RunFix.Set("--style-scale", ShortDecimal(low / (double)size, PlansAt, up: false));
    }

    /// <summary>
    /// <see cref="StyleScaleFix"/> for a run that gives <c>--style-size</c> (<paramref name="side"/>): the largest
    /// smaller style size at which the scale plans with the style images still large enough; else null.
    /// </summary>
    private static RunFix? StyleSizeFix(Model model, int size, long limit, int side)
    {
        var o = model.Options;
        bool PlansAt(int styleSide)
        {
            var changed = model.With(o with { StyleSize = styleSide });
            return TooSmall(changed, o.Size) is null && Plans(changed, size, limit);
        }
        if (LeastStyleSide(model, size) is not { } least || least >= side || !PlansAt(least)) return null;
        int low = least, high = side; // plans at low, not at high
        while (high - low > 1)
        {
            int middle = low + (high - low) / 2;
            if (PlansAt(middle)) low = middle; else high = middle;
        }
        return RunFix.Set("--style-size", low.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The advice to run at a smaller final size: the largest at which the run plans, at least the least size
    /// whose images reach their layers; with the run's style scale, or the timely one
    /// (<see cref="TimelyStyleScale"/>) when the run's costs too much time. Null when no size plans.
    /// </summary>
    private static RunFix? SmallerSizeFix(Model model, Scale scale, long limit)
    {
        var o = model.Options;
        double? timely = TimelyStyleScale(model) is { } t && t < o.StyleScale ? t : null;
        var sized = timely is { } s ? model.With(o with { StyleScale = s }) : model;
        // The run's own vectors alone rule out most sizes without planning their tiles.
        int fitting = LargestFittingSize(scale.Size, limit, size =>
            sized.Vectors(sized.Options, size).Total > limit || !Plans(sized, size, limit) ? long.MaxValue : 0);
        // Images grow with the size: the least that reaches the layers, when it is no larger, is large enough.
        if (fitting < 1 || TooSmall(sized, fitting) is not null) return null;
        var fix = SizeFix(model, fitting, scale.Size);
        return timely is { } scaleFix
            ? new RunFix($"{fix.Text} --style-scale {Format(scaleFix)}",
                [.. fix.Changes, ("--style-scale", Format(scaleFix))])
            : fix;
    }

    /// <summary>
    /// The advice to make the final size <paramref name="size"/> (the scale of longer side
    /// <paramref name="from"/> being the final one), as the run spells its size: <c>--size N</c>; a texture's
    /// <c>--texture-size WxH</c> of the same shape; coarse to fine, <c>--schedule</c> ending at N (its larger
    /// scales dropped), or <c>--size N</c> without a <c>--min-size</c> it would fall below.
    /// </summary>
    private static RunFix SizeFix(Model model, int size, int from)
    {
        var o = model.Options;
        string text = size.ToString(CultureInfo.InvariantCulture);
        if (o.Schedule is { } schedule)
        {
            var scales = schedule.Where(s => s.Size < size).Select(s => $"{s.Size}:{s.Iterations}")
                .Append($"{size}:{schedule[^1].Iterations}");
            string joined = string.Join(",", scales);
            return new RunFix($"--schedule {joined}", [("--schedule", joined), ("--size", text)]);
        }
        if (o.Texture && o.TextureSize is { } texture && from == o.Size)
        {
            var (width, height) = ImageResize.LongerSideSize(texture.Width, texture.Height, size);
            string dimensions = $"{width}x{height}";
            return new RunFix($"--texture-size {dimensions}", [("--texture-size", dimensions), ("--size", text)]);
        }
        if (o.MinSize is { } minSize && size < minSize)
            return new RunFix($"--size {text} without --min-size", [("--size", text), ("--min-size", null)]);
        return RunFix.Set("--size", size);
    }

    /// <summary>The advice to raise the limit to what the scale needs, rounded up: <c>--max-memory 29.1GiB</c>.
    /// </summary>
    private static RunFix MemoryFix(long needs)
    {
        const double GiB = 1L << 30, MiB = 1L << 20;
        string text = needs >= GiB
            ? (Math.Ceiling(needs / GiB * 10) / 10).ToString("0.0", CultureInfo.InvariantCulture) + "GiB"
            : Math.Ceiling(needs / MiB).ToString("0", CultureInfo.InvariantCulture) + "MiB";
        return RunFix.Set("--max-memory", text);
    }

    /// <summary>
    /// The refusal of a scale that does not fit even in the smallest tiles: what it needs, against what, and the
    /// cheapest changes that fit, tried in order: a smaller <c>--style-scale</c> when a style image is larger than
    /// the content (it is then what does not fit); a shorter L-BFGS history (or Adam) and no average of the
    /// iterates, which change the result least; else a smaller image or more memory.
    /// </summary>
    private static UsageException Refusal(Model model, Scale scale, MemoryLimit limit)
    {
        var o = model.Options;
        var shape = model.ContentShape(scale.Size);
        int smallest = model.SmallestCore(scale.Size);
        long needs = model.Needs(scale.Size, smallest);
        // A texture's size is --texture-size at the last scale; at another scale, or without it, --size.
        string sizeOption = o.Texture && o.TextureSize is { } t && scale.Size == o.Size
            ? $"--texture-size {t.Width}x{t.Height}"
            : $"--size {scale.Size}";
        string Dominant(int k)
        {
            var style = model.StyleShape(k, scale.Size);
            return $"the style image '{o.Styles[k]}', which becomes {style.Width}x{style.Height} pixels at " +
                   (o.StyleSize is { } side ? $"--style-size {side}" : $"--style-scale {Format(o.StyleScale)}");
        }
        var styleFix = StyleScaleFix(model, scale.Size, limit.Bytes);
        if (needs == long.MaxValue)
        {
            // A style image that is what does not fit is named with its style scale; else the size, which
            // shrinks every image.
            string culprit = styleFix is not null && CulpritStyle(model, scale.Size, limit.Bytes) is { } k
                ? $"{Capitalized(Dominant(k))},"
                : sizeOption;
            string indices = $"{culprit} makes tensors of more than 2^31 elements, which the kernels cannot index";
            if (styleFix is not null) return new UsageException($"{indices}: use {styleFix.Text}.", [styleFix]);
            var smallerFix = SmallerSizeFix(model, scale, limit.Bytes);
            return new UsageException($"{indices}: " + (smallerFix is null
                    ? $"not even the smallest image fits in {limit}."
                    : $"{smallerFix.Text} fits in {limit}."),
                smallerFix is null ? [] : [smallerFix]);
        }

        var bytes = model.Bytes(scale.Size, smallest)!;
        string size = $"{shape.Width} x {shape.Height}";
        string where = $"even in the smallest tiles ({smallest} px)";
        string against = $"{where}, {sizeOption} needs about {DeviceList.FormatBytes(needs)}, more than the " +
                         $"limit of {limit}";
        if (styleFix is not null && CulpritStyle(model, scale.Size, limit.Bytes) is { } dominant)
            return new UsageException($"{Capitalized(against)}, with {Dominant(dominant)}: use {styleFix.Text}.",
                [styleFix]);
        // Only the run's own vectors depend on the optimizer and the average: the objective's bytes stay, untiled
        // (when no --tile-size is asked) and in the tiles planning needs.
        long vectors = model.Vectors(o, scale.Size).Total;
        long whole = o.TileSize is null ? model.Needs(scale.Size, null) : long.MaxValue;
        long planning = PlanningBytes(model, scale.Size);
        bool Fits(RunOptions changed)
        {
            long other = model.Vectors(changed, scale.Size).Total - vectors;
            return (whole != long.MaxValue && whole + other <= limit.Bytes)
                   || (planning != long.MaxValue && planning + other <= limit.Bytes);
        }
        if (o.Optimizer == OptimizerKind.Lbfgs)
        {
            int history = o.Lbfgs.HistorySize;
            var fixes = new List<RunFix>();
            if (Fits(o with { Optimizer = OptimizerKind.Adam })) fixes.Add(RunFix.Set("--optimizer", "adam"));
            // Only the run's own vectors depend on the history: the largest that fits is found by bisection.
            int low = 0, high = history; // fits at low (0: not known to), not at high
            while (high - low > 1)
            {
                int middle = low + (high - low) / 2;
                if (Fits(o with { Lbfgs = o.Lbfgs with { HistorySize = middle } })) low = middle; else high = middle;
            }
            if (low > 0) fixes.Add(RunFix.Set("--lbfgs-history", low));
            if (fixes.Count > 0)
            {
                return new UsageException($"L-BFGS history {history} at {size} needs " +
                                          $"{DeviceList.FormatBytes(bytes.Optimizer)} of image-sized vectors, and " +
                                          $"the run {DeviceList.FormatBytes(needs)} {where}, more than the limit " +
                                          $"of {limit}: use {string.Join(" or ", fixes.Select(f => f.Text))}.",
                    fixes);
            }
        }
        if (o.AverageDecay > 0 && Fits(o with { AverageDecay = 0 }))
        {
            return new UsageException($"{Capitalized(against)}: leave out --average-decay (its average is one more " +
                                      "image-sized vector).", [RunFix.Leave("--average-decay", "--average-decay")]);
        }
        var memory = MemoryFix(PlanningBytes(model, scale.Size));
        string parts = $"{Capitalized(against)}, of which the image-sized buffers, optimizer state and targets need " +
                       $"{DeviceList.FormatBytes(bytes.Total - bytes.Tile - bytes.Weights)}";
        return SmallerSizeFix(model, scale, limit.Bytes) is { } smaller
            ? new UsageException($"{parts}: use {smaller.Text} or {memory.Text}.", [smaller, memory])
            : new UsageException($"{parts}: not even the smallest image fits; use {memory.Text}.", [memory]);
    }

    private static string Capitalized(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>A number as the options read it: invariant, shortest round trip.</summary>
    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>An image's pixels, in double arithmetic (a style image's can pass int's range).</summary>
    private static double Pixels(ChwShape shape) => (double)shape.Height * shape.Width;
}
