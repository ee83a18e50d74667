using System.Text.Json;
using IlgpuStyle.Host;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The commands around tuning on the CPU accelerator: <c>--tune</c>'s parsing and default, and <c>bench --sweep</c>
/// (its table and JSON; on the CPU the host code is the only variant).
/// </summary>
public sealed class TuningCommandTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public void TuneIsAutoUnlessTold()
    {
        Assert.That(RunOptions.Defaults.Tune, Is.EqualTo(TuningMode.Auto));
        Assert.That(OptionParsing.Parse().Tune, Is.EqualTo(TuningMode.Auto));
        Assert.That(OptionParsing.Parse("--tune", "off").Tune,
            Is.EqualTo(TuningMode.Off));
        Assert.That(OptionParsing.Parse("--tune", "always").Tune,
            Is.EqualTo(TuningMode.Always));
        var (exit, _, error) = Run("bench", "--device", "cpu", "--tune", "fast");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.Contain("--tune takes auto, off or always; 'fast' is not one."));
    }

    [Test]
    public void BenchHelpNamesSweepAsTheGpuCheckLooksForIt()
    {
        var (exit, output, _) = Run("bench", "--help");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("--sweep").And.Contain("--tune <always|auto|off>"));
    }

    [Test]
    public void SweepListsEveryVariantOfEveryLayerAndWritesJson()
    {
        string json = Path.Combine(Path.GetTempPath(), $"ilgpu-sweep-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output, error) = Run("bench", "--device", "cpu", "--size", "32", "--width-divisor", "16",
                "--sweep", "--json", json);
            Assert.That(exit, Is.Zero, error);
            Assert.That(output, Does.Contain("Sweep on CPU").And.Contain("checked against cpu (the reference)"));
            Assert.That(output, Does.Match(@"conv1_1\s+forward\+relu\s+3->4 32x32\s+cpu\s+[\d.]+\s+[\d.]+\s+0\.000" +
                                           @"\s+yes\s+rule, fastest"));
            Assert.That(output, Does.Match(@"conv5_1\s+input gradient\s+32->32 2x2\s+cpu"));
            Assert.That(output, Does.Not.Contain("ms per evaluation"), "a sweep times no evaluation");

            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var root = document.RootElement;
            Assert.That(root.GetProperty("device").GetString(), Does.StartWith("CPU"));
            Assert.That(root.GetProperty("width_divisor").GetInt32(), Is.EqualTo(16));
            var size = root.GetProperty("sizes")[0];
            Assert.That(size.GetProperty("size").GetInt32(), Is.EqualTo(32));
            var layers = size.GetProperty("layers").EnumerateArray().ToList();
            Assert.That(layers, Has.Count.EqualTo(2 * 13), "VGG-19's 13 convolutions to conv5_1, both directions");
            Assert.That(layers.Select(l => l.GetProperty("layer").GetString()).Distinct().Count(), Is.EqualTo(13));
            foreach (var layer in layers)
            {
                Assert.That(layer.GetProperty("rule").GetString(), Is.EqualTo("cpu"));
                Assert.That(layer.GetProperty("fastest").GetString(), Is.EqualTo("cpu"));
                var variant = layer.GetProperty("variants").EnumerateArray().Single();
                Assert.That(variant.GetProperty("correct").GetBoolean(), Is.True);
                Assert.That(variant.GetProperty("ms").GetDouble(), Is.GreaterThan(0));
            }
            var first = layers[0];
            Assert.That(first.GetProperty("gflop").GetDouble(),
                Is.EqualTo(2.0 * 4 * 3 * 9 * 32 * 32 / 1e9).Within(1e-12));
        }
        finally
        {
            File.Delete(json);
        }
    }
}

/// <summary>
/// <c>--tune</c> as a run applies it (<see cref="LayerTuning"/>): on a CPU accelerator with 256-thread groups and
/// the GPU's kernels as candidates, every shape of a small network's plan both ways, with the device's own clock
/// (nothing here asserts a time), its choices cached; and a main job with <c>--tune always</c> on the project's CPU,
/// where the host code is the only variant, renders the same image as without.
/// </summary>
public sealed class LayerTuningTests
{
    [Test]
    public void EveryShapeOfAPlanIsDecidedCheckedAndCached()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-tuning-{Guid.NewGuid():N}");
        string cache = Path.Combine(folder, "tuning.json");
        try
        {
            using var own = OwnAccelerator.WideCpu(threadsPerWarp: 16, warps: 16);
            var accelerator = own.Accelerator;
            var rule = new KernelChoice(AcceleratorDescription.Of(accelerator), tiledOnCpu: true);
            Conv2dShape[] shapes = [Conv2dShape.Vgg(3, 6, 5, 4), Conv2dShape.Vgg(4, 3, 3, 8)];
            using var output = new StringWriter();
            var tuned = LayerTuning.Tune(accelerator, rule, shapes, TuningMode.Auto, 1, output, cache);
            Assert.That(tuned.TunedTable.Choices, Is.Empty, "auto leaves a CPU accelerator alone");
            Assert.That(output.ToString(), Is.Empty);

            tuned = LayerTuning.Tune(accelerator, rule, shapes, TuningMode.Always, 1, output, cache);
            Assert.That(tuned.TunedTable.Choices.Keys.Select(k => k.Shape).Distinct(), Is.EquivalentTo(shapes));
            Assert.That(tuned.TunedTable.Choices, Has.Count.EqualTo(4), "both directions of both shapes");
            Assert.That(output.ToString(), Does.Match(@"^Tuned 4 convolution kernels \(4 timed and checked now, 0 " +
                                                      @"from .*tuning\.json\) in [\d.]+ s; "));
            var device = DeviceIdentity.Of(accelerator, rule);
            Assert.That(new TuningCache(cache).Load(device, _ => { }), Is.EquivalentTo(tuned.TunedTable.Choices));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void AMainJobWithTuneAlwaysOnTheCpuRendersTheSameImage()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-tune-run-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string plain = Path.Combine(folder, "plain.png"), tuned = Path.Combine(folder, "tuned.png");
            var first = HostFiles.Run(SmallRuns.SmallRun(plain, Array.Empty<string>()));
            var second = HostFiles.Run(SmallRuns.SmallRun(tuned, "--tune", "always"));
            Assert.That(first.Exit, Is.Zero, first.ToString());
            Assert.That(second.Exit, Is.Zero, second.ToString());
            Assert.That(first.Output, Does.Not.Contain("Tuned"), "the CPU's default is no tuning, no line");
            Assert.That(second.Output, Does.Contain("Tuned 0 convolution kernels")
                .And.Contain("each runs the built-in rule's variant"));
            Assert.That(File.ReadAllBytes(tuned), Is.EqualTo(File.ReadAllBytes(plain)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
