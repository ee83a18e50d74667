using IlgpuStyle.Host;
using IlgpuStyle.Network;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Tests.Host;

/// <summary>The console commands, run in-process with captured output.</summary>
public sealed class CliTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    private static RunOptions Parse(params string[] args)
    {
        var (options, error) = OptionParsing.TryParse(args);
        Assert.That(error, Is.Null);
        return options!;
    }

    [Test]
    public void LeftOutOptionsTakeTheOptionRecordsDefaults()
    {
        var o = Parse("--content", "c.png", "--style", "s.png");
        var style = new StyleOptions();
        Assert.That(o.Lbfgs, Is.EqualTo(new LbfgsOptions()));
        Assert.That(o.Adam, Is.EqualTo(new AdamOptions()));
        Assert.That(o.Style.ContentLayers, Is.EqualTo(style.ContentLayers));
        Assert.That(o.Style.StyleLayers, Is.EqualTo(style.StyleLayers));
        Assert.That(o.Style.Pooling, Is.EqualTo(style.Pooling));
        Assert.That((o.Style.ContentWeight, o.Style.StyleWeight, o.Style.TvWeight, o.Style.StyleLayerWeights,
            o.Style.StyleBlendWeights, o.Style.NormalizeGradients), Is.EqualTo((style.ContentWeight, style.StyleWeight,
            style.TvWeight, style.StyleLayerWeights, style.StyleBlendWeights, style.NormalizeGradients)));
        var expected = new RunOptions { Content = "c.png", Styles = o.Styles };
        Assert.That(o with { Style = expected.Style }, Is.EqualTo(expected),
            "every other field keeps RunOptions' default");
        Assert.That(o.Iterations, Is.EqualTo(IOptimizer.DefaultMaxIterations));
    }

    [Test]
    public void GivenOptionsLandInTheirRecords()
    {
        var o = Parse("--content", "c.png", "--style", "a.png,b.png", "--lbfgs-history", "7", "--lbfgs-no-line-search",
            "--pooling", "l2", "--optimizer", "adam", "--init", "random", "--content-layers", "relu1_1, relu2_1",
            "--style-layer-weights", "1,0.5", "--tv-weight", "0.25", "--normalize-gradients", "--learning-rate", "3");
        Assert.That(o.Styles, Is.EqualTo(new[] { "a.png", "b.png" }));
        Assert.That(o.Lbfgs, Is.EqualTo(new LbfgsOptions { HistorySize = 7, LineSearch = LineSearchKind.None }));
        Assert.That((o.Optimizer, o.Init, o.LearningRate), Is.EqualTo((OptimizerKind.Adam, InitKind.Random, 3.0)));
        Assert.That(o.Style.Pooling, Is.EqualTo(Pooling.L2));
        Assert.That(o.Style.ContentLayers, Is.EqualTo(new[] { "relu1_1", "relu2_1" }));
        Assert.That(o.Style.StyleLayerWeights, Is.EqualTo(new[] { 1f, 0.5f }));
        Assert.That((o.Style.TvWeight, o.Style.NormalizeGradients), Is.EqualTo(((float?)0.25f, true)));
    }

    [Test]
    public void HelpShowsTheRecordsDefaults()
    {
        var (exit, output, _) = Run("--help");
        Assert.That(exit, Is.Zero);
        var lbfgs = new LbfgsOptions();
        Assert.That(output, Does.Contain($"L-BFGS curvature pairs kept. [default: {lbfgs.HistorySize}]")
            .And.Contain("(default: strong Wolfe line search)")
            .And.Contain("Adam's step (default 10 for caffe weights, 10/58 for torchvision weights; with " +
                         "--style-loss w2 crowsonkb's 5.1 and 5.1/58), or L-BFGS's step scale (default 1).")
            .And.Contain("w_c (default 5 for caffe weights, 5*58^2 for torchvision weights).")
            .And.Contain("w_s (default 100 for caffe weights, 100*58^4 for torchvision weights).")
            .And.Contain("(default 1e-3 for caffe weights, 1e-3*58^2 for torchvision weights).")
            .And.Contain("[default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1]")
            .And.Contain("--optimizer <adam|lbfgs>").And.Contain("[default: lbfgs]")
            .And.Contain("--pooling <avg|l2|max>").And.Contain("[default: max]")
            .And.Contain($"Optimizer iterations. [default: {IOptimizer.DefaultMaxIterations}]")
            .And.Contain($"Default: ${WeightsLocation.Variable} if set").And.Contain(WeightsLocation.PerUser));
    }

    [Test]
    public void DevicesListsTheCpuAccelerator()
    {
        var (exit, output, _) = Run("devices");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("CPU").And.Contain("host memory").And.Contain("'--device auto' picks:"));
    }

    [Test]
    public void VerifyOnTheCpuRunsEveryCheckAndPasses()
    {
        var (exit, output, error) = Run("verify", "--device", "cpu");
        Assert.That(error, Is.Empty);
        Assert.That(exit, Is.Zero, output);
        Assert.That(output, Does.Contain("conv2d.backward/per-element").And.Contain("gram.forward/per-element")
            .And.Contain("tv.backward"));
        var all = IlgpuStyle.Kernels.Verification.KernelChecks.All;
        // Everything runs on the CPU accelerator (the host-code variants included) but the tiled kernels.
        int tiled = all.Count(c => c.RequirementText?.Contains("256 threads", StringComparison.Ordinal) == true);
        int plain = all.Count - tiled;
        Assert.That(tiled, Is.GreaterThan(0));
        Assert.That(output.TrimEnd(), Does.EndWith($"{plain} passed, 0 failed, {tiled} skipped"),
            "the tiled kernels need 256-thread groups, which the CPU accelerator does not offer: " +
            "skipped, with the reason");
        Assert.That(output, Does.Contain($"skipped {tiled} checks (conv2d.forward/tiled")
            .And.Contain("needs 256 threads per group"));
    }

    [Test]
    public void VerifyCanBeNarrowedToOneKernel()
    {
        var (exit, output, _) = Run("verify", "--device", "cpu", "--kernel", "maxpool2d");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("maxpool2d.backward").And.Not.Contain("conv2d"));
        // 12 kernel checks, the same 12 of the host-code variant, and 2 larger ones of it.
        Assert.That(output.TrimEnd(), Does.EndWith("26 passed, 0 failed, 0 skipped"));
    }

    [Test]
    public void AMissingDeviceIsOneLineAndExitCodeTwo()
    {
        var (exit, output, error) = Run("verify", "--device", "99");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd(), Does.StartWith("error: There is no device 99").And.Not.Contain("\n")
            .And.Not.Contain("   at "));
    }

    [Test]
    public void AnUnknownKernelFilterIsOneLine()
    {
        var (exit, _, error) = Run("verify", "--device", "cpu", "--kernel", "softmax");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.TrimEnd(),
            Does.Contain("No check's kernel name starts with 'softmax'").And.Not.Contain("\n"));
    }

    [Test]
    public void PtxWritesTheKernelsPtxWithoutAGpu()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-style-ptx-{Guid.NewGuid():N}");
        try
        {
            var (exit, output, error) = Run("ptx", "--kernel", "Conv2d.Tiled", "--out", folder);
            Assert.That(error, Is.Empty);
            Assert.That(exit, Is.Zero);
            string file = Path.Combine(folder, "Conv2d.TiledKernel.ptx");
            Assert.That(output, Does.StartWith(file).And.Contain("1 kernel(s)"));
            Assert.That(Directory.GetFiles(folder), Has.Length.EqualTo(1));
            string ptx = File.ReadAllText(file);
            Assert.That(ptx, Does.Contain(".entry").And.Contain("bar.sync"));
            // The message says sm_90, the file's target line sm_80: the message explains the file's line.
            string target = System.Text.RegularExpressions.Regex.Match(ptx, @"^\.target (\w+)",
                System.Text.RegularExpressions.RegexOptions.Multiline).Groups[1].Value;
            Assert.That(output, Does.Contain("for sm_90").And.Contain($"the files say '.target {target}' because"));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An empty <c>--out</c> or <c>--kernel</c> (an unset shell variable) is one line, not a stack trace;
    /// so is an empty <c>verify --kernel</c>.</summary>
    [TestCase("ptx", "--out", "", "--out takes a folder, and '' is empty")]
    [TestCase("ptx", "--kernel", "", "--out", "ptx", "--kernel takes a kernel name, and '' is empty")]
    [TestCase("verify", "--device", "cpu", "--kernel", " ", "--kernel takes a kernel name, and ' ' is empty")]
    public void AnEmptyNameIsOneLine(params string[] argsThenMessage)
    {
        var (exit, _, error) = Run(argsThenMessage[..^1]);
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.StartWith("error: " + argsThenMessage[^1]).And.Not.Contain("   at "));
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void AnUnknownPtxKernelIsOneLineListingTheNamesAndWritesNothing()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-style-ptx-{Guid.NewGuid():N}");
        var (exit, output, error) = Run("ptx", "--kernel", "Conv2d.Softmax", "--out", folder);
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd(), Does.StartWith("error: No kernel 'Conv2d.Softmax': use one of")
            .And.Contain("Conv2d.TiledKernel").And.Contain("Reduction.PartialSumsKernel_AbsSummand")
            .And.Not.Contain("\n"));
        Assert.That(Directory.Exists(folder), Is.False);
    }

    [Test]
    public void Tf32WithoutTensorCoresIsOneLine()
    {
        var (exit, _, error) = Run("bench", "--device", "cpu", "--size", "16", "--tf32");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error.TrimEnd(),
            Does.StartWith("error: --tf32 needs an NVIDIA GPU of compute capability 8.0").And.Not.Contain("\n"));
    }
}
