using System.Globalization;
using System.Text.Json;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The main job end to end on the CPU accelerator, run in-process through <c>Cli.Run</c> at small
/// sizes: the loss falls, the report follows SPEC.md ("What a run reports"), the images have the
/// requested size and format and are written atomically.
/// </summary>
public sealed class StyleRunTests
{
    /// <summary>SPEC.md's report keys, exactly.</summary>
    /// <summary>SPEC.md's keys, and <c>stop</c>: how the optimization ended.</summary>
    private static readonly string[] ReportKeys =
        ["device", "size", "weights", "iterations", "peak_device_bytes", "seconds", "stop"];

    private static readonly string[] IterationKeys = ["iteration", "total", "content", "style", "tv", "ms"];

    /// <summary>
    /// The loss of the real photograph and painting falls by at least half within 20 iterations,
    /// with default weights and learning rates (nothing tuned), for each optimizer and each
    /// preprocessing convention (.caffemodel: caffe, .pth: torchvision).
    /// </summary>
    [TestCase("vgg19_div16.v1.caffemodel", "lbfgs")]
    [TestCase("vgg19_div16.v1.caffemodel", "adam")]
    [TestCase("vgg19_div16.zip.pth", "lbfgs")]
    [TestCase("vgg19_div16.zip.pth", "adam")]
    public void TheLossHalvesWithin20IterationsOnTheSharedImages(string fixture, string optimizer)
    {
        string weights = ConvertedFixture(fixture);
        string content = Support.SharedFolder.Require("images/tubingen.jpg");
        string style = Support.SharedFolder.Require("images/starry_night.jpg");
        AssertLossHalves(weights, content, style, optimizer, size: 48);
    }

    /// <summary>The same path without ../shared: tiny weights and images the test draws itself.</summary>
    [TestCase("caffe", "lbfgs")]
    [TestCase("caffe", "adam")]
    [TestCase("torchvision", "lbfgs")]
    [TestCase("torchvision", "adam")]
    public void TheLossHalvesWithin20IterationsOnGeneratedImages(string preprocess, string optimizer) =>
        AssertLossHalves(TinyWeights(preprocess), ContentPng, StylePng, optimizer, size: 48);

    /// <summary>
    /// With <c>--style-loss w2</c> Adam's default step is crowsonkb's, for either convention: a run without
    /// <c>--learning-rate</c> paints the image of one given that step, and not the image of the Gram loss's step.
    /// </summary>
    [TestCase("caffe")]
    [TestCase("torchvision")]
    public void W2sAdamStepIsCrowsonkbsByDefault(string preprocess)
    {
        var preprocessing = Preprocessing.FromName(preprocess);
        string folder = NewFolder("w2-step");
        byte[] Painted(double? step)
        {
            string output = Path.Combine(folder, $"{step}.png");
            var run = Run(SmallRuns.SmallRun(output, ("--weights", TinyWeights(preprocess)), ("--style-loss", "w2"),
                ("--optimizer", "adam"), ("--iterations", "3"),
                ("--learning-rate", step?.ToString("R", CultureInfo.InvariantCulture))));
            Assert.That(run.Exit, Is.Zero, run.ToString());
            return File.ReadAllBytes(output);
        }
        byte[] byDefault = Painted(null);
        Assert.That(byDefault, Is.EqualTo(Painted(preprocessing.AdamLearningRate(StyleLossKind.W2))));
        Assert.That(byDefault, Is.Not.EqualTo(Painted(preprocessing.AdamLearningRate(StyleLossKind.Gram))));
    }

    private static void AssertLossHalves(string weights, string content, string style, string optimizer, int size)
    {
        string folder = NewFolder("halves");
        string output = Path.Combine(folder, "out.png");
        string report = Path.Combine(folder, "report.json");
        var run = Run("--content", content, "--style", style, "--weights", weights, "--device", "cpu",
            "--optimizer", optimizer,
            "--size", size.ToString(), "--iterations", "20", "--print-every", "5", "--output", output,
            "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());

        using var json = Report(report);
        var totals = Totals(json);
        Assert.That(totals[0].Iteration, Is.Zero);
        Assert.That(totals[^1].Iteration, Is.InRange(1, 20), run.Output);
        double first = totals[0].Total, last = totals[^1].Total;
        Assert.That(double.IsFinite(first) && first > 0, Is.True, $"initial loss {first}");
        Assert.That(last, Is.LessThanOrEqualTo(first / 2),
            $"{optimizer} with {Path.GetFileName(weights)}: total loss {first:G6} -> {last:G6} " +
            $"after {totals[^1].Iteration} iterations " +
            $"(ratio {last / first:G3}); losses: " +
            $"{string.Join(", ", totals.Select(t => $"{t.Iteration}:{t.Total:G4}"))}");
        Assert.That(File.Exists(output), Is.True);
    }

    [Test]
    public void TheReportHasExactlyTheSpecKeysAndFollowsThePrintSchedule()
    {
        string folder = NewFolder("report");
        string output = Path.Combine(folder, "out.png");
        string report = Path.Combine(folder, "run.json");
        string weights = TinyWeights();
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", weights, "--device", "cpu",
            "--size", "48", "--iterations", "12", "--print-every", "5", "--output", output, "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Error, Is.Empty);

        using var json = Report(report);
        var root = json.RootElement;
        Assert.That(root.ValueKind, Is.EqualTo(JsonValueKind.Object));
        Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(ReportKeys));
        Assert.That(root.GetProperty("device").GetString(), Does.Contain("CPU"));
        // 64x48 content at --size 48: [H, W] = [36, 48].
        Assert.That(root.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 36, 48 }));
        Assert.That(root.GetProperty("weights").GetString(), Is.EqualTo(weights));
        Assert.That(root.GetProperty("peak_device_bytes").GetInt64(), Is.GreaterThan(0));
        Assert.That(root.GetProperty("seconds").GetDouble(), Is.GreaterThan(0));

        var entries = root.GetProperty("iterations").EnumerateArray().ToList();
        Assert.That(entries.Select(e => e.GetProperty("iteration").GetInt32()), Is.EqualTo(new[] { 0, 5, 10, 12 }));
        foreach (var entry in entries)
        {
            Assert.That(entry.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(IterationKeys));
            double total = entry.GetProperty("total").GetDouble();
            double parts = entry.GetProperty("content").GetDouble() + entry.GetProperty("style").GetDouble()
                + entry.GetProperty("tv").GetDouble();
            Assert.That(total, Is.EqualTo(parts).Within(1e-4 * Math.Abs(total) + 1e-6), "total = content + style + tv");
            Assert.That(entry.GetProperty("ms").GetDouble(), Is.GreaterThanOrEqualTo(0));
        }
        // The initial image is the content image: no content loss at iteration 0.
        Assert.That(entries[0].GetProperty("content").GetDouble(), Is.Zero);

        // One plain line per reported iteration, and the final line says where the image went.
        foreach (int i in new[] { 0, 5, 10, 12 })
            Assert.That(run.Output, Does.Contain($"iteration {i}/12: total "));
        Assert.That(run.Output, Does.Not.Contain("iteration 1/12").And.Not.Contain("iteration 11/12"));
        Assert.That(run.Output.TrimEnd().Split('\n')[^1],
            Does.StartWith($"Wrote {output} (48x36) and {Path.Combine(folder, "run.json")} in "));
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "run.json" }), "no temporary files left");
    }

    [Test]
    public void PrintEveryZeroReportsOnlyTheFirstAndLastIteration()
    {
        string folder = NewFolder("print0");
        string report = Path.Combine(folder, "run.json");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "32", "--iterations", "3", "--print-every", "0", "--output", Path.Combine(folder, "out.png"),
            "--report", report);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        using var json = Report(report);
        Assert.That(Totals(json).Select(t => t.Iteration), Is.EqualTo(new[] { 0, 3 }));
    }

    [TestCase(48, 36)] // landscape 64x48
    [TestCase(50, 38)] // 64 * 50/64 = 50 wide, 48 * 50/64 = 37.5 -> 38 high
    public void TheOutputPngHasTheRequestedSizeWithTheAspectKept(int size, int shorter)
    {
        string folder = NewFolder("size");
        string output = Path.Combine(folder, "result.png");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", size.ToString(), "--iterations", "1", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        var image = Decode(output);
        Assert.That((image.Width, image.Height), Is.EqualTo((size, shorter)));
        Assert.That(File.ReadAllBytes(output).Take(4),
            Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
    }

    [Test]
    public void APortraitJpegContentGivesAJpegOfTheRequestedHeight()
    {
        string folder = NewFolder("jpeg");
        string output = Path.Combine(folder, "result.jpg");
        var run = Run("--content", PortraitJpeg, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "40", "--iterations", "1", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        byte[] bytes = File.ReadAllBytes(output);
        Assert.That(bytes.Take(3), Is.EqualTo(new byte[] { 0xFF, 0xD8, 0xFF }), "JPEG by extension");
        var image = Decode(output);
        Assert.That((image.Width, image.Height), Is.EqualTo((24, 40)), "30x50 portrait at --size 40");
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Is.EqualTo(new[] { "result.jpg" }));
    }

    [Test]
    public void GrayAndRgbaInputsRun()
    {
        string folder = NewFolder("gray");
        string output = Path.Combine(folder, "out.png");
        var run = Run("--content", GrayPng, "--style", RgbaPng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "36", "--iterations", "1", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        var image = Decode(output);
        Assert.That((image.Width, image.Height), Is.EqualTo((36, 36)));
    }

    [Test]
    public void SaveEveryWritesNumberedSnapshotsAtomically()
    {
        string folder = NewFolder("snapshots");
        string output = Path.Combine(folder, "out.png");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "32", "--iterations", "5", "--save-every", "2", "--print-every", "0", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        // Snapshots at 2 and 4; the final iteration is the output itself.
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "out_2.png", "out_4.png" }),
            "snapshots named out_N.png and no temporary files left");
        Assert.That(run.Output, Does.Contain("saved " + Path.Combine(folder, "out_2.png")));
        foreach (string file in Directory.GetFiles(folder))
        {
            var image = Decode(file);
            Assert.That((image.Width, image.Height), Is.EqualTo((32, 24)), file);
        }
        Assert.That(Decode(Path.Combine(folder, "out_2.png")).Pixels, Is.Not.EqualTo(Decode(output).Pixels),
            "a snapshot is the image at its iteration");
    }

    [Test]
    public void AnExistingOutputIsReplacedWhole()
    {
        string folder = NewFolder("replace");
        string output = Path.Combine(folder, "out.png");
        File.WriteAllText(output, "an old file, longer than nothing");
        var run = Run("--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "32", "--iterations", "1", "--output", output);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(Decode(output).Width, Is.EqualTo(32));
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Is.EqualTo(new[] { "out.png" }));
    }

    /// <summary>
    /// <c>--original-colors</c> keeps U and V (YUV) of the resized content; without it the style's
    /// blue and yellow pull the colours away.
    /// </summary>
    [Test]
    public void OriginalColorsKeepsTheContentsChroma()
    {
        string folder = NewFolder("colors");
        var resizedContent = ImageResize.ToLongerSide(Decode(ContentPng), 48);
        double ChromaDistance(params string[] extra)
        {
            string output = Path.Combine(folder, $"out{extra.Length}.png");
            var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
                "--size", "48", "--iterations", "8", "--output", output, .. extra]);
            Assert.That(run.Exit, Is.Zero, run.ToString());
            var result = Decode(output);
            Assert.That((result.Width, result.Height), Is.EqualTo((resizedContent.Width, resizedContent.Height)));
            double sum = 0;
            for (int i = 0; i < result.Pixels.Length; i += 3)
            {
                var (u, v) = ColorTransfer.Chroma(result.Pixels, i);
                var (u0, v0) = ColorTransfer.Chroma(resizedContent.Pixels, i);
                sum += Math.Abs(u - u0) + Math.Abs(v - v0);
            }
            return sum / (2.0 * result.Pixels.Length / 3);
        }

        double kept = ChromaDistance("--original-colors");
        double free = ChromaDistance();
        TestContext.Out.WriteLine($"mean |dU|,|dV|: with --original-colors {kept:F2}, without {free:F2}");
        Assert.That(kept, Is.LessThan(3),
            "with --original-colors, U and V are the content's (up to rounding and clamping)");
        Assert.That(free, Is.GreaterThan(4 * kept).And.GreaterThan(5),
            "without it, the colours move away from the content's");
    }

    [TestCase("random")]
    [TestCase("image")]
    public void OtherInitsRunAndStartAwayFromTheContent(string init)
    {
        string folder = NewFolder("init-" + init);
        string output = Path.Combine(folder, "out.png");
        string report = Path.Combine(folder, "run.json");
        string[] initArgs = init == "image"
            ? ["--init", "image", "--init-image", PortraitJpeg]
            : ["--init", "random", "--seed", "3"];
        var run = Run(["--content", ContentPng, "--style", StylePng, "--weights", TinyWeights(), "--device", "cpu",
            "--size", "40", "--iterations", "2", "--output", output, "--report", report, .. initArgs]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That((Decode(output).Width, Decode(output).Height), Is.EqualTo((40, 30)));
        using var json = Report(report);
        var first = json.RootElement.GetProperty("iterations")[0];
        Assert.That(first.GetProperty("iteration").GetInt32(), Is.Zero);
        // Starting from anything but the content image, the content loss at iteration 0 is positive.
        Assert.That(first.GetProperty("content").GetDouble(), Is.GreaterThan(0));
    }
}
