using System.Text.Json;
using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Coarse-to-fine runs end to end on the CPU accelerator (<c>--min-size</c>, <c>--schedule</c>,
/// <c>--initial-iterations</c>, <c>--average-decay</c>): every scale runs and its loss falls, the
/// report and the snapshots carry the scales (SPEC.md, "Extensions"), a seed gives one image, and
/// every bad value of the new options is a one-line error.
/// </summary>
public sealed class MultiScaleRunTests
{
    private static readonly string[] ReportKeys =
        ["device", "size", "weights", "iterations", "peak_device_bytes", "seconds", "stop", "scales"];

    private static readonly string[] IterationKeys = ["iteration", "total", "content", "style", "tv", "ms", "scale"];

    /// <summary>The report's iteration entries of one scale: (iteration, total).</summary>
    private static List<(int Iteration, double Total)> EntriesOf(JsonDocument report, int scale) =>
        report.RootElement.GetProperty("iterations").EnumerateArray()
            .Where(e => e.GetProperty("scale").GetInt32() == scale)
            .Select(e => (e.GetProperty("iteration").GetInt32(), e.GetProperty("total").GetDouble())).ToList();

    private static int[] IntArray(JsonElement element) => element.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    /// <summary>
    /// The project's own tiny weights and drawn images: 64x48 content at --size 48 --min-size 20
    /// --scale-ratio 1.5 gives the longer sides 21, 32, 48 (48/1.5^2 = 21.3; 14.2 is below 20).
    /// </summary>
    [TestCase("adam", "0.9")]
    [TestCase("lbfgs", "0")]
    public void EveryScaleRunsAndTheReportAndSnapshotsCarryTheScale(string optimizer, string decay)
    {
        string folder = NewFolder("scales-" + optimizer);
        string output = Path.Combine(folder, "out.png");
        string report = Path.Combine(folder, "run.json");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--optimizer", optimizer, "--size", "48", "--min-size", "20", "--scale-ratio", "1.5",
            "--initial-iterations", "6", "--iterations", "4", "--average-decay", decay, "--print-every", "2",
            "--save-every", "3", "--output", output, "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Error, Is.Empty);

        using var json = Report(report);
        var root = json.RootElement;
        Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(ReportKeys));
        Assert.That(IntArray(root.GetProperty("size")), Is.EqualTo(new[] { 36, 48 }), "size is the final size");
        var scales = root.GetProperty("scales").EnumerateArray().ToList();
        Assert.That(scales.Select(s => IntArray(s.GetProperty("size"))),
            Is.EqualTo(new[] { new[] { 16, 21 }, new[] { 24, 32 }, new[] { 36, 48 } }), "[H, W] of each scale");
        Assert.That(scales.Select(s => s.GetProperty("iterations").GetInt32()), Is.EqualTo(new[] { 6, 4, 4 }));
        foreach (var scale in scales)
        {
            Assert.That(scale.EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "size", "iterations", "seconds", "final" }));
            Assert.That(scale.GetProperty("seconds").GetDouble(), Is.GreaterThan(0));
            Assert.That(scale.GetProperty("final").EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "total", "content", "style", "tv" }));
        }
        Assert.That(scales.Sum(s => s.GetProperty("seconds").GetDouble()),
            Is.LessThanOrEqualTo(root.GetProperty("seconds").GetDouble()), "the run's seconds cover every scale");

        var entries = root.GetProperty("iterations").EnumerateArray().ToList();
        foreach (var entry in entries)
            Assert.That(entry.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(IterationKeys));
        Assert.That(entries.Select(e => e.GetProperty("scale").GetInt32()), Is.Ordered, "scales in order");
        int[][] schedule = [[0, 2, 4, 6], [0, 2, 4], [0, 2, 4]];
        for (int s = 0; s < 3; s++)
        {
            var totals = EntriesOf(json, s);
            Assert.That(totals.Select(t => t.Iteration), Is.EqualTo(schedule[s]), $"scale {s}: the print schedule");
            Assert.That(totals[^1].Total, Is.LessThan(totals[0].Total),
                $"scale {s}: the loss falls within the scale: {string.Join(", ", totals)}");
            Assert.That(scales[s].GetProperty("final").GetProperty("total").GetDouble(), Is.EqualTo(totals[^1].Total),
                "final is the scale's last iteration");
        }

        // Snapshots every 3 iterations of each scale and at the end of every scale but the last.
        string[] expected = ["out.png", "run.json", "out_21_3.png", "out_21_6.png", "out_32_3.png", "out_32_4.png",
            "out_48_3.png"];
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Is.EquivalentTo(expected), run.Output);
        foreach (var (name, width, height) in new[] { ("out_21_3.png", 21, 16), ("out_32_4.png", 32, 24),
                     ("out_48_3.png", 48, 36), ("out.png", 48, 36) })
        {
            var image = Decode(Path.Combine(folder, name));
            Assert.That((image.Width, image.Height), Is.EqualTo((width, height)), name);
        }

        Assert.That(run.Output, Does.Contain("scale 1/3 21x16, iteration 0/6: total ")
            .And.Contain("scale 2/3 32x24, iteration 4/4: total ")
            .And.Contain("scale 3/3 48x36, iteration 2/4: total ")
            .And.Contain("saved " + Path.Combine(folder, "out_32_4.png")));
        Assert.That(run.Output.TrimEnd().Split('\n')[^1], Does.StartWith($"Wrote {output} (48x36) and {report} in "));
    }

    [Test]
    public void AScheduleNamesEveryScaleAndSizeMayRepeatItsLast()
    {
        string folder = NewFolder("schedule");
        string report = Path.Combine(folder, "run.json");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--schedule", "24:3,40:2", "--size", "40", "--print-every", "0", "--output", Path.Combine(folder, "o.png"),
            "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        using var json = Report(report);
        var scales = json.RootElement.GetProperty("scales").EnumerateArray().ToList();
        Assert.That(scales.Select(s => IntArray(s.GetProperty("size"))),
            Is.EqualTo(new[] { new[] { 18, 24 }, new[] { 30, 40 } }));
        Assert.That(scales.Select(s => s.GetProperty("iterations").GetInt32()), Is.EqualTo(new[] { 3, 2 }));
        Assert.That(EntriesOf(json, 0).Select(e => e.Iteration), Is.EqualTo(new[] { 0, 3 }));
        Assert.That(EntriesOf(json, 1).Select(e => e.Iteration), Is.EqualTo(new[] { 0, 2 }));
        Assert.That(Decode(Path.Combine(folder, "o.png")).Width, Is.EqualTo(40));
    }

    [Test]
    public void TheLiveBarNamesTheScaleWhenItFits()
    {
        var losses = new IlgpuStyle.Network.LossBreakdown(1.2345e12f, 9.8765e11f, 2.468e11f, 3.3e9f);
        const string label = "scale 2/3 32x24";
        Assert.That(ProgressDisplay.FitLiveDescription(200, 5, 10, losses, 1.5, label),
            Does.StartWith("scale 2/3 32x24  5/10  total 1.235e+12"));
        Assert.That(ProgressDisplay.FitLiveDescription(30, 5, 10, losses, 1.5, label),
            Is.EqualTo("scale 2/3 32x24  5/10"));
        Assert.That(ProgressDisplay.FitLiveDescription(12, 5, 10, losses, 1.5, label), Is.EqualTo("5/10"),
            "the iteration goes first when only one thing fits");
    }

    /// <summary>
    /// With no iterations, a scale's result is where it started: the first scale's is the content at
    /// 24 px, and the second's that image enlarged bicubic to 48 px and clamped to the pixel range
    /// (not the content resampled at 48 px), exactly as the reference computes it on the host.
    /// </summary>
    [TestCase("caffe")]
    [TestCase("torchvision")]
    public void TheNextScaleStartsFromThePreviousResultEnlargedBicubicAndClamped(string convention)
    {
        string folder = NewFolder("carry");
        string output = Path.Combine(folder, "out.png");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(convention),
            "--device", "cpu", "--schedule", "24:0,48:0", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());

        var preprocessing = IlgpuStyle.Network.Preprocessing.FromName(convention);
        var small = IlgpuStyle.Network.Images.ImageResize.ToLongerSide(Decode(ContentPng), 24);
        var x = Array.ConvertAll(preprocessing.ToNetworkInput(small), v => (double)v);
        var from = new IlgpuStyle.Kernels.ChwShape(1, 18, 24);
        var to = new IlgpuStyle.Kernels.ChwShape(1, 36, 48);
        var enlarged = new float[3 * to.Length];
        for (int c = 0; c < 3; c++)
        {
            var plane = new double[to.Length];
            var (low, high) = preprocessing.ChannelRange(c);
            IlgpuStyle.Kernels.Upsample.ForwardReference(plane, x[(c * from.Length)..((c + 1) * from.Length)], to, from,
                IlgpuStyle.Kernels.UpsampleFilter.Bicubic, low, high);
            for (int i = 0; i < to.Length; i++) enlarged[c * to.Length + i] = (float)plane[i];
        }
        var expected = preprocessing.ToImage(enlarged, 48, 36).Pixels;
        var actual = Decode(output).Pixels;
        int worst = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        Assert.That(worst, Is.LessThanOrEqualTo(1), "equal up to float rounding at a half");
        var direct = IlgpuStyle.Network.Images.ImageResize.ToLongerSide(Decode(ContentPng), 48).Pixels;
        Assert.That(actual.Zip(direct, (a, d) => Math.Abs(a - d)).Max(), Is.GreaterThan(1),
            "not the content resampled at the final size");
    }

    /// <summary>Twice the same multi-scale run from seeded noise, with averaging: the same pixels.</summary>
    [Test]
    public void TheSameSeedGivesTheSameImage()
    {
        string folder = NewFolder("seed");
        byte[] Pixels(string name)
        {
            string output = Path.Combine(folder, name);
            var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
                "--optimizer", "adam", "--init", "random", "--seed", "7", "--size", "32", "--min-size", "22",
                "--iterations", "3", "--average-decay", "0.5", "--output", output);
            Assert.That(run.Exit, Is.Zero, run.ToString());
            return Decode(output).Pixels;
        }

        var first = Pixels("a.png");
        Assert.That(Pixels("b.png"), Is.EqualTo(first));
    }

    /// <summary>The shared photograph and painting with the shared weight fixture (skipped without
    /// ../shared).</summary>
    [Test]
    public void TheSharedImagesRunCoarseToFineWithAdamAndAveraging()
    {
        string weights = ConvertedFixture("vgg19_div16.v1.caffemodel");
        string content = Support.SharedFolder.Require("images/tubingen.jpg");
        string style = Support.SharedFolder.Require("images/starry_night.jpg");
        string folder = NewFolder("shared-scales");
        string output = Path.Combine(folder, "out.png");
        string report = Path.Combine(folder, "run.json");
        var run = Run("--content", content, "--style", style, "--weights", weights, "--device", "cpu",
            "--optimizer", "adam", "--size", "64", "--min-size", "32", "--initial-iterations", "12",
            "--iterations", "6", "--average-decay", "0.9", "--print-every", "3", "--save-every", "6",
            "--output", output, "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());

        using var json = Report(report);
        var scales = json.RootElement.GetProperty("scales").EnumerateArray().ToList();
        // 1024x768 photograph: longer sides 32, 45, 64 (64/sqrt 2 = 45.25).
        Assert.That(scales.Select(s => IntArray(s.GetProperty("size"))),
            Is.EqualTo(new[] { new[] { 24, 32 }, new[] { 34, 45 }, new[] { 48, 64 } }));
        for (int s = 0; s < scales.Count; s++)
        {
            var totals = EntriesOf(json, s);
            Assert.That(totals[^1].Total, Is.LessThan(totals[0].Total), $"scale {s}: {string.Join(", ", totals)}");
        }
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "run.json", "out_32_6.png", "out_32_12.png", "out_45_6.png" }));
        var image = Decode(output);
        Assert.That((image.Width, image.Height), Is.EqualTo((64, 48)));
    }

    [Test]
    public void OptionsThatARunDoesNotUseAreNotedAndAPlainRunKeepsItsReport()
    {
        string folder = NewFolder("notes");
        string report = Path.Combine(folder, "run.json");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "32", "--iterations", "1", "--scale-ratio", "2", "--initial-iterations", "5",
            "--output", Path.Combine(folder, "out.png"), "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("note: --scale-ratio is used only with --min-size.")
            .And.Contain("note: --initial-iterations is used only with --min-size."));
        using var json = Report(report);
        Assert.That(json.RootElement.EnumerateObject().Select(p => p.Name), Does.Not.Contain("scales"));
        Assert.That(Totals(json).Select(t => t.Iteration), Is.EqualTo(new[] { 0, 1 }),
            "--iterations, not --initial-iterations");
        Assert.That(run.Output, Does.Contain("iteration 1/1: total ").And.Not.Contain("scale 1/"));
    }

    // ------------------------------------------------------------------ errors

    private static object[] Bad(string message, params string[] args) => [args, message];

    private static string Ratio(string value) =>
        "--scale-ratio takes a number greater than 1 (each scale this much smaller than the next); " +
        $"'{value}' is not one.";

    private static string Decay(string value) =>
        $"--average-decay takes a number from 0 up to, but not including, 1 (0: off; 0.99 suits Adam); '{value}' is " +
        "not one.";

    private static readonly object[] BadValues =
    [
        Bad("--min-size takes a whole number, at least 1; '0' is not one.", "--min-size", "0"),
        Bad("--min-size takes a whole number, at least 1; '-5' is not one.", "--min-size", "-5"),
        Bad("--min-size 64 is larger than --size 32", "--min-size", "64"),
        Bad("--min-size takes a whole number, at least 1; 'abc' is not one.", "--min-size", "abc"),
        Bad("The content image becomes 8x6 pixels at the first scale (--min-size 8), too small to reach relu5_1: " +
            "its shorter side must be at least 16 pixels. Use at least --min-size 21.", "--min-size", "8"),
        Bad("The content image becomes 8x6 pixels at the first scale (the first --schedule size, 8), too small to " +
            "reach relu5_1: its shorter side must be at least 16 pixels. Use at least --schedule 21:1,32:1.",
            "--schedule", "8:1,32:1"),
        // Refused while parsing (NumberOptions), naming the option, whether or not --min-size is given.
        Bad(Ratio("1"), "--min-size", "16", "--scale-ratio", "1"),
        Bad(Ratio("0.5"), "--min-size", "16", "--scale-ratio", "0.5"),
        Bad(Ratio("-2"), "--scale-ratio", "-2"),
        Bad(Ratio("NaN"), "--scale-ratio", "NaN"),
        Bad(Ratio("x"), "--scale-ratio", "x"),
        Bad("--scale-ratio 1.0000001 is so close to 1", "--min-size", "16", "--scale-ratio", "1.0000001"),
        Bad("--schedule names no scale", "--schedule", ""),
        Bad("--schedule entry '32' is not SIZE:ITERATIONS", "--schedule", "32"),
        Bad("--schedule must go from coarse to fine", "--schedule", "24:2,16:2"),
        Bad("--schedule entry '16:x': the iteration count 'x' is not a whole number.", "--schedule", "16:x"),
        Bad("--schedule entry '0:3': the size must be a positive number of pixels.", "--schedule", "0:3"),
        Bad("--schedule ends at 48 but --size is 32", "--schedule", "16:2,48:2"),
        Bad("--initial-iterations takes a whole number, at least 0; '-1' is not one.", "--min-size", "16",
            "--initial-iterations", "-1"),
        Bad("--initial-iterations takes a whole number, at least 0; 'many' is not one.", "--initial-iterations",
            "many"),
        Bad(Decay("1"), "--average-decay", "1"),
        Bad(Decay("-0.1"), "--average-decay", "-0.1"),
        Bad(Decay("NaN"), "--average-decay", "NaN"),
        Bad(Decay("lots"), "--average-decay", "lots"),
    ];

    /// <summary>Each bad value: exit code 2, one line naming the option, nothing written.</summary>
    [TestCaseSource(nameof(BadValues))]
    public void ABadValueIsOneLineNamingTheOption(string[] extra, string message)
    {
        string folder = NewFolder("bad-scales");
        string output = Path.Combine(folder, "out.png");
        var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "32", "--iterations", "1", "--output", output, "--report", Path.Combine(folder, "r.json"),
            .. extra]);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        string error = run.Error.TrimEnd();
        Assert.That(error, Does.StartWith("error: " + message), run.ToString());
        Assert.That(error, Does.Not.Contain('\n'), "one line");
        Assert.That(run.Error + run.Output, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "no stack trace");
        Assert.That(Directory.GetFiles(folder), Is.Empty, "nothing written");
    }

    /// <summary>Snapshot paths carry the scale, and are checked with the other outputs before the run.</summary>
    [Test]
    public void ASnapshotPathThatCannotBeWrittenIsRefusedBeforeTheRun()
    {
        string folder = NewFolder("bad-snapshot");
        Directory.CreateDirectory(Path.Combine(folder, "out_24_3.png")); // the first scale's result
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--schedule", "24:3,32:3", "--save-every", "3", "--output", Path.Combine(folder, "out.png"));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: ").And.Contain("out_24_3.png"));
        Assert.That(run.Output, Does.Not.Contain("iteration"), "refused before the run");
    }

    /// <summary>The memory check covers the largest scale (the final one) before anything is allocated.</summary>
    [Test]
    public void TheMemoryCheckRunsForTheLargestScaleFirst()
    {
        string folder = NewFolder("bad-memory");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "20000", "--min-size", "32", "--output", Path.Combine(folder, "out.png"));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Does.Match(StyleRunErrorTests.SmallestTilesTooLarge("20000", "20000 x 15000")));
        Assert.That(run.Output, Does.Not.Contain("Computing the style targets").And.Not.Contain("iteration"),
            "fails before the first scale runs");
        Assert.That(Directory.GetFiles(folder), Is.Empty);
    }
}
