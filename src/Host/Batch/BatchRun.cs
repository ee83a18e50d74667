using System.CommandLine;
using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>What <c>ilgpu-style batch</c> was asked to do.</summary>
/// <param name="Manifest">The CSV manifest, or null with <paramref name="Inputs"/>.</param>
/// <param name="Inputs">Content files or patterns (<c>photos/*.jpg</c>), or none with a manifest.</param>
/// <param name="OutputFolder">Where the outputs go (required with <paramref name="Inputs"/>).</param>
/// <param name="Extension">The outputs' extension with <paramref name="Inputs"/>: <c>.png</c> or <c>.jpg</c>.</param>
/// <param name="ShardOption"><c>--shard INDEX/COUNT</c>, or null.</param>
/// <param name="ShardCount"><c>--shard-count</c>, or null.</param>
/// <param name="Verbose">Print each image's run as the main job prints it.</param>
/// <param name="Shared">The main job's options given to the batch, for every image.</param>
internal sealed record BatchOptions(string? Manifest, IReadOnlyList<string> Inputs, string? OutputFolder,
    string Extension, string? ShardOption, int? ShardCount, bool Verbose, IReadOnlyList<string> Shared);

/// <summary>How an image's result is written (<see cref="ImageFiles.SaveAtomically(Network.Images.FloatRgbImage,
/// string, int, byte[])"/>; tests give one that fails, as a full disk does).</summary>
internal delegate void ImageSave(Network.Images.FloatRgbImage image, string path, int bitDepth, byte[]? alpha);

/// <summary>
/// <c>ilgpu-style batch</c>: many images in one process. The weights are read, the device started and its kernels
/// compiled once; an image whose plan and styles are the last one's reuses its objective (buffers and style
/// targets, <see cref="ObjectiveCache"/>). Each image is the main job with its own options, checked, planned and
/// written as the main job does (atomically, never over an input), so an image of a batch is the same, to the bit,
/// as the same image run alone with the same options and seed. An output that exists is a finished image (writes
/// are atomic) and is skipped, so a killed batch resumes where it stopped. One image that fails is reported and
/// the others go on; the exit code says whether any failed.
/// </summary>
internal static class BatchRun
{
    /// <summary>
    /// Refuses <c>--tune</c> on the batch's command line or in a row: tuning times the shapes of one run's plan, and a
    /// batch's images have their own, so a batch runs the rule's variants.
    /// </summary>
    private static void RefuseTuning(IReadOnlyList<string> arguments)
    {
        if (!BatchItems.Names(arguments).Contains("--tune")) return;
        throw new UsageException("--tune is for the main job and bench: a batch runs the rule's kernel variants " +
                                 "(tune once with the main job on one image; its cache is not read by a batch).");
    }

    /// <summary>Refuses <c>--preview</c> on the batch's command line or in a row: its page watches one run.</summary>
    private static void RefusePreview(IReadOnlyList<string> arguments)
    {
        if (BatchItems.Names(arguments).FirstOrDefault(n => n is "--preview" or "--preview-bind") is not { } name)
            return;
        throw new UsageException($"{name} watches one run, and a batch is many: run one image with --preview, or " +
                                 "give the batch --html-report INDEX.html and read each image's page afterwards.");
    }

    /// <summary>
    /// Creates --output-dir when it does not exist yet, as a user of a batch expects (its parent must exist: a
    /// misspelt path is refused, not made); refuses one that is a file.
    /// </summary>
    internal static void MakeOutputFolder(string folder, string option = "--output-dir")
    {
        string full = Path.GetFullPath(folder);
        if (File.Exists(full))
            throw new UsageException($"{option} '{folder}' is a file, not a folder. Choose a folder.");
        if (Directory.Exists(full)) return;
        string? parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(full));
        if (parent is null || !Directory.Exists(parent))
        {
            throw new UsageException($"{option} '{folder}' cannot be made: its parent folder '{parent}' does " +
                                     "not exist. Create it or choose another folder.");
        }
        Directory.CreateDirectory(full);
    }

    /// <summary>Options that choose the batch's one device, weights and kernels: not per image.</summary>
    private static readonly string[] BatchWide = ["--device", "--weights", "--threads", "--tf32", "--conv-algorithm"];

    /// <summary>Options the batch itself gives each image: not on the batch's command line.</summary>
    private static readonly string[] PerImage = ["--content", "--output", "--report", "--dry-run"];

    /// <summary>Runs the batch; returns 0, <see cref="ExitCodes.Failed"/> when an image failed, or a signal's code.
    /// </summary>
    public static int Execute(BatchOptions b, TextWriter output, TextWriter error, bool live,
        Interruption? interruption, Func<string, string?>? environment = null, ImageSave? save = null)
    {
        var clock = Stopwatch.StartNew();
        RefuseTuning(b.Shared);
        RefusePreview(b.Shared);
        // --html-report on the batch's command line names the index page; each image's own page goes beside its
        // output (out.png: out.html), unless its row names one.
        string? index = BatchItems.Value(b.Shared, "--html-report");
        if (BatchItems.Names(b.Shared).FirstOrDefault(n => PerImage.Contains(n)) is { } own)
        {
            throw new UsageException($"{own} is per image in a batch: give outputs with --output-dir or the " +
                                     "manifest's output column, and per-image options in its options column.");
        }
        CheckSyntax(b.Shared);
        var items = b.Manifest is not null
            ? BatchItems.FromManifest(b.Manifest, b.OutputFolder)
            : BatchItems.FromPatterns(b.Inputs, b.OutputFolder!, b.Extension);
        var shard = Shard.Of(b.ShardOption, b.ShardCount, environment ?? Environment.GetEnvironmentVariable);
        var mine = items.Where(i => shard.Takes(i.Position)).ToList();
        if (index is not null) index = shard.Own(index);
        string source = b.Manifest is not null ? $"the manifest {b.Manifest}" : string.Join(" ", b.Inputs);
        output.WriteLine($"Batch of {items.Count} images from {source}" + (shard.Count == 1
            ? "."
            : $"; shard {shard.Index} of {shard.Count} ({shard.Source}): {mine.Count} images."));

        if (b.OutputFolder is not null && mine.Count > 0) MakeOutputFolder(b.OutputFolder);
        var resolved = items.Select(i => Resolve(i, b.Shared)).ToList();
        var clashes = Clashes(items, resolved);
        var tally = new Tally();
        var rows = new List<HtmlReport.IndexRow>();
        using var session = new RunSession(output, "once for the batch", "image");
        int k = 0;
        foreach (var item in mine)
        {
            // Between images too a signal ends the batch gracefully, with its summary (a second one at once).
            interruption?.Arm();
            if (interruption?.Requested == true) break;
            string head = $"[{++k}/{mine.Count}] {item.Name}:";
            var itemClock = Stopwatch.StartNew();
            RunOptions? o = null;
            try
            {
                o = resolved[item.Position].Options ?? throw new UsageException(resolved[item.Position].Problem!);
                if (index is not null && !BatchItems.Names(item.Arguments).Contains("--html-report"))
                    o = o with { HtmlReport = Path.ChangeExtension(o.Output, ".html") };
                if (clashes.TryGetValue(item.Position, out string? clash)) throw new UsageException(clash);
                if (File.Exists(o.Output))
                {
                    output.WriteLine($"{head} skipped, {o.Output} exists (a finished output is kept).");
                    rows.Add(new(item.Name, "skipped: its output exists", o.Output, o.HtmlReport));
                    tally.Skipped++;
                    continue;
                }
                int exit = RenderOne(session, o, item, b, interruption, save);
                if (exit != 0 && interruption?.Requested == true) // stopped mid-way: nothing written
                {
                    output.WriteLine($"{head} stopped by {interruption.SignalName}; nothing written for it.");
                    rows.Add(new(item.Name, $"stopped by {interruption.SignalName}", null, null));
                    tally.Interrupted = true;
                    break;
                }
                if (exit != 0) throw new RunFailedException($"the run returned {exit}.");
                output.WriteLine($"{head} done, wrote {o.Output} in " +
                                 $"{ProgressDisplay.FormatDuration(itemClock.Elapsed.TotalSeconds)}.");
                rows.Add(new(item.Name, "done", o.Output, o.HtmlReport));
                tally.Done++;
            }
            catch (Exception e) when (Reported(e))
            {
                string reason = e.Message.ReplaceLineEndings(" ").Trim();
                output.WriteLine($"{head} failed: {reason}");
                error.WriteLine($"error: {item.Name}: {reason}");
                rows.Add(new(item.Name, $"failed: {reason}", null, null));
                tally.Failed.Add(item.Name);
            }
        }

        interruption?.Disarm();
        bool stopped = interruption?.Requested == true;
        string reused = session.Objectives.Reused > 0
            ? $"; {session.Objectives.Reused} took the image before's objective (buffers, style targets)"
            : "";
        output.WriteLine($"Batch done in {ProgressDisplay.FormatDuration(clock.Elapsed.TotalSeconds)}: " +
                         $"{tally.Done} done, {tally.Skipped} skipped, {tally.Failed.Count} failed" +
                         (tally.Failed.Count > 0 ? $" ({string.Join(", ", tally.Failed)})" : "") +
                         (stopped ? $"; stopped by {interruption!.SignalName}" +
                                    (tally.Interrupted ? ", 1 interrupted" : "") + NotStarted(mine.Count - k) : "") +
                         reused + ".");
        if (index is not null) WriteIndex(index, b, rows, output, error);
        if (stopped) return interruption!.ExitCode;
        return tally.Failed.Count > 0 ? ExitCodes.Failed : 0;
    }

    /// <summary>The batch's index page: one row per image of this shard, linking its page and its output; a failure
    /// to write it is one line (the images are written).</summary>
    private static void WriteIndex(string index, BatchOptions b, List<HtmlReport.IndexRow> rows, TextWriter output,
        TextWriter error)
    {
        string source = b.Manifest is not null ? Path.GetFileName(b.Manifest) : string.Join(" ", b.Inputs);
        HtmlReport.WriteIndexOrSay(index, $"ilgpu-style batch: {source}", rows, "images", output, error);
    }

    private static string NotStarted(int count) => count > 0 ? $", {count} not started" : "";

    private sealed class Tally
    {
        public int Done;
        public int Skipped;
        public bool Interrupted;
        public readonly List<string> Failed = [];
    }

    /// <summary>Failures that belong to one image: reported, and the batch goes on.</summary>
    private static bool Reported(Exception e) => e is UsageException or StyleSetupException or OutputPathException
        or RunFailedException or IOException or UnauthorizedAccessException or AcceleratorException
        or OutOfMemoryException;

    /// <summary>One image: its files checked, its images read, planned and rendered on the batch's device.</summary>
    private static int RenderOne(RunSession session, RunOptions o, BatchItem item, BatchOptions b,
        Interruption? interruption, ImageSave? save)
    {
        var clock = Stopwatch.StartNew();
        RefuseTuning(item.Arguments);
        RefusePreview(item.Arguments);
        if (BatchItems.Names(item.Arguments).FirstOrDefault(n => BatchWide.Contains(n)) is { } wide)
        {
            throw new UsageException($"{wide} applies to the whole batch (one device, one set of weights): " +
                                     "give it on the command line, not per image.");
        }
        var output = b.Verbose ? session.Output : TextWriter.Null;
        OutputPaths.Check(o, WeightsLocation.Of(o.Weights).Path);
        ImageFiles.CheckExtension(o.Output, "output image");
        var images = RunImages.Load(o, output, session.Styles);
        var run = session.Start(o, b.Verbose); // the first image that loads starts the device
        var limit = o.MaxMemory is null ? session.Limit! : MemoryLimit.Of(o.MaxMemory, run.Accelerator);
        var plan = RunPlanner.Plan(o, ScaleSchedule.Of(o), run.Weights, images.Canvas, images.StyleSizes,
            session.Choice!, limit);
        foreach (string note in plan.Notes) output.WriteLine($"note: {note}");
        return StyleRun.Render(run, o, images, plan, output, live: false, interruption, clock,
            finishedOnly: true, save);
    }

    /// <summary>An item's main-job options, or why it has none (a malformed row, an option the parser refuses).
    /// </summary>
    private static (RunOptions? Options, string? Problem) Resolve(BatchItem item, IReadOnlyList<string> shared)
    {
        if (item.Problem is not null) return (null, item.Problem);
        try
        {
            var root = new RootCommand();
            var parser = new StyleOptionsParser(root);
            var parse = root.Parse(BatchItems.Merge(shared, item.Arguments));
            if (parse.Errors.Count > 0) return (null, parse.Errors[0].Message.ReplaceLineEndings(" "));
            return (parser.Read(parse), null);
        }
        catch (UsageException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>The batch's own main-job options must parse (an unknown option, a bad number), before any image.
    /// </summary>
    private static void CheckSyntax(IReadOnlyList<string> shared)
    {
        var root = new RootCommand();
        _ = new StyleOptionsParser(root);
        var parse = root.Parse(shared);
        if (parse.Errors.Count > 0) throw new UsageException(parse.Errors[0].Message.ReplaceLineEndings(" "));
    }

    /// <summary>
    /// Items whose output is another item's output or any item's image, over the whole list (not one shard's, so
    /// every shard finds the same clashes): the later of two items with one output fails, and so does an item that
    /// would write an image another item reads.
    /// </summary>
    private static Dictionary<int, string> Clashes(List<BatchItem> items, List<(RunOptions? Options, string?)> all)
    {
        var clashes = new Dictionary<int, string>();
        var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (item, (o, _)) in items.Zip(all))
        {
            if (o is null) continue;
            foreach (string path in o.Styles.Prepend(o.Content!))
                inputs.TryAdd(Key(path), item.Name);
        }
        foreach (var (item, (o, _)) in items.Zip(all))
        {
            if (o is null) continue;
            string key = Key(o.Output);
            if (inputs.TryGetValue(key, out string? reader))
                clashes[item.Position] = $"its output '{o.Output}' is an image of {reader}: it would be overwritten.";
            else if (!outputs.TryAdd(key, item.Name))
                clashes[item.Position] = $"its output '{o.Output}' is also the output of {outputs[key]}.";
        }
        return clashes;
    }

    private static string Key(string path)
    {
        try
        {
            return FileIdentity.OutputPath(path);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return Path.GetFullPath(path);
        }
    }
}
