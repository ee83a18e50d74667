using System.Text.Json;
using IlgpuStyle.Host;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Host;

/// <summary><c>ilgpu-style bench</c> on the CPU accelerator, at a size and width it finishes quickly.</summary>
public sealed class BenchTests
{
    [Test]
    public void BenchPrintsAPerLayerTableAndWritesJson()
    {
        string json = Path.Combine(Path.GetTempPath(), $"ilgpu-bench-{Guid.NewGuid():N}.json");
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int exit = Cli.Run(["bench", "--device", "cpu", "--size", "32", "--iterations", "1", "--warmup", "0",
                "--width-divisor", "16", "--json", json], output, error);
            Assert.That(exit, Is.Zero, error.ToString());
            Assert.That(output.ToString(), Does.Contain("conv1_1+relu1_1 forward").And.Contain("conv5_1 backward")
                .And.Contain("StyleLoss@relu3_1 backward").And.Contain("ms per evaluation"));
            // The pieces' milliseconds do not add up to the evaluation's, and the output says why.
            Assert.That(output.ToString(), Does.Match(@"\(the pieces add up to [\d.]+ ms: each is timed alone, " +
                                                      @"between markers .* so the two differ\)"));

            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var size = document.RootElement.GetProperty("sizes")[0];
            Assert.That(size.GetProperty("size").GetInt32(), Is.EqualTo(32));
            Assert.That(size.GetProperty("ms_per_evaluation").GetDouble(), Is.GreaterThan(0));
            Assert.That(size.GetProperty("peak_device_bytes").GetInt64(), Is.GreaterThan(0));

            // FLOP count by hand: VGG-19 / 16 at 32x32 up to conv5_1, forward and input gradient
            // (2 * 2*K*C*9*H*W per conv), plus Gram forward and backward (2 * 2*C*C*H*W) at the
            // five style layers.
            (int C, int K, int Hw)[] convs =
            [
                (3, 4, 32), (4, 4, 32), (4, 8, 16), (8, 8, 16), (8, 16, 8), (16, 16, 8), (16, 16, 8), (16, 16, 8),
                (16, 32, 4), (32, 32, 4), (32, 32, 4), (32, 32, 4), (32, 32, 2),
            ];
            double flop = convs.Sum(c => 2 * 2.0 * c.K * c.C * 9 * c.Hw * c.Hw);
            (int C, int Hw)[] grams = [(4, 32), (8, 16), (16, 8), (32, 4), (32, 2)];
            flop += grams.Sum(g => 2 * 2.0 * g.C * g.C * g.Hw * g.Hw);
            Assert.That(size.GetProperty("gflop_per_evaluation").GetDouble(), Is.EqualTo(flop / 1e9).Within(1e-9));
            var pieces = size.GetProperty("pieces").EnumerateArray().ToList();
            Assert.That(pieces.Sum(p => p.GetProperty("share").GetDouble()), Is.EqualTo(1).Within(1e-6));
        }
        finally
        {
            File.Delete(json);
        }
    }

    /// <summary><c>--style-loss w2</c> times the Wasserstein-2 objective, the roots pieces of their own (a tap's
    /// Newton-Schulz iteration, or the exact roots of every tap that needs them, side by side).</summary>
    [Test]
    public void BenchTimesTheW2ObjectiveWithItsRoots()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(["bench", "--device", "cpu", "--size", "32", "--iterations", "1", "--warmup", "0",
            "--width-divisor", "16", "--style-loss", "w2"], output, error);
        Assert.That(exit, Is.Zero, error.ToString());
        Assert.That(output.ToString(), Does.Contain("the Wasserstein-2 style loss (--style-loss w2)")
            .And.Contain("W2StyleLoss@relu1_1 forward").And.Contain("W2StyleLoss@relu5_1 root")
            .And.Contain("W2StyleLoss@relu3_1 backward").And.Contain("ms per evaluation"));
        Assert.That(output.ToString(), Does.Not.Contain(" StyleLoss@"), "no Gram tap");
    }

    /// <summary>
    /// <c>--json</c> is checked as every output is, before any timing: empty (an unset shell variable), a folder, a
    /// folder that does not exist or a link is one line, exit code 2, with nothing written (it was a stack trace, and
    /// a link was written through).
    /// </summary>
    [Test]
    public void ABadJsonPathIsOneLineBeforeAnyTiming()
    {
        string folder = HostFiles.NewFolder("bench-json");
        string link = Path.Combine(folder, "link.json");
        File.CreateSymbolicLink(link, Path.Combine(folder, "target.json"));
        foreach (var (path, message) in new[]
                 {
                     ("", "--json takes a file name, and '' is empty"),
                     (folder, $"The JSON file (--json) '{folder}' is an existing folder"),
                     (Path.Combine(folder, "missing", "b.json"), "The folder of the JSON file (--json)"),
                     (link, $"The JSON file (--json) '{link}' is a symbolic link"),
                 })
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int exit = Cli.Run(["bench", "--device", "cpu", "--size", "32", "--iterations", "1", "--warmup", "0",
                "--width-divisor", "16", "--json", path], output, error);
            Assert.That(exit, Is.EqualTo(ExitCodes.Usage), error.ToString());
            Assert.That(error.ToString(), Does.StartWith("error: " + message).And.Not.Contain("   at "));
            Assert.That(error.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1));
            Assert.That(output.ToString(), Does.Not.Contain("size 32x32"), "refused before any timing");
        }
        Assert.That(Directory.GetFileSystemEntries(folder), Is.EquivalentTo(new[] { link }), "nothing written");
    }

    /// <summary><c>bench --tile-size</c> times a tiled evaluation of the same image against the untiled one.</summary>
    [Test]
    public void BenchTimesATiledEvaluationAgainstTheUntiledOne()
    {
        string json = Path.Combine(Path.GetTempPath(), $"ilgpu-bench-{Guid.NewGuid():N}.json");
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int exit = Cli.Run(["bench", "--device", "cpu", "--size", "256", "--iterations", "1", "--warmup", "0",
                "--width-divisor", "16", "--tile-size", "100", "--json", json], output, error);
            Assert.That(exit, Is.Zero, error.ToString());
            Assert.That(output.ToString(), Does.Match(@"tiled 3x3 \(core 96, halo 80, tiles of 240x240\): [\d.]+ ms " +
                                                      @"per evaluation, [\d.]+x untiled \([\d.]+x by FLOPs\)"));

            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var size = document.RootElement.GetProperty("sizes")[0];
            var tiled = size.GetProperty("tiled");
            Assert.That(tiled.GetProperty("grid").EnumerateArray().Select(e => e.GetInt32()),
                Is.EqualTo(new[] { 3, 3 }));
            Assert.That(tiled.GetProperty("core").GetInt32(), Is.EqualTo(96));
            Assert.That(tiled.GetProperty("relative_time").GetDouble(), Is.EqualTo(
                tiled.GetProperty("ms_per_evaluation").GetDouble() / size.GetProperty("ms_per_evaluation").GetDouble())
                .Within(1e-9));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public void BenchRefusesImpossibleSizes()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(["bench", "--device", "cpu", "--size", "8"], output, error);
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.ToString(),
            Does.StartWith("error: --size 8 is too small to reach relu5_1: an image's side must be at least 16 " +
                           "pixels."));
        error.GetStringBuilder().Clear();
        exit = Cli.Run(["bench", "--device", "cpu", "--size", "0"], output, error);
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.ToString(),
            Does.StartWith("error: --size takes whole numbers, each at least 1; '0' is not one."));
    }

    [Test]
    public void EveryKindOfPieceLabelGetsItsFlopCount()
    {
        var weights = Bench.RandomVgg19(widthDivisor: 16, seed: 1);
        var image = new IlgpuStyle.Kernels.ChwShape(3, 32, 32);
        double conv12 = 2.0 * 4 * 4 * 9 * 32 * 32; // conv1_2: 4 -> 4 channels at 32 x 32
        Assert.Multiple(() =>
        {
            Assert.That(Bench.Work("conv1_2+relu1_2 forward", image, weights).Flop, Is.EqualTo(conv12));
            Assert.That(Bench.Work("conv1_2 backward", image, weights).Flop, Is.EqualTo(conv12));
            Assert.That(Bench.Work("relu1_2+conv1_2 backward", image, weights).Flop, Is.EqualTo(conv12),
                "the fused GPU backward");
            Assert.That(
                Bench.Work("StyleLoss@relu2_1 backward", image, weights).Flop, Is.EqualTo(2.0 * 8 * 8 * 16 * 16));
            Assert.That(Bench.Work("relu1_2 backward", image, weights).Flop, Is.Zero);
            Assert.That(Bench.Work("total variation", image, weights).Flop, Is.Zero);
        });
    }
}
