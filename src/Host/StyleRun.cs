using System.Diagnostics;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// The main job: <c>ilgpu-style --content C --style S</c> renders C in the style of S.
/// Everything that can be checked before the long part is checked first (paths, images, weights,
/// layer names, device memory), so a bad input fails in a second with nothing written.
/// </summary>
internal static class StyleRun
{
    /// <summary>Runs the job; returns the exit code (0, or after a NaN loss or a signal, what that means).</summary>
    /// <param name="o">The parsed options.</param>
    /// <param name="output">Where progress and the final line go.</param>
    /// <param name="live">Draw a live progress bar.</param>
    /// <param name="interruption">Ctrl-C and SIGTERM, when the process listens for them.</param>
    public static int Execute(RunOptions o, TextWriter output, bool live, Interruption? interruption = null)
    {
        var clock = Stopwatch.StartNew();
        Validate(o);
        ValidateColourAndOutput(o);
        // A texture has no content to match: its loss is the style's (and TV) alone (Gatys et al. 2015).
        if (o.Texture) o = o with { Style = o.Style with { ContentWeight = 0 } };
        var scales = ScaleSchedule.Of(o);
        foreach (string note in ScaleSchedule.UnusedOptions(o)) output.WriteLine($"note: {note}");
        var (weightsPath, weightsSource) = o.Weights is null ? WeightsLocation.Default() : (o.Weights, "--weights");
        // Every input and every output is checked before the weights, whose first use downloads 548 MB.
        OutputPaths.Check(Outputs(o), Inputs(o, weightsPath));
        ImageFiles.CheckExtension(o.Output, "output image");
        CheckBitDepth(o);
        var (contentFile, contentAlpha) = o.Content is null
            ? (null, null)
            : ImageFiles.LoadWithAlpha(o.Content, "content image");
        var canvas = contentFile is null ? o.TextureCanvas : (contentFile.Width, contentFile.Height);
        var styleFiles = o.Styles.Select(s => ImageFiles.Load(s, "style image")).ToList();
        var initFile = o.Init == InitKind.Image ? ImageFiles.Load(o.InitImage!, "init image") : null;
        if (contentAlpha is not null && !ImageFiles.IsPng(o.Output))
        {
            output.WriteLine($"note: the content image has an alpha channel, which a JPEG cannot hold: {o.Output} " +
                             "will be opaque (write a .png to keep it).");
            contentAlpha = null;
        }
        var masks = contentFile is null ? null : RegionMasks.Load(o, contentFile, styleFiles); // none: a texture
        // A missing default file is VGG-19 once downloaded, whose shapes are known: the layers, the sizes and the
        // memory plan are checked from them before the download (and a dry run plans without downloading).
        bool download = !File.Exists(weightsPath) && o.Weights is null;
        var weights = download ? null : LoadWeights(weightsPath, weightsSource, isDefault: o.Weights is null, output);
        var shapes = weights ?? RunPlanner.Vgg19Shapes();
        o.Style.CheckLayers(shapes.Architecture);
        CheckImageSizes(o, canvas, styleFiles);

        using var context = Devices.CreateContext();
        var device = Devices.Select(context, o.Device);
        // The kernels every step will run; --tf32 where it cannot run is refused here.
        var kernelChoice = new KernelChoice(AcceleratorDescription.Of(device), o.Tf32);
        // The accelerator is created (a context, no buffers) for the memory it has free; the plan is made from
        // shapes before any image is resized or buffer allocated, so a huge --size fails here.
        using var accelerator = device.CreateAccelerator(context);
        var plan = RunPlanner.Plan(o, scales, shapes, canvas, styleFiles, kernelChoice,
            MemoryLimit.Of(o.MaxMemory, accelerator));
        foreach (string note in plan.Notes) output.WriteLine($"note: {note}");
        if (o.DryRun)
        {
            if (download)
            {
                output.WriteLine($"note: the default weights {weightsPath} are missing: planned with VGG-19's " +
                                 "shapes (a real run downloads them first).");
            }
            RunPlanner.Print(plan, o, shapes, output);
            return 0;
        }
        weights ??= LoadWeights(weightsPath, weightsSource, isDefault: true, output);
        var preprocessing = Preprocessing.FromName(weights.Preprocess);
        var finalShape = TargetShape(canvas, o.Size);
        output.WriteLine($"Starting {device.AcceleratorType} '{device.Name.Trim()}' and compiling its kernels...");
        using var kernels = new KernelSet(accelerator, kernelChoice, o.Threads);
        if (o.ColorControl == ColorControl.MatchStyle)
        {
            output.WriteLine($"Matching the style images' colours to the content's ({Name(o.ColorMatch)})...");
            styleFiles = styleFiles.Select(s => ColorMatch.Match(s, contentFile!, o.ColorMatch)).ToList();
        }
        var inputs = new RunInputs(weights, preprocessing, contentFile, canvas, styleFiles, initFile, masks);

        string what = o.Content is null
            ? $"Synthesising a {finalShape.Width}x{finalShape.Height} texture of"
            : $"Styling {o.Content} ({finalShape.Width}x{finalShape.Height}) with";
        output.WriteLine($"{what} {string.Join(", ", o.Styles)} " +
                         $"on {accelerator.AcceleratorType} '{accelerator.Name.Trim()}': " +
                         $"{o.Optimizer.ToString().ToLowerInvariant()}, {DescribeScales(o, scales)}" +
                         (o.ColorControl == ColorControl.None ? "" : $", colour: {Name(o.ColorControl)}"));

        var records = new List<IterationRecord>();
        var scaleRecords = new List<ScaleRecord>();
        long peakBytes = 0;
        ScaleRun? scale = null;
        FloatRgbImage result;
        OptimizerStep final = default;
        interruption?.Arm();
        try
        {
            for (int k = 0; k < scales.Count; k++)
            {
                var scaleClock = Stopwatch.StartNew();
                string tiles = plan.Scales[k].Tiles is { } t
                    ? $" in {t.Rows}x{t.Columns} tiles ({t.Core} px and a {t.Halo} px halo)"
                    : "";
                output.WriteLine($"Computing the style targets at {scales[k].Size} px{tiles}...");
                var next = NewScale(kernels, inputs, o, plan.Scales, k, scale);
                if (next.OmittedRegionTerms.Count > 0)
                {
                    output.WriteLine($"note: at {next.Shape.Width}x{next.Shape.Height}, these region terms have " +
                                     "no position whose receptive field lies inside their (content or style) mask " +
                                     "and are left out: " +
                                     $"{string.Join(", ", next.OmittedRegionTerms)}.");
                }
                long carried = scale?.CarriedBytes ?? 0; // held until the new scale has taken it
                scale?.Dispose();
                scale = next;
                var (last, losses) = Optimize(scale, o, output, live, records, interruption,
                    (iteration, line) => SaveSnapshot(scale, o, contentAlpha, canvas, iteration, line));
                final = last;
                peakBytes = Math.Max(peakBytes, scale.DeviceBytes + carried);
                bool lastScale = k == scales.Count - 1;
                if (!lastScale && o.SaveEvery > 0)
                    SaveSnapshot(scale, o, contentAlpha, canvas, last.Iteration, output.WriteLine);
                scale.Finish();
                scaleRecords.Add(new ScaleRecord([scale.Shape.Height, scale.Shape.Width], last.Iteration,
                    scaleClock.Elapsed.TotalSeconds,
                    new LossRecord(losses.Total, losses.Content, losses.Style, losses.TotalVariation,
                        losses.Regions?.Select(r => (double)r).ToList()),
                    TileRecord.Of(scale.Tiles)));
                if (o.MultiScale)
                {
                    output.WriteLine($"{scale.Label}: {last.Iteration} iterations in " +
                                     $"{ProgressDisplay.FormatDuration(scaleClock.Elapsed.TotalSeconds)}.");
                }
                if (last.Stop == StopReason.NonFinite) break; // the next scale would start from the same blow-up
                if (interruption?.Requested == true) break;
            }
            result = scale!.Render();
        }
        finally
        {
            interruption?.Disarm();
            scale?.Dispose();
        }

        // The image first: it is the result; the report only describes it.
        var resultAlpha = AlphaAt(contentAlpha, canvas, result.Width, result.Height);
        Save(() => ImageFiles.SaveAtomically(result, o.Output, o.BitDepth, resultAlpha),
            $"the output image '{o.Output}'", "nothing was written");
        double seconds = clock.Elapsed.TotalSeconds;
        if (o.Report is not null)
        {
            var report = new RunReport($"{accelerator.AcceleratorType} {accelerator.Name.Trim()}",
                [result.Height, result.Width], weightsPath, records, peakBytes, seconds,
                Outcome(final, scales[^1].Iterations, interruption), o.MultiScale ? scaleRecords : null,
                o.MultiScale ? null : TileRecord.Of(plan.Scales[0].Tiles));
            Save(() => report.SaveAtomically(o.Report), $"the report '{o.Report}'", $"{o.Output} was written");
        }

        string wrote = $"{o.Output} ({result.Width}x{result.Height})" + (o.Report is null ? "" : $" and {o.Report}");
        if (interruption?.Requested == true)
        {
            output.WriteLine($"{interruption.SignalName}: stopped at iteration {final.Iteration}; saved {wrote}.");
            return interruption.ExitCode;
        }
        if (final.Stop == StopReason.NonFinite)
        {
            // The optimizers move x back to the previous iterate, the last one with a finite loss.
            throw new RunFailedException(
                $"the loss became infinite or NaN at iteration {final.Iteration}; wrote the last image with a finite " +
                $"loss (iteration {Math.Max(final.Iteration - 1, 0)}) to {wrote}. Try a smaller --learning-rate or " +
                "smaller loss weights (--style-weight, --content-weight).");
        }
        output.WriteLine($"Wrote {wrote} in {ProgressDisplay.FormatDuration(seconds)}.");
        return 0;
    }

    /// <summary>Every image at its target size is large enough for the layers it feeds (names checked).</summary>
    private static void CheckImageSizes(RunOptions o, (int Width, int Height) canvas, IReadOnlyList<RgbImage> styles)
    {
        CheckLargeEnough(TargetShape(canvas, o.Size), [.. o.Style.ContentLayers, .. o.Style.StyleLayers],
            o.Texture ? "texture" : "content image", o.Texture ? "--size or --texture-size" : "--size");
        for (int i = 0; i < styles.Count; i++)
        {
            CheckLargeEnough(TargetShape((styles[i].Width, styles[i].Height), StyleSize(o, o.Size)),
                o.Style.StyleLayers,
                $"style image '{o.Styles[i]}'", "--size or --style-scale");
        }
    }

    /// <summary>
    /// Each 2x2 pooling halves the image and needs at least 2x2 pixels, so reaching block b
    /// (<c>relu{b}_i</c>) needs a shorter side of 2^(b-1) pixels: 16 for relu5_1.
    /// </summary>
    private static void CheckLargeEnough(ChwShape shape, IReadOnlyList<string> layers, string what, string options)
    {
        string deepest = layers.MaxBy(layer => layer[4])!; // relu{b}_{i}: the block is the 5th character
        int minimum = 1 << (deepest[4] - '1');
        if (Math.Min(shape.Height, shape.Width) >= minimum) return;
        throw new UsageException($"The {what} becomes {shape.Width}x{shape.Height} pixels, too small to reach " +
                                 $"{deepest}: its shorter side must be at least {minimum} pixels. " +
                                 $"Use a larger {options}.");
    }

    /// <summary>How the optimization ended, as the report's <c>stop</c> says it.</summary>
    private static string Outcome(OptimizerStep last, int iterations, Interruption? interruption) =>
        interruption?.Requested == true ? "interrupted"
        : last.Stop == StopReason.NonFinite ? "non-finite loss"
        : last.Iteration >= iterations || last.Stop == StopReason.MaxIterations ? "iterations done"
        : "converged";

    /// <summary>
    /// One write at the end of the run: a failure (a full disk, a folder that became read-only)
    /// becomes one line saying what was and was not written; the atomic save has left no
    /// temporary file behind.
    /// </summary>
    private static void Save(Action save, string what, string state)
    {
        try
        {
            save();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFailedException($"could not write {what} ({e.Message.TrimEnd('.')}); {state}.");
        }
    }

    /// <summary>The files a run reads: none of them may be written.</summary>
    private static List<(string Role, string Path)> Inputs(RunOptions o, string weightsPath)
    {
        var inputs = new List<(string, string)>();
        if (o.Content is not null) inputs.Add(("content image", o.Content));
        inputs.AddRange(o.Styles.Select(s => ("style image", s)));
        if (o.InitImage is not null) inputs.Add(("init image", o.InitImage));
        inputs.AddRange(RegionMasks.Files(o));
        inputs.Add(("weights file", weightsPath));
        return inputs;
    }

    /// <summary>The files a run writes: the image, the report, and every snapshot it will save.</summary>
    private static List<(string Role, string Path)> Outputs(RunOptions o)
    {
        var outputs = new List<(string, string)> { ("output image", o.Output) };
        if (o.Report is not null) outputs.Add(("report", o.Report));
        if (o.SaveEvery <= 0) return outputs;
        var scales = ScaleSchedule.Of(o);
        foreach (var (scale, k) in scales.Select((s, k) => (s, k)))
        {
            int? size = o.MultiScale ? scale.Size : null;
            for (int i = o.SaveEvery; i < scale.Iterations; i += o.SaveEvery)
                outputs.Add(($"snapshot of iteration {i}", SnapshotPath(o.Output, i, size)));
            // Every scale's result but the last (the output itself) is saved too.
            if (k < scales.Count - 1)
            {
                outputs.Add(($"snapshot of iteration {scale.Iterations}",
                    SnapshotPath(o.Output, scale.Iterations, size)));
            }
        }
        return outputs;
    }

    /// <summary>
    /// Runs one scale's optimizer to its iteration count (or until it stops): the <c>--print-every</c>
    /// lines and report entries, the live bar, the <c>--save-every</c> snapshots. Returns the last
    /// step and its losses.
    /// </summary>
    private static (OptimizerStep Last, LossBreakdown Losses) Optimize(ScaleRun scale, RunOptions o, TextWriter output,
        bool live, List<IterationRecord> records, Interruption? interruption, Action<int, Action<string>> snapshot)
    {
        int total = scale.Scale.Iterations;
        OptimizerStep last = default;
        LossBreakdown losses = default;
        ProgressDisplay.Run(output, live, total, sink =>
        {
            var watch = Stopwatch.StartNew();
            last = scale.Start();
            losses = scale.ReadLosses();
            Record(records, sink, scale, 0, total, losses, watch.Elapsed.TotalMilliseconds);
            while (!last.Stopped && last.Iteration < total && interruption?.Requested != true)
            {
                watch.Restart();
                last = scale.Step();
                double ms = watch.Elapsed.TotalMilliseconds;
                bool final = last.Stopped || last.Iteration >= total || interruption?.Requested == true;
                bool print = final || (o.PrintEvery > 0 && last.Iteration % o.PrintEvery == 0);
                if (print || live) losses = scale.ReadLosses();
                sink.Update(last.Iteration, losses);
                if (print) Record(records, sink, scale, last.Iteration, total, losses, ms);
                if (o.SaveEvery > 0 && last.Iteration % o.SaveEvery == 0 && !final)
                    snapshot(last.Iteration, sink.Line);
            }
        }, label: scale.ProgressLabel);
        if (last.Stopped && last.Stop is not (StopReason.MaxIterations or StopReason.NonFinite)
            && last.Iteration < total)
        {
            string where = scale.Label is null ? "" : $"{scale.Label}: ";
            output.WriteLine($"{where}Stopped at iteration {last.Iteration}: {Describe(last.Stop)}.");
        }
        return (last, losses);
    }

    /// <summary>Builds scale k; a first scale too small for the network says which option sets it.</summary>
    private static ScaleRun NewScale(KernelSet kernels, RunInputs inputs, RunOptions o,
        IReadOnlyList<ScalePlan> scales, int k, ScaleRun? previous)
    {
        try
        {
            return new ScaleRun(kernels, inputs, o, scales[k].Scale, k, scales.Count, previous, scales[k].Tiles);
        }
        catch (StyleSetupException e) when (k == 0 && o.MultiScale)
        {
            string option = o.Schedule is null ? "--min-size" : "the first --schedule size";
            throw new UsageException($"{e.Message} That is the first scale: raise {option}.");
        }
    }

    /// <summary>What the run will do, for its first line: <c>200 iterations</c>, or every scale.</summary>
    private static string DescribeScales(RunOptions o, IReadOnlyList<Scale> scales) => o.MultiScale
        ? $"{scales.Count} scales, " + string.Join(", ", scales.Select(s => $"{s.Size} px x {s.Iterations}"))
        : $"{scales[0].Iterations} iterations";

    /// <summary>Saves the scale's image now as a snapshot, at the output's bit depth and with the content's
    /// alpha at the scale's size.</summary>
    private static void SaveSnapshot(ScaleRun scale, RunOptions o, byte[]? alpha, (int Width, int Height) canvas,
        int iteration, Action<string> report)
    {
        string snapshot = SnapshotPath(o.Output, iteration, o.MultiScale ? scale.Scale.Size : null);
        var image = scale.Render();
        ImageFiles.SaveAtomically(image, snapshot, o.BitDepth, AlphaAt(alpha, canvas, image.Width, image.Height));
        report($"saved {snapshot}");
    }

    /// <summary>The content's alpha (at the content's size) resized like the content to an image's size.</summary>
    private static byte[]? AlphaAt(byte[]? alpha, (int Width, int Height) canvas, int width, int height) =>
        alpha is null ? null : ImageFiles.ResizeAlpha(alpha, canvas.Width, canvas.Height, width, height);

    private static void Record(List<IterationRecord> records, IProgressSink sink, ScaleRun scale, int iteration,
        int total, LossBreakdown l, double ms)
    {
        int? index = scale.Label is null ? null : scale.Index;
        records.Add(new IterationRecord(iteration, l.Total, l.Content, l.Style, l.TotalVariation, ms, index,
            l.Regions?.Select(r => (double)r).ToList()));
        sink.Line(ProgressDisplay.FormatIteration(iteration, total, l, scale.ProgressLabel));
    }

    private static string Describe(StopReason reason) => reason switch
    {
        StopReason.GradientTolerance => "the gradient is below tolerance (converged)",
        StopReason.ChangeTolerance => "the loss or the image stopped changing (converged)",
        StopReason.LineSearchFailed =>
            "the line search found no lower loss (converged as far as float precision allows)",
        StopReason.NonFinite => "the loss became infinite or NaN; try smaller weights or a smaller --learning-rate",
        _ => reason.ToString(),
    };

    private static void Validate(RunOptions o)
    {
        if (o.Styles.Count == 0)
            throw new UsageException("--style needs at least one image (several: comma-separated or repeated).");
        if (o.Size <= 0) throw new UsageException($"--size must be a positive number of pixels, got {o.Size}.");
        if (o.StyleScale <= 0) throw new UsageException($"--style-scale must be positive, got {o.StyleScale}.");
        if (o.Iterations < 0) throw new UsageException($"--iterations must not be negative, got {o.Iterations}.");
        if (o.Threads < 1) throw new UsageException($"--threads must be at least 1, got {o.Threads}.");
        if (!(o.AverageDecay >= 0 && o.AverageDecay < 1))
        {
            throw new UsageException("--average-decay must be at least 0 and below 1 (0: off; 0.99 suits Adam), " +
                                     $"got {o.AverageDecay.ToString(CultureInfo.InvariantCulture)}.");
        }
        if (o.Lbfgs.HistorySize <= 0)
            throw new UsageException($"--lbfgs-history must be at least 1, got {o.Lbfgs.HistorySize}.");
        if (o.LearningRate is <= 0)
            throw new UsageException($"--learning-rate must be positive, got {o.LearningRate}.");
        if (o.PrintEvery < 0 || o.SaveEvery < 0)
            throw new UsageException("--print-every and --save-every must not be negative.");
        if (o.Init == InitKind.Image && o.InitImage is null)
            throw new UsageException("--init image needs --init-image FILE.");
        if (o.Init != InitKind.Image && o.InitImage is not null)
            throw new UsageException("--init-image is used only with --init image.");
        if (o.Style.StyleBlendWeights is { } blend && blend.Count != o.Styles.Count)
        {
            throw new UsageException(
                $"--style-blend-weights has {blend.Count} values but there are {o.Styles.Count} style images.");
        }
        foreach (float w in new[] { o.Style.ContentWeight, o.Style.StyleWeight, o.Style.TvWeight }.OfType<float>())
        {
            if (w < 0 || !float.IsFinite(w))
                throw new UsageException($"Loss weights must be non-negative numbers, got {w}.");
        }
        RegionMasks.CheckOptions(o);
    }

    /// <summary>
    /// Loads the weights, printing what it does (a large file takes seconds); the default file is
    /// downloaded and converted on first use, an explicit <c>--weights</c> must exist.
    /// </summary>
    private static VggWeights LoadWeights(string path, string source, bool isDefault, TextWriter output)
    {
        if (!File.Exists(path))
        {
            if (!isDefault)
            {
                throw new UsageException($"The weights file '{path}' does not exist. Convert one with " +
                                         "tools/Converter, or leave --weights out to download VGG-19.");
            }
            output.WriteLine($"The default weights {path} ({source}) are missing: downloading torchvision's " +
                             $"VGG-19 weights and converting them (once; set {WeightsLocation.Variable} to use " +
                             "another file).");
            try
            {
                WeightDownloader.DownloadAndConvertAsync(TorchvisionFile.Vgg19, path, log: output)
                    .GetAwaiter().GetResult();
            }
            catch (ConverterException e)
            {
                throw new UsageException(e.Message);
            }
        }
        output.WriteLine($"Loading the weights {path}...");
        try
        {
            return VggWeights.Load(path);
        }
        catch (WeightsFormatException e)
        {
            throw new UsageException(
                $"The weights file cannot be used: {e.Message} Convert it again with tools/Converter.");
        }
    }


    /// <summary><c>out.png</c> at iteration 100 is saved as <c>out_100.png</c>; at the scale of longer side 256
    /// of a coarse-to-fine run, as <c>out_256_100.png</c>.</summary>
    public static string SnapshotPath(string output, int iteration, int? scaleSize = null) =>
        Path.Combine(Path.GetDirectoryName(output) ?? "",
            $"{Path.GetFileNameWithoutExtension(output)}_{(scaleSize is { } size ? $"{size}_" : "")}{iteration}" +
            Path.GetExtension(output));

    /// <summary>The longer side of the style images at a scale of longer side <paramref name="size"/>.</summary>
    internal static int StyleSize(RunOptions o, int size) => Math.Max(1, (int)Math.Round(o.StyleScale * size));

    internal static long OptimizerBytes(RunOptions o, int n) => o.Optimizer == OptimizerKind.Lbfgs
        ? LbfgsOptimizer.RequiredBytes(n, o.Lbfgs.HistorySize)
        : AdamOptimizer.RequiredBytes(n);

    /// <summary>
    /// Device bytes beyond one scale's loss, optimizer and x: the average of the iterates, and in a
    /// coarse-to-fine run what the previous scale holds while the next one is built (its image and
    /// Adam's state). That scale is smaller; its bytes are bounded here by this scale's.
    /// </summary>
    internal static long ScaleBytes(RunOptions o, int n)
    {
        long average = o.AverageDecay > 0 ? IterateAverage.RequiredBytes(n) : 0;
        if (!o.MultiScale) return average;
        long adam = o.Optimizer == OptimizerKind.Adam ? AdamOptimizer.RequiredBytes(n) : 0;
        return average + sizeof(float) * (long)n + adam;
    }

    /// <summary>
    /// The shape <see cref="ImageResize.ToLongerSide"/> will give <paramref name="image"/>, without resizing it.
    /// </summary>
    internal static ChwShape TargetShape((int Width, int Height) image, int longerSide)
    {
        var (width, height) = ImageResize.LongerSideSize(image.Width, image.Height, longerSide);
        return new ChwShape(3, height, width);
    }

    /// <summary>An option value as the command line spells it (<c>post-luminance</c>).</summary>
    internal static string Name<T>(T value) where T : struct, Enum =>
        string.Concat(value.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? $"-{char.ToLowerInvariant(c)}"
            : char.ToLowerInvariant(c).ToString()));

    /// <summary>
    /// The options of issue 16's colour, texture and output sections, against each other and the content:
    /// what needs a content image, <c>--color-match</c> without <c>match-style</c>, <c>--texture-size</c> with a
    /// content, <c>--init content</c> without one, <c>--content-weight</c> for a texture.
    /// </summary>
    private static void ValidateColourAndOutput(RunOptions o)
    {
        if (o.BitDepth is not (8 or 16))
            throw new UsageException($"--bit-depth must be 8 or 16, got {o.BitDepth}.");
        if (o.Content is null)
        {
            if (o.ColorControl != ColorControl.None)
            {
                throw new UsageException($"--color-control {Name(o.ColorControl)} needs a --content image to take " +
                                         "colours from; a texture (no --content) takes the style's colours.");
            }
            if (o.Init == InitKind.Content)
                throw new UsageException("--init content needs --content; a texture starts from --init random.");
            if (o.Style.ContentWeight is > 0)
                throw new UsageException("--content-weight needs --content; a texture has no content loss.");
        }
        else if (o.TextureSize is not null)
        {
            throw new UsageException("--texture-size is for a texture (no --content); with a content image the " +
                                     "result takes the content's shape and --size its longer side.");
        }
    }

    /// <summary>16-bit output is a PNG.</summary>
    private static void CheckBitDepth(RunOptions o)
    {
        if (o.BitDepth == 16 && !ImageFiles.IsPng(o.Output))
        {
            throw new UsageException($"--bit-depth 16 needs a PNG output, but '{o.Output}' is a JPEG (8 bits only); " +
                                     "write a .png or leave --bit-depth out.");
        }
    }
}
