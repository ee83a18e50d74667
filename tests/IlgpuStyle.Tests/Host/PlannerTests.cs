using System.CommandLine;
using System.Text.RegularExpressions;
using ILGPU.Runtime;
using IlgpuStyle.Host;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Network;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The memory planner of the console (issue 14): <c>--max-memory</c>, <c>--tile-size</c> and <c>--dry-run</c>
/// parsed and refused as every option is, the plan's choice of tiles, its bytes against what a run allocates, and
/// a tiled run against an untiled one. Tiny weights (channels / 16) and drawn images: nothing from ../shared.
/// </summary>
public sealed class PlannerTests
{
    private static readonly AcceleratorDescription Cpu = new(AcceleratorType.CPU, 1, false, "CPU");

    private static readonly Lazy<VggWeights> Weights = new(() => VggWeights.Load(TinyWeights()));

    private static RunOptions Parse(params string[] args)
    {
        var root = new RootCommand();
        var parser = new StyleOptionsParser(root);
        var parsed = root.Parse(["--content", "c.png", "--style", "s.png", .. args]);
        Assert.That(parsed.Errors, Is.Empty);
        return parser.Read(parsed);
    }

    /// <summary>The plan the console makes for the drawn content and style images under <paramref name="limit"/>
    /// bytes, with the kernels it would choose (the options' <c>--conv-algorithm</c>).</summary>
    private static RunPlan Plan(RunOptions o, long limit)
    {
        var scales = ScaleSchedule.Of(o);
        var content = Decode(ContentPng);
        var style = Decode(StylePng);
        return RunPlanner.Plan(o, scales, Weights.Value, (content.Width, content.Height), [(style.Width, style.Height)],
            new KernelChoice(Cpu, algorithm: o.ConvAlgorithm), new MemoryLimit(limit, "the test"));
    }

    private static RunOptions Options(int size, params string[] more) =>
        Parse(["--size", size.ToString(System.Globalization.CultureInfo.InvariantCulture), .. more]);

    [TestCase("6GB", 6_000_000_000L)]
    [TestCase("512MB", 512_000_000L)]
    [TestCase("1.5GiB", 1_610_612_736L)]
    [TestCase("2 kB", 2_000L)]
    [TestCase("64mib", 64L << 20)]
    [TestCase("1e9B", 1_000_000_000L)]
    public void MaxMemoryReadsDecimalAndBinaryUnits(string text, long bytes)
    {
        Assert.That(PlanningOptions.TryParseBytes(text, out long parsed), Is.True);
        Assert.That(parsed, Is.EqualTo(bytes));
        Assert.That(Parse("--max-memory", text).MaxMemory, Is.EqualTo(bytes));
    }

    [TestCase("6")]
    [TestCase("6G")]
    [TestCase("-1GB")]
    [TestCase("0GB")]
    [TestCase("1,5GB")]
    [TestCase("GB")]
    [TestCase("6XB")]
    [TestCase("1e30TB")]
    public void MaxMemoryRefusesAnythingElseInOneLine(string text)
    {
        var run = Run("--content", ContentPng, "--style", StylePng, "--max-memory", text);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Is.EqualTo(
            "error: --max-memory takes a size with a unit, like 6GB, 512MB or 1.5GiB (GB = 10^9 bytes, " +
            $"GiB = 2^30 bytes); '{text}' is not one. See 'ilgpu-style --help'.{Environment.NewLine}"));
    }

    [Test]
    public void TileSizeIsAutoOrPixelsAndTheDefaultsPlanFreely()
    {
        var defaults = Parse();
        Assert.That((defaults.TileSize, defaults.MaxMemory, defaults.DryRun), Is.EqualTo(((int?)null, (long?)null,
            false)));
        Assert.That(Parse("--tile-size", "auto").TileSize, Is.Null);
        Assert.That(Parse("--tile-size", "AUTO").TileSize, Is.Null);
        Assert.That(Parse("--tile-size", "320", "--dry-run").TileSize, Is.EqualTo(320));
        Assert.That(Parse("--dry-run").DryRun, Is.True);
    }

    [TestCase("0")]
    [TestCase("-16")]
    [TestCase("big")]
    [TestCase("1.5")]
    public void TileSizeRefusesAnythingElseInOneLine(string text)
    {
        var run = Run("--content", ContentPng, "--style", StylePng, "--tile-size", text);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Is.EqualTo($"error: --tile-size takes auto or a whole number of pixels, at least 1; " +
                                          $"'{text}' is not one. See 'ilgpu-style --help'.{Environment.NewLine}"));
    }

    [TestCase(500, 16, 496)]
    [TestCase(504, 16, 512)]
    [TestCase(1, 16, 16)]
    [TestCase(100, 8, 104)]
    public void ATileSizeIsRoundedToTheNearestStride(int side, int stride, int core) =>
        Assert.That(RunPlanner.RoundToStride(side, stride), Is.EqualTo(core));

    /// <summary>The bytes of the last scale with tiles of <paramref name="core"/> pixels (null: untiled).</summary>
    private static long BytesAt(RunOptions o, int? core) =>
        Plan(o with { TileSize = core }, long.MaxValue).Scales[^1].Bytes.Total;

    /// <summary>
    /// <c>auto</c> leaves a run that fits untiled, and otherwise takes, of the cores under the limit, the one with
    /// the least arithmetic and of those the largest: no larger core fits and costs as little. (With the default
    /// layers a tile's halo is 80 px, so tiles need a 256 px image.)
    /// </summary>
    [Test]
    public void AutoPicksTheLargestCheapestTileUnderTheLimit()
    {
        var o = Options(256, "--optimizer", "adam");
        long untiled = BytesAt(o, null), smallest = BytesAt(o, 16);
        Assert.That(Plan(o, untiled).Scales[0].Tiles, Is.Null, "a run that fits is not tiled");
        Assert.That(smallest, Is.LessThan(untiled));

        long limit = (smallest + untiled) / 2;
        var tiled = Plan(o, limit).Scales[0];
        Assert.That(tiled.Tiles, Is.Not.Null, "a run over the limit is tiled");
        var grid = tiled.Tiles!;
        Assert.That(tiled.Bytes.Total, Is.LessThanOrEqualTo(limit));
        Assert.That(tiled.Bytes.Total, Is.EqualTo(BytesAt(o, grid.Core)));
        Assert.That(grid.Core % grid.Stride, Is.Zero);
        Assert.That(grid.Rows * grid.Columns, Is.GreaterThan(1));
        Assert.That(tiled.RelativeTime, Is.GreaterThan(1), "tiles recompute their halos");
        for (int core = grid.Stride; core < 256; core += grid.Stride)
        {
            var other = Plan(o with { TileSize = core }, long.MaxValue).Scales[0];
            if (other.Tiles is null || other.Bytes.Total > limit) continue;
            Assert.That(other.RelativeTime, Is.GreaterThanOrEqualTo(tiled.RelativeTime),
                $"core {core} fits and costs less than the chosen {grid.Core}");
            if (core > grid.Core)
            {
                Assert.That(other.RelativeTime, Is.GreaterThan(tiled.RelativeTime),
                    $"core {core} fits, costs as little and is larger than the chosen {grid.Core}");
            }
        }
    }

    /// <summary>An explicit <c>--tile-size</c> that does not fit is refused, naming one that does.</summary>
    [Test]
    public void ATileSizeOverTheLimitIsRefusedNamingOneThatFits()
    {
        var o = Options(256, "--optimizer", "adam");
        long limit = (BytesAt(o, 16) + BytesAt(o, null)) / 2;
        int tooLarge = Enumerable.Range(1, 15).Select(k => 256 - 16 * k)
            .First(core => Plan(o with { TileSize = core }, long.MaxValue).Scales[0] is { Tiles: not null } s
                           && s.Bytes.Total > limit);
        var e = Assert.Throws<UsageException>(() => Plan(o with { TileSize = tooLarge }, limit))!;
        var fits = Regex.Match(e.Message, $@"^--tile-size {tooLarge} at 256x192 needs about [\d.]+ [KMG]iB, more " +
                                          @"than the limit of [\d.]+ [KMG]iB \(the test\): --tile-size (\d+) fits " +
                                          @"\(or leave --tile-size out: auto\)\.$");
        Assert.That(fits.Success, Is.True, e.Message);
        int core = int.Parse(fits.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(Plan(o with { TileSize = core }, limit).Scales[0].Tiles!.Core, Is.EqualTo(core));
    }

    /// <summary><c>--style-size</c> sizes the style images alike at every scale of a coarse-to-fine run, where
    /// <c>--style-scale</c> makes them follow the scale's size.</summary>
    [Test]
    public void AStyleSizeIsTheStyleImagesLongerSideAtEveryScale()
    {
        var plan = Plan(Options(128, "--min-size", "48", "--style-size", "56"), long.MaxValue);
        Assert.That(plan.Scales.Select(s => s.Scale.Size).Distinct().Count(), Is.GreaterThan(1), "coarse to fine");
        Assert.That(plan.Scales.Select(s => Math.Max(s.Objective.Styles[0].Width, s.Objective.Styles[0].Height)),
            Is.All.EqualTo(56));
        var scaled = Plan(Options(128, "--min-size", "48", "--style-scale", "0.5"), long.MaxValue);
        Assert.That(scaled.Scales.Select(s => s.Objective.Styles[0].Width),
            Is.EqualTo(scaled.Scales.Select(s => (int)Math.Round(0.5 * s.Scale.Size))), "the style image is square");
    }

    /// <summary>A style size too large to index or too small for the style layers is refused in one line with the
    /// <c>--style-size</c> that plans (a larger <c>--size</c> would not help: the style images keep their size).
    /// </summary>
    [Test]
    public void AStyleSizeTooLargeOrTooSmallIsRefusedWithOneThatPlans()
    {
        var large = Assert.Throws<UsageException>(() => Plan(Options(64, "--style-size", "100000"), long.MaxValue))!;
        Assert.That(large.Message, Does.Contain("pixels at --style-size 100000").And.Not.Contain('\n'));
        var fix = Regex.Match(large.Message, @"use --style-size (\d+)\.$");
        Assert.That(fix.Success, Is.True, large.Message);
        Assert.DoesNotThrow(() => Plan(Options(64, "--style-size", fix.Groups[1].Value), long.MaxValue));

        var small = Assert.Throws<UsageException>(() => Plan(Options(64, "--style-size", "4"), long.MaxValue))!;
        var least = Regex.Match(small.Message, @"too small to reach .*Use at least --style-size (\d+)\.$");
        Assert.That(least.Success, Is.True, small.Message);
        Assert.DoesNotThrow(() => Plan(Options(64, "--style-size", least.Groups[1].Value), long.MaxValue));
    }

    [TestCase("0", "--style-size takes a whole number, at least 1; '0' is not one.")]
    [TestCase("-3", "--style-size takes a whole number, at least 1; '-3' is not one.")]
    [TestCase("big", "--style-size takes a whole number, at least 1; 'big' is not one.")]
    public void AStyleSizeMustBeAPositiveWholeNumber(string value, string error) =>
        Assert.That(OptionParsing.Refused("--style-size", value), Is.EqualTo(error));

    [Test]
    public void AStyleSizeAndAStyleScaleAreNotGivenTogether()
    {
        Assert.That(OptionParsing.Refused("--style-size", "256", "--style-scale", "0.5"), Is.EqualTo(
            "--style-size and --style-scale both size the style images: give one (--style-size: a fixed longer " +
            "side; --style-scale: a multiple of each scale's)."));
        Assert.That(OptionParsing.Parse("--style-size", "256").StyleSize, Is.EqualTo(256));
    }

    /// <summary>A <c>--tile-size</c> whose tile covers the image leaves it whole, and says so.</summary>
    [Test]
    public void ATileSizeThatCoversTheImageLeavesItWholeWithANote()
    {
        var plan = Plan(Options(256, "--tile-size", "240"), long.MaxValue);
        Assert.That(plan.Scales[0].Tiles, Is.Null);
        Assert.That(plan.Notes, Is.EqualTo(new[]
        {
            "--tile-size 240: one tile (with its halo) covers the 256x192 image, so it is evaluated whole.",
        }));
    }

    /// <summary>Coarse to fine: only the scales that do not fit are tiled.</summary>
    [Test]
    public void OnlyTheScalesThatDoNotFitAreTiled()
    {
        var o = Parse("--schedule", "64:1,128:1,256:1", "--optimizer", "adam");
        long limit = (BytesAt(o, 16) + BytesAt(o, null)) / 2;
        var plan = Plan(o, limit).Scales;
        Assert.That(plan.Select(s => s.Tiles is not null), Is.EqualTo(new[] { false, false, true }));
        Assert.That(plan.Select(s => s.Bytes.Total), Has.All.LessThanOrEqualTo(limit));
    }

    /// <summary>A coarse-to-fine run tiles its last scale only, and its progress and report say so.</summary>
    [Test]
    public void ACoarseToFineRunTilesOnlyItsLastScaleAndSaysSo()
    {
        string[] args = ["--schedule", "64:2,256:2", "--optimizer", "adam"];
        var o = Parse(args);
        long limit = (BytesAt(o, 16) + BytesAt(o, null)) / 2;
        var grid = Plan(o, limit).Scales[1].Tiles!;

        string folder = NewFolder("tiled-scales");
        string report = Path.Combine(folder, "run.json");
        var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--max-memory", $"{limit}B", "--output", Path.Combine(folder, "out.png"), "--report", report, .. args]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain($"scale 2/2 256x192, {grid.Rows}x{grid.Columns} tiles, iteration 2/2")
            .And.Contain("scale 1/2 64x48, iteration 2/2"));
        using var json = Report(report);
        var scales = json.RootElement.GetProperty("scales");
        Assert.That(scales[0].TryGetProperty("tiles", out _), Is.False, "the first scale fits whole");
        Assert.That(scales[1].GetProperty("tiles").GetProperty("core").GetInt32(), Is.EqualTo(grid.Core));
        Assert.That(json.RootElement.TryGetProperty("tiles", out _), Is.False, "a coarse-to-fine run: per scale");
    }

    /// <summary>
    /// The bytes the plan predicts are the peak the run reports (which counts every buffer it allocates), untiled
    /// and tiled, for each optimizer, with the average of the iterates, and for a luminance-only run (one channel
    /// optimized through the three-channel objective).
    /// </summary>
    [TestCase("lbfgs", false, "none")]
    [TestCase("adam", false, "none")]
    [TestCase("lbfgs", true, "none")]
    [TestCase("adam", true, "none")]
    [TestCase("adam", false, "luminance-only")]
    [TestCase("lbfgs", true, "luminance-only")]
    public void ThePlannedBytesAreWhatTheRunAllocates(string optimizer, bool tiled, string colour)
    {
        string[] common = ["--optimizer", optimizer, "--lbfgs-history", "5", "--average-decay", "0.9",
            "--color-control", colour];
        var o = Options(256, common);
        long limit = tiled ? (BytesAt(o, 16) + BytesAt(o, null)) / 2 : BytesAt(o, null);
        var plan = Plan(o, limit).Scales[0];
        Assert.That(plan.Tiles is not null, Is.EqualTo(tiled));

        string folder = NewFolder("planned-bytes");
        string report = Path.Combine(folder, "run.json");
        var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "256", "--iterations", "2", "--max-memory", $"{limit}B", "--output",
            Path.Combine(folder, "out.png"), "--report", report, .. common]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        using var json = Report(report);
        Assert.That(json.RootElement.GetProperty("peak_device_bytes").GetInt64(), Is.EqualTo(plan.Bytes.Total));
        Assert.That(json.RootElement.TryGetProperty("tiles", out var tiles), Is.EqualTo(tiled),
            "a tiled plain run says so in its report; an untiled one keeps SPEC.md's keys");
        if (tiled)
        {
            Assert.That(tiles.GetProperty("grid").EnumerateArray().Select(e => e.GetInt32()),
                Is.EqualTo(new[] { plan.Tiles!.Rows, plan.Tiles.Columns }));
        }
    }

    /// <summary>
    /// A run whose memory limit forces several tiles paints the same image as an untiled run (the loss and gradient
    /// are the whole image's, up to float summation order): within one grey level per pixel. With Adam: L-BFGS's
    /// line search accepts or rejects a trial step on loss differences as small as float rounding, so two runs
    /// that differ only in summation order part ways after a few iterations, tiled or not. With the direct
    /// convolutions: Winograd's rounding depends on where a pixel falls in its 4 x 4 tile, which tiling shifts, and
    /// Adam's first steps move a pixel whose gradient is near 0 by the full rate either way (the tiled objective with
    /// Winograd is held to the whole image's in <c>TiledObjectiveTests</c>).
    /// </summary>
    [Test]
    public void ATiledRunPaintsTheSameImageAsAnUntiledOne()
    {
        const int Size = 256;
        string[] adam = ["--optimizer", "adam", "--conv-algorithm", "direct"];
        var o = Options(Size, adam);
        long limit = BytesAt(o, 64);
        var grid = Plan(o, limit).Scales[0].Tiles;
        Assert.That(grid, Is.Not.Null);
        Assert.That(grid!.Rows * grid.Columns, Is.GreaterThanOrEqualTo(4), "several tiles: " + grid);

        string folder = NewFolder("tiled-image");
        string Paint(string name, params string[] more)
        {
            string output = Path.Combine(folder, name);
            var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
                "--size", $"{Size}", "--iterations", "10", "--print-every", "5", "--output", output, .. adam,
                .. more]);
            Assert.That(run.Exit, Is.Zero, run.ToString());
            return run.Output;
        }
        Paint("whole.png");
        string tiledOutput = Paint("tiled.png", "--max-memory", $"{limit}B");
        Assert.That(tiledOutput, Does.Contain($"{grid.Rows}x{grid.Columns} tiles, iteration 10/10"),
            "the progress says it is tiled");

        var whole = Decode(Path.Combine(folder, "whole.png"));
        var tiled = Decode(Path.Combine(folder, "tiled.png"));
        int worst = whole.Pixels.Zip(tiled.Pixels, (a, b) => Math.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"{grid}: largest difference {worst} grey levels");
        Assert.That(worst, Is.LessThanOrEqualTo(1));
    }

    /// <summary><c>--dry-run</c> prints the plan, exits 0 and writes nothing: no image, no report. (The direct
    /// convolutions, whose weights are held once: the limit is set for their plan.)</summary>
    [Test]
    public void ADryRunPrintsThePlanAndWritesNothing()
    {
        string folder = NewFolder("dry-run");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "256", "--optimizer", "adam", "--max-memory", "8MB", "--tile-size", "100", "--dry-run",
            "--conv-algorithm", "direct",
            "--output", Path.Combine(folder, "out.png"), "--report", Path.Combine(folder, "run.json"),
            "--save-every", "1");
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty);
        Assert.That(run.Output, Does.Contain("note: --tile-size 100 is not a multiple of 16 (the stride of relu5_1): " +
                                             "tiles of 96 px are used."));
        Assert.That(run.Output, Does.Contain("Plan for vgg19 (Adam), limit 7.6 MiB (--max-memory):")
            .And.Contain("scale 1/1: 256x192, 1000 iterations, 2x3 tiles, core 96 px, halo 80 px")
            .And.Match(@"tiled because whole it would need [\d.]+ [KMG]iB, more than the limit")
            .And.Contain("one tile's activations and gradients").And.Contain("optimizer state")
            .And.Contain("time per evaluation: about"));
        Assert.That(run.Output, Does.Not.Contain("iteration 0"), "nothing ran");
    }

    /// <summary>
    /// A run that does not fit even in the smallest tiles names the cheapest fix, and that fix fits: here L-BFGS's
    /// history, whose image-sized vectors no tiling can shrink.
    /// </summary>
    [Test]
    public void ARunThatFitsInNoTilesNamesTheCheapestFix()
    {
        var o = Options(2048);
        long adam = Plan(o with { Optimizer = OptimizerKind.Adam }, long.MaxValue).Scales[0].Bytes.Total;
        long limit = 4 * adam;
        var e = Assert.Throws<UsageException>(() => Plan(o, limit))!;
        var fix = Regex.Match(e.Message,
            @"^L-BFGS history 100 at 2048 x 1536 needs [\d.]+ [KMG]iB of image-sized vectors, and the run [\d.]+ " +
            @"[KMG]iB even in the smallest tiles \(32 px\), more than the limit of [\d.]+ [KMG]iB \(the test\): " +
            @"use --optimizer adam or --lbfgs-history (\d+)\.$");
        Assert.That(fix.Success, Is.True, e.Message);
        int history = int.Parse(fix.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(history, Is.InRange(1, 99));
        Assert.DoesNotThrow(() => Plan(o with { Lbfgs = o.Lbfgs with { HistorySize = history } }, limit));
        Assert.Throws<UsageException>(
            () => Plan(o with { Lbfgs = o.Lbfgs with { HistorySize = history + 1 } }, limit));
        Assert.DoesNotThrow(() => Plan(o with { Optimizer = OptimizerKind.Adam }, limit));
    }

    /// <summary>
    /// When the run's own vectors (here Adam's) leave no room at any size, the message names the limit that fits,
    /// and when a smaller size fits, it names it too: the fix is a sentence either way.
    /// </summary>
    [Test]
    public void ARunThatFitsAtNoSizeNamesTheLimitThatFits()
    {
        var o = Options(2048, "--optimizer", "adam");
        var e = Assert.Throws<UsageException>(() => Plan(o, 1000))!;
        var limit = Regex.Match(e.Message, @"^Even in the smallest tiles \(32 px\), --size 2048 needs about .*: not " +
                                           @"even the smallest image fits; use --max-memory ([\d.]+[MG]iB)\.$");
        Assert.That(limit.Success, Is.True, e.Message);
        Assert.That(PlanningOptions.TryParseBytes(limit.Groups[1].Value, out long raised), Is.True);
        Assert.DoesNotThrow(() => Plan(o, raised));

        long atHalf = Plan(Options(1024, "--optimizer", "adam"), long.MaxValue).Scales[0].Bytes.Total;
        var smaller = Assert.Throws<UsageException>(() => Plan(o, atHalf))!;
        var fix = Regex.Match(smaller.Message, @": use --size (\d+) or --max-memory [\d.]+[MG]iB\.$");
        Assert.That(fix.Success, Is.True, smaller.Message);
        int size = int.Parse(fix.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(size, Is.InRange(1024, 2047));
        Assert.DoesNotThrow(() => Plan(Options(size, "--optimizer", "adam"), atHalf));
    }

    // ---------------------------------------------------------------- advice (issue 22, defect 4)

    /// <summary>The plan for a whole command line (<paramref name="args"/>, a content image or not) with the drawn
    /// images' sizes (content 64x48, style 40x40), under its <c>--max-memory</c> (1000 GB when it has none).</summary>
    private static RunPlan PlanArgs(IReadOnlyList<string> args)
    {
        var root = new RootCommand();
        var parser = new StyleOptionsParser(root);
        var parsed = root.Parse([.. args]);
        Assert.That(parsed.Errors, Is.Empty, string.Join(" ", args));
        var o = parser.Read(parsed);
        var canvas = o.Content is null ? o.TextureCanvas : (64, 48);
        return RunPlanner.Plan(o, ScaleSchedule.Of(o), Weights.Value, canvas, [(40, 40)],
            new KernelChoice(Cpu, algorithm: o.ConvAlgorithm),
            new MemoryLimit(o.MaxMemory ?? 1_000_000_000_000L, "the test"));
    }

    /// <summary><paramref name="args"/> with a fix's changes made: each option set (replacing its value, or added)
    /// or left out.</summary>
    private static List<string> Follow(IReadOnlyList<string> args, RunFix fix)
    {
        var result = args.ToList();
        foreach (var (option, value) in fix.Changes)
        {
            int at = result.IndexOf(option);
            if (at >= 0) result.RemoveRange(at, 2);
            if (value is not null) result.AddRange([option, value]);
        }
        return result;
    }

    /// <summary>The bytes the last scale of <paramref name="args"/> plans for, without a limit.</summary>
    private static long Needs(params string[] args) => PlanArgs(args).Scales[^1].Bytes.Total;

    private static string Bytes(long bytes) => $"{bytes}B";

    /// <summary>
    /// Runs the planner refuses, one for each kind of advice it gives: images too small (content, style image,
    /// texture, a coarse-to-fine run's first scale), a style image past the kernels' indices or over the limit,
    /// L-BFGS's history (also with <c>--tile-size</c>), the average, a smaller size (plain, coarse to fine by
    /// <c>--min-size</c> and by <c>--schedule</c>, a texture), a larger limit only, and a <c>--tile-size</c> over
    /// the limit.
    /// </summary>
    private static IEnumerable<TestCaseData> RefusedRuns()
    {
        string[] content = ["--content", "c.png", "--style", "s.png"];
        string[] texture = ["--style", "s.png"];
        TestCaseData Case(string name, params string[] args) => new TestCaseData((object)args).SetName(name);
        yield return Case("ContentTooSmall", [.. content, "--size", "8"]);
        yield return Case("StyleTooSmall", [.. content, "--size", "64", "--style-scale", "0.1"]);
        yield return Case("TextureTooSmall", [.. texture, "--texture-size", "12x8"]);
        yield return Case("FirstScaleTooSmall", [.. content, "--size", "64", "--min-size", "8"]);
        yield return Case("FirstScheduleScaleTooSmall", [.. content, "--schedule", "8:1,12:1,64:1"]);
        yield return Case("StylePastTheIndices", [.. content, "--size", "64", "--style-scale", "1000"]);
        string[] bigStyle = [.. content, "--size", "64", "--optimizer", "adam"];
        yield return Case("StyleOverTheLimit", [.. bigStyle, "--style-scale", "30", "--max-memory",
            Bytes(Needs([.. bigStyle, "--style-scale", "5"]))]);
        long adam2048 = Needs([.. content, "--size", "2048", "--optimizer", "adam"]);
        yield return Case("LbfgsHistory", [.. content, "--size", "2048", "--max-memory", Bytes(4 * adam2048)]);
        yield return Case("LbfgsHistoryWithTiles", [.. content, "--size", "2048", "--tile-size", "256",
            "--max-memory", Bytes(4 * adam2048)]);
        yield return Case("Average", [.. content, "--size", "2048", "--optimizer", "adam", "--average-decay", "0.9",
            "--max-memory", Bytes(Needs([.. content, "--size", "2048", "--optimizer", "adam", "--tile-size", "32"]))]);
        long adam1024 = Needs([.. content, "--size", "1024", "--optimizer", "adam"]);
        yield return Case("SmallerSize", [.. content, "--size", "2048", "--optimizer", "adam", "--max-memory",
            Bytes(adam1024)]);
        yield return Case("OnlyMoreMemory", [.. content, "--size", "2048", "--optimizer", "adam", "--max-memory",
            "1000B"]);
        yield return Case("SmallerSizeBelowMinSize", [.. content, "--size", "2048", "--min-size", "1500",
            "--optimizer", "adam", "--max-memory", Bytes(adam1024)]);
        yield return Case("SmallerSchedule", [.. content, "--schedule", "64:1,512:1,2048:1", "--optimizer", "adam",
            "--max-memory", Bytes(adam1024)]);
        yield return Case("SmallerTexture", [.. texture, "--texture-size", "2048x1024", "--optimizer", "adam",
            "--max-memory", Bytes(Needs([.. texture, "--texture-size", "1024x512", "--optimizer", "adam"]))]);
        string[] tiled = [.. content, "--size", "256", "--optimizer", "adam"];
        long limit = (Needs([.. tiled, "--tile-size", "16"]) + Needs(tiled)) / 2;
        yield return Case("TileSizeOverTheLimit", [.. tiled, "--tile-size", "240", "--max-memory", Bytes(limit)]);
    }

    /// <summary>
    /// The planner's advice names the option that makes the run too big, and following any of it gives a run that
    /// plans: each fix the refusal carries appears in its message, and the command line with that fix made plans
    /// without a refusal and without a style image that outweighs the run (issue 22, defect 4: <c>--style-scale
    /// 1000 --size 64</c> was refused naming <c>--size</c>, and <c>--size 21</c> then spent minutes on one forward
    /// pass of a 21000 px style image).
    /// </summary>
    [TestCaseSource(nameof(RefusedRuns))]
    public void FollowingAnyAdviceGivesARunThatPlans(string[] args)
    {
        var e = Assert.Throws<UsageException>(() => PlanArgs(args), string.Join(" ", args))!;
        Assert.That(e.Fixes, Is.Not.Empty, e.Message);
        foreach (var fix in e.Fixes)
        {
            Assert.That(e.Message, Does.Contain(fix.Text));
            var followed = Follow(args, fix);
            RunPlan? plan = null;
            Assert.DoesNotThrow(() => plan = PlanArgs(followed),
                $"{e.Message}\nfollowing '{fix.Text}': {string.Join(" ", followed)}");
            Assert.That(plan!.Notes, Has.None.Contains("capturing the style"), string.Join(" ", followed));
        }
    }

    /// <summary>
    /// A style image is named when it is what does not fit, and the advice is a smaller <c>--style-scale</c>: past
    /// the kernels' indices, and over the limit; but a style image smaller than the content is not blamed.
    /// </summary>
    [Test]
    public void AStyleImageThatDoesNotFitIsNamedWithTheStyleScale()
    {
        string[] args = ["--content", "c.png", "--style", "s.png", "--size", "64"];
        var indices = Assert.Throws<UsageException>(() => PlanArgs([.. args, "--style-scale", "1000"]))!;
        Assert.That(indices.Message, Does.StartWith("The style image 's.png', which becomes 64000x64000 pixels at " +
                                                    "--style-scale 1000, makes tensors of more than 2^31 elements")
            .And.Match(@": use --style-scale [\d.]+\.$"));
        Assert.That(indices.Fixes.Single().Changes.Single().Option, Is.EqualTo("--style-scale"));

        long limit = Needs([.. args, "--optimizer", "adam", "--style-scale", "5"]);
        var memory = Assert.Throws<UsageException>(() => PlanArgs([.. args, "--optimizer", "adam", "--style-scale",
            "30", "--max-memory", Bytes(limit)]))!;
        Assert.That(memory.Message, Does.Contain("with the style image 's.png', which becomes 1920x1920 pixels at " +
                                                 "--style-scale 30: use --style-scale"));
        double advised = double.Parse(memory.Fixes.Single().Changes.Single().Value!,
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(advised, Is.InRange(5, 30));

        var content = Assert.Throws<UsageException>(() => PlanArgs(["--content", "c.png", "--style", "s.png",
            "--size", "2048", "--optimizer", "adam", "--style-scale", "0.5", "--max-memory", "1000B"]))!;
        Assert.That(content.Message, Does.Not.Contain("style image").And.Not.Contain("--style-scale"));
    }

    /// <summary>
    /// A style image whose one forward pass costs more than the run's iterations is planned, with a note that
    /// says so and names the largest style scale that does not; a usual style scale gets no note.
    /// </summary>
    [Test]
    public void AStyleImageThatOutweighsTheRunGetsANote()
    {
        string[] args = ["--content", "c.png", "--style", "s.png", "--size", "64"];
        var note = PlanArgs([.. args, "--style-scale", "300"]).Notes.Single();
        var timely = Regex.Match(note, @"^the style image 's.png' becomes 19200x19200 pixels at --style-scale 300: " +
                                       @"capturing the style costs about as much as [\d,]+ evaluations of the 64x48 " +
                                       @"image, more than its 1000 iterations, and will take long before the first " +
                                       @"one; --style-scale ([\d.]+) or less keeps it below\.$");
        Assert.That(timely.Success, Is.True, note);
        Assert.That(PlanArgs([.. args, "--style-scale", timely.Groups[1].Value]).Notes, Is.Empty);
        Assert.That(PlanArgs([.. args, "--style-scale", "4", "--iterations", "1"]).Notes, Is.Empty,
            "a short run may have its style image at a few times its size");
    }
}
