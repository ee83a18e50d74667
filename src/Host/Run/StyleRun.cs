using System.Diagnostics;
using System.Globalization;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>
/// The main job: <c>ilgpu-style --content C --style S</c> renders C in the style of S.
/// Everything that can be checked before the long part is checked first (paths, images, weights,
/// layer names, device memory), so a bad input fails in a second with nothing written; then the plan
/// (<see cref="RunPlan"/>) is made once, and the run is a loop over its scales.
/// </summary>
internal static class StyleRun
{
    /// <summary>Runs the job; returns the exit code (0, or after a NaN loss or a signal, what that means).</summary>
    /// <param name="o">The parsed options.</param>
    /// <param name="output">Where progress and the final line go.</param>
    /// <param name="live">Draw a live progress bar.</param>
    /// <param name="interruption">Ctrl-C and SIGTERM, when the process listens for them.</param>
    /// <param name="error">Where warnings go (the preview's, when other machines can reach it).</param>
    public static int Execute(RunOptions o, TextWriter output, bool live, Interruption? interruption = null,
        TextWriter? error = null)
    {
        var clock = Stopwatch.StartNew();
        var scales = ScaleSchedule.Of(o);
        foreach (string note in OptionRules.Unused(o)) output.WriteLine($"note: {note}");
        var (weightsPath, weightsSource, isDefault) = WeightsLocation.Of(o.Weights);
        // Every input and every output is checked before the weights, whose first use downloads 548 MB.
        OutputPaths.Check(o, weightsPath);
        ImageFiles.CheckExtension(o.Output, "output image");
        var images = RunImages.Load(o, output);
        // A missing default file is VGG-19 once downloaded, whose shapes are known: the layers, the sizes and the
        // memory plan are checked from them before the download (and a dry run plans without downloading).
        bool download = !File.Exists(weightsPath) && isDefault;
        var weights = download ? null : WeightsLocation.Load(weightsPath, weightsSource, isDefault, output);

        using var context = Devices.CreateContext();
        var device = Devices.Select(context, o.Device);
        // The kernels every step will run; --tf32 where it cannot run is refused here.
        var kernelChoice = new KernelChoice(AcceleratorDescription.Of(device), o.Tf32, algorithm: o.ConvAlgorithm);
        // The accelerator is created (a context, no buffers) for the memory it has free; the plan is made from
        // shapes before any image is resized or buffer allocated, so a huge --size fails here.
        using var accelerator = device.CreateAccelerator(context);
        var plan = RunPlanner.Plan(o, scales, weights ?? WeightsLocation.Vgg19Shapes(), images.Canvas,
            images.StyleSizes, kernelChoice, MemoryLimit.Of(o.MaxMemory, accelerator));
        foreach (string note in plan.Notes) output.WriteLine($"note: {note}");
        if (o.DryRun)
        {
            if (download)
            {
                output.WriteLine($"note: the default weights {weightsPath} are missing: planned with VGG-19's " +
                                 "shapes (a real run downloads them first).");
            }
            plan.Print(o, output);
            return 0;
        }
        // The page (--preview) and the HTML report watch the run from here; the page is served before the weights
        // load, so a port in use fails in a second. Its Stop button takes Ctrl-C's path, even where no signal is
        // listened for (a run inside a test).
        string deviceName = $"{accelerator.AcceleratorType} {accelerator.Name.Trim()}";
        if (o.Preview is not null) interruption ??= new Interruption();
        var watch = o.Preview is not null || o.HtmlReport is not null
            ? new RunWatch(o, plan, images, deviceName, interruption)
            : null;
        using var preview = o.Preview is { } settings
            ? PreviewServer.Start(settings, watch!, output, error ?? TextWriter.Null)
            : null;
        weights ??= WeightsLocation.Load(weightsPath, weightsSource, isDefault: true, output);
        // Each kernel is compiled at its first launch (KernelSet), so the first evaluation takes longer on a GPU.
        output.WriteLine($"Starting {device.AcceleratorType} '{device.Name.Trim()}'...");
        if (KernelTuner.Tunes(o.Tune, KernelTuner.IsGpu(accelerator)))
        {
            // Every convolution shape of every scale, timed (or read from the cache); the plan is made again with
            // the measured variants, which may change the weights' bytes (a transposed copy more or less).
            kernelChoice = LayerTuning.Tune(accelerator, kernelChoice,
                plan.Scales.SelectMany(s => s.Objective.ConvShapes()), o.Tune, o.Threads, output);
            plan = RunPlanner.Plan(o, scales, weights, images.Canvas, images.StyleSizes, kernelChoice,
                MemoryLimit.Of(o.MaxMemory, accelerator));
            watch?.Replan(o, plan);
        }
        using var kernels = new KernelSet(accelerator, kernelChoice, o.Threads);
        // The filters the convolutions read prepared, made once for every scale (each keeps what the next reads).
        using var filterMemory = new DeviceMemory(accelerator);
        var filters = new PreparedFilters(kernels, weights, filterMemory);
        return Render(new RunDevice(accelerator, kernels, weights, weightsPath, Filters: filters), o, images, plan,
            output, live, interruption, clock, watch: watch);
    }

    /// <summary>The device, kernels and weights a run renders with: made once by <see cref="Execute"/>, or once for
    /// every image of a batch (<see cref="BatchRun"/>), whose objective, with the same plan and styles, passes from
    /// one image to the next (<paramref name="Objectives"/>). <paramref name="Filters"/>: the prepared filters every
    /// scale's objective reads (<see cref="PreparedFilters"/>); null: each objective makes its own (a batch's).
    /// </summary>
    internal sealed record RunDevice(Accelerator Accelerator, KernelSet Kernels, VggWeights Weights,
        string WeightsPath, ObjectiveCache? Objectives = null, PreparedFilters? Filters = null);

    /// <summary>
    /// The long part of a run, once everything is checked and planned: the scales optimized in turn and the result
    /// written; returns the exit code. A batch writes finished images only (<paramref name="finishedOnly"/>): an
    /// image interrupted by a signal, or whose loss became infinite or NaN, writes nothing, since its output would
    /// pass for a finished one on the rerun.
    /// <paramref name="save"/> writes the image (by default <see cref="ImageFiles.SaveAtomically(FloatRgbImage,
    /// string, int, byte[])"/>). <paramref name="watch"/> is the preview's (made here for an HTML report when null).
    /// </summary>
    internal static int Render(RunDevice run, RunOptions o, RunImages images, RunPlan plan, TextWriter output,
        bool live, Interruption? interruption, Stopwatch clock, bool finishedOnly = false, ImageSave? save = null,
        RenderTally? tally = null, RunWatch? watch = null)
    {
        var (accelerator, kernels, weights, weightsPath, cache, filters) = run;
        if (watch is null && o.HtmlReport is not null)
            watch = new RunWatch(o, plan, images, $"{accelerator.AcceleratorType} {accelerator.Name.Trim()}", null);
        if (o.ColorControl == ColorControl.MatchStyle)
        {
            output.WriteLine("Matching the style images' colours to the content's " +
                             $"({ChoiceOptions.Name(o.ColorMatch)})...");
            images = images with { Styles = images.Styles.Select(s => ColorMatch.Match(s, images.Content!,
                o.ColorMatch)).ToList() };
        }

        var finalShape = plan.Scales[^1].Shape;
        string what = o.Content is null
            ? $"Synthesising a {finalShape.Width}x{finalShape.Height} texture of"
            : $"Styling {o.Content} ({finalShape.Width}x{finalShape.Height}) with";
        output.WriteLine($"{what} {string.Join(", ", o.Styles)} " +
                         $"on {accelerator.AcceleratorType} '{accelerator.Name.Trim()}': " +
                         $"{ChoiceOptions.Name(o.Optimizer)}, {DescribeScales(o, plan)}" +
                         (o.ColorControl == ColorControl.None
                             ? ""
                             : $", colour: {ChoiceOptions.Name(o.ColorControl)}"));

        // The main loop: each scale built from the one before, optimized, and its result handed on.
        var records = new List<IterationRecord>();
        var scaleRecords = new List<ScaleRecord>();
        long peakBytes = 0;
        ScaleRun? scale = null;
        FloatRgbImage result;
        OptimizerStep final = default;
        interruption?.Arm();
        try
        {
            foreach (var scalePlan in plan.Scales)
            {
                var scaleClock = Stopwatch.StartNew();
                string tiles = scalePlan.Tiles is { } t
                    ? $" in {t.Rows}x{t.Columns} tiles ({t.Core} px and a {t.Halo} px halo)"
                    : "";
                output.WriteLine($"Computing the style targets at {scalePlan.Scale.Size} px{tiles}...");
                var next = NewScale(kernels, weights, images, o, scalePlan, scale, cache, filters);
                if (next.OmittedRegionTerms.Count > 0)
                {
                    output.WriteLine($"note: at {next.Shape.Width}x{next.Shape.Height}, these region terms have " +
                                     "no position whose receptive field lies inside their (content or style) mask " +
                                     $"and are left out: {string.Join(", ", next.OmittedRegionTerms)}.");
                }
                long carried = scale?.CarriedBytes ?? 0; // held until the new scale has taken it
                scale?.Dispose();
                scale = next;
                watch?.BeginScale(scalePlan, carried);
                var optimizeClock = Stopwatch.StartNew();
                var (last, losses) = ScaleProgress.Optimize(scale, o, output, live, records, interruption,
                    (iteration, line) => SaveSnapshot(scale, o, images, iteration, line), watch);
                tally?.Add(last.TotalEvaluations, optimizeClock.Elapsed.TotalSeconds);
                final = last;
                peakBytes = Math.Max(peakBytes, scale.DeviceBytes + carried);
                if (scalePlan.Index < plan.Scales.Count - 1 && o.SaveEvery > 0)
                    SaveSnapshot(scale, o, images, last.Iteration, output.WriteLine);
                scale.Finish();
                if (losses is { } l) // a scale whose starting image's loss is not finite has no losses to report
                {
                    scaleRecords.Add(new ScaleRecord([scale.Shape.Height, scale.Shape.Width], last.Iteration,
                        scaleClock.Elapsed.TotalSeconds,
                        new LossRecord(l.Total, l.Content, l.Style, l.TotalVariation,
                            l.Regions?.Select(r => (double)r).ToList()),
                        TileRecord.Of(scalePlan.Tiles)));
                }
                if (scalePlan.Label is { } label)
                {
                    output.WriteLine($"{label}: {last.Iteration} iterations in " +
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

        // A first image whose loss is not finite is no result: nothing is written.
        if (final.Stop == StopReason.NonFinite && final.Iteration == 0 && scale!.Plan.Index == 0)
        {
            throw new RunFailedException(
                "the loss of the starting image (iteration 0) is infinite or NaN; nothing was written. Try " +
                "smaller loss weights (--style-weight, --content-weight, --tv-weight).");
        }

        if (finishedOnly && interruption?.Requested == true)
        {
            watch?.End(RunReport.Outcome(final, plan.Scales[^1].Scale.Iterations, true), null, null);
            return interruption.ExitCode;
        }
        if (finishedOnly && final.Stop == StopReason.NonFinite)
        {
            string where = scale!.Plan.Label is { } label ? $"{label}, iteration" : "iteration";
            throw new RunFailedException($"the loss became infinite or NaN at {where} {final.Iteration}; nothing " +
                                         "was written. Try a smaller --learning-rate or smaller loss weights " +
                                         "(--style-weight, --content-weight).");
        }

        // The image first: it is the result; the report only describes it.
        save ??= ImageFiles.SaveAtomically;
        Save(() => save(result, o.Output, o.BitDepth, images.AlphaAt(result.Width,
            result.Height)), $"the output image '{o.Output}'", "nothing was written");
        double seconds = clock.Elapsed.TotalSeconds;
        if (o.Report is not null)
        {
            var report = new RunReport($"{accelerator.AcceleratorType} {accelerator.Name.Trim()}",
                [result.Height, result.Width], weightsPath, records, peakBytes, seconds,
                RunReport.Outcome(final, plan.Scales[^1].Scale.Iterations, interruption?.Requested == true),
                o.MultiScale ? scaleRecords : null, o.MultiScale ? null : TileRecord.Of(plan.Scales[0].Tiles));
            Save(() => report.SaveAtomically(o.Report), $"the report '{o.Report}'", $"{o.Output} was written");
        }
        if (watch is not null)
        {
            string outcome = RunReport.Outcome(final, plan.Scales[^1].Scale.Iterations,
                interruption?.Requested == true);
            watch.End(outcome, File.Exists(o.Output) ? File.ReadAllBytes(o.Output) : null, o.Output);
            if (o.HtmlReport is { } page)
            {
                Save(() => HtmlReport.Write(watch, page), $"the HTML report '{page}'",
                    $"{o.Output}{(o.Report is null ? "" : $" and {o.Report}")} were written");
            }
        }
        string reports = string.Concat(new[] { o.Report, o.HtmlReport }.OfType<string>().Select(r => $" and {r}"));

        if (interruption?.Requested == true)
        {
            // Like crowsonkb/style-transfer-pytorch, an interrupted coarse-to-fine run saves the scale it was at, at
            // that scale's size: enlarged, it would only look like the final result.
            var end = plan.Scales[^1].Shape;
            string size = scale!.Plan.Index < plan.Scales.Count - 1
                ? $"{result.Width}x{result.Height}, that scale's size, not the final {end.Width}x{end.Height}"
                : $"{result.Width}x{result.Height}";
            string at = scale.Plan.Label is { } label ? $"{label}, iteration" : "iteration";
            output.WriteLine($"{interruption.SignalName}: stopped at {at} {final.Iteration}; saved {o.Output} " +
                             $"({size}){reports}.");
            return interruption.ExitCode;
        }
        string wrote = $"{o.Output} ({result.Width}x{result.Height}){reports}";
        if (final.Stop == StopReason.NonFinite)
        {
            // The optimizers move x back to the previous iterate, the last one with a finite loss; at a later
            // scale's iteration 0, x is the scale before's result, enlarged.
            string at = scale!.Plan.Label is { } label ? $"{label}, iteration" : "iteration";
            string kept = final.Iteration > 0
                ? $"iteration {final.Iteration - 1}"
                : "the previous scale's result, enlarged to this scale";
            throw new RunFailedException(
                $"the loss became infinite or NaN at {at} {final.Iteration}; wrote the last image with a finite " +
                $"loss ({kept}) to {wrote}. Try a smaller --learning-rate or smaller loss weights (--style-weight, " +
                "--content-weight).");
        }
        output.WriteLine($"Wrote {wrote} in {ProgressDisplay.FormatDuration(seconds)}.");
        return 0;
    }

    /// <summary>Builds a scale; a first scale the network refuses says which option sets it (the planner has
    /// refused a first scale too small for the layers already, naming the value that fits).</summary>
    private static ScaleRun NewScale(KernelSet kernels, VggWeights weights, RunImages images, RunOptions o,
        ScalePlan plan, ScaleRun? previous, ObjectiveCache? cache, PreparedFilters? filters)
    {
        try
        {
            return new ScaleRun(kernels, weights, images, o, plan, previous, cache, filters);
        }
        catch (StyleSetupException e) when (plan.Index == 0 && o.MultiScale)
        {
            string option = o.Schedule is null ? "--min-size" : "the first --schedule size";
            throw new UsageException($"{e.Message} That is the first scale: raise {option}.");
        }
    }

    /// <summary>Saves the scale's image now as a snapshot, at the output's bit depth and with the content's
    /// alpha at the scale's size.</summary>
    private static void SaveSnapshot(ScaleRun scale, RunOptions o, RunImages images, int iteration,
        Action<string> report)
    {
        string snapshot = OutputPaths.SnapshotPath(o.Output, iteration, o.MultiScale ? scale.Plan.Scale.Size : null);
        var image = scale.Render();
        ImageFiles.SaveAtomically(image, snapshot, o.BitDepth, images.AlphaAt(image.Width, image.Height));
        report($"saved {snapshot}");
    }

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

    /// <summary>What the run will do, for its first line: <c>200 iterations</c>, or every scale.</summary>
    private static string DescribeScales(RunOptions o, RunPlan plan) => o.MultiScale
        ? $"{plan.Scales.Count} scales, " +
          string.Join(", ", plan.Scales.Select(s => $"{s.Scale.Size} px x {s.Scale.Iterations}"))
        : $"{plan.Scales[0].Scale.Iterations} iterations";
}

/// <summary>What a run's optimizers did, summed over runs (a video's frames): evaluations of the loss and the seconds
/// the optimization took, for seconds per evaluation beside seconds per frame.</summary>
internal sealed class RenderTally
{
    /// <summary>Loss evaluations (each a forward and a backward pass).</summary>
    public int Evaluations { get; private set; }

    /// <summary>Seconds spent optimizing (the evaluations and the optimizer's own steps).</summary>
    public double Seconds { get; private set; }

    /// <summary>Counts one scale's optimization.</summary>
    public void Add(int evaluations, double seconds)
    {
        Evaluations += evaluations;
        Seconds += seconds;
    }
}
