using System.Diagnostics;
using System.Globalization;
using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Numbers mean the same under every locale, every numeric option is checked with a message naming
/// it, outputs never replace an input or anything but a regular file, and a run that goes wrong
/// (a NaN loss, Ctrl-C, SIGTERM) keeps its image.
/// </summary>
[NonParallelizable] // sets the current culture
public sealed class ReliabilityTests
{
    private CultureInfo _culture = CultureInfo.InvariantCulture;
    private string _folder = "";

    [SetUp]
    public void German()
    {
        _culture = CultureInfo.CurrentCulture;
        // German: ',' is the decimal separator and '.' groups thousands ("1.5" would read as 15).
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        _folder = NewFolder("reliability");
    }

    [TearDown]
    public void RestoreCulture() => CultureInfo.CurrentCulture = _culture;

    private static (RunOptions? Options, string? Error) Parse(params string[] args) =>
        OptionParsing.TryParse([.. OptionParsing.Minimal, .. args]);

    [Test]
    public void NumbersReadTheSameUnderAGermanLocale()
    {
        var (o, error) = Parse("--style-weight", "1.5", "--style-scale", "0.5", "--learning-rate", "2.5e-1",
            "--content-weight", "1e3", "--style-layer-weights", "1,0.5,0.25,1,1", "--style-blend-weights", "0.5");
        Assert.That(error, Is.Null);
        Assert.That(o!.Style.StyleWeight, Is.EqualTo(1.5f));
        Assert.That(o.StyleScale, Is.EqualTo(0.5));
        Assert.That(o.LearningRate, Is.EqualTo(0.25));
        Assert.That(o.Style.ContentWeight, Is.EqualTo(1000f));
        Assert.That(o.Style.StyleLayerWeights, Is.EqualTo(new[] { 1f, 0.5f, 0.25f, 1f, 1f }));
        (o, error) = Parse("--min-size", "64", "--scale-ratio", "1.5", "--average-decay", "0.99");
        Assert.That(error, Is.Null);
        Assert.That((o!.ScaleRatio, o.AverageDecay), Is.EqualTo((1.5, 0.99)));
    }

    /// <summary>Every numeric option, with values that are not one number in its range.</summary>
    [TestCase("--size", "0")]
    [TestCase("--size", "1.5")]
    [TestCase("--size", "abc")]
    [TestCase("--size", "99999999999")]
    [TestCase("--style-scale", "0")]
    [TestCase("--style-scale", "0,5")]
    [TestCase("--style-scale", "-1")]
    [TestCase("--iterations", "-1")]
    [TestCase("--iterations", "1e3")]
    [TestCase("--learning-rate", "0")]
    [TestCase("--learning-rate", "NaN")]
    [TestCase("--lbfgs-history", "0")]
    [TestCase("--content-weight", "-1")]
    [TestCase("--style-weight", "1,5")]
    [TestCase("--style-weight", "Infinity")]
    [TestCase("--style-weight", "1e39")]
    [TestCase("--tv-weight", "nan")]
    [TestCase("--seed", "x")]
    [TestCase("--print-every", "-5")]
    [TestCase("--save-every", "2.5")]
    [TestCase("--style-layer-weights", "1,x,1,1,1")]
    [TestCase("--style-layer-weights", "1,-1,1,1,1")]
    [TestCase("--style-layer-weights", "0,0,0,0,0")]
    [TestCase("--style-layer-weights", "1,inf,1,1,1")]
    [TestCase("--style-blend-weights", "0")]
    [TestCase("--style-blend-weights", "1e40")]
    [TestCase("--scale-ratio", "1,5")]
    [TestCase("--average-decay", "0,99")]
    public void EveryNumericOptionIsCheckedAndNamed(string option, string value)
    {
        var (o, error) = Parse(option, value);
        Assert.That(o, Is.Null, $"{option} {value} was accepted");
        Assert.That(error, Does.StartWith(option + " "), "the message names the option first");
        Assert.That(value.Split(',').Append(value).Any(v => error!.Contains($"'{v}'", StringComparison.Ordinal)),
            Is.True, $"the message quotes the value: {error}");
        Assert.That(error, Does.Not.Contain("System.").And.Not.Contain("Int32").And.Not.Contain("Double"));
    }

    [Test]
    public void TheStyleScaleMessageNamesTheStyleScale()
    {
        var (_, error) = Parse("--style-scale", "0");
        Assert.That(error, Is.EqualTo("--style-scale takes a positive number (like 1.5 or 1e-3); '0' is not one."));
    }

    /// <summary>A repeated --style takes each value as one file, so a name may contain a comma.</summary>
    [Test]
    public void RepeatedStylesKeepCommasInTheirNames()
    {
        var (o, _) = OptionParsing.TryParse("--content", "c.png", "--style", "Composition, 1921.jpg", "--style",
            "b.png");
        Assert.That(o!.Styles, Is.EqualTo(new[] { "Composition, 1921.jpg", "b.png" }));
        (o, _) = OptionParsing.TryParse("--content", "c.png", "--style", "a.png, b.png");
        Assert.That(o!.Styles, Is.EqualTo(new[] { "a.png", "b.png" }), "one value is still a comma-separated list");
    }

    /// <summary>A valid run's arguments (two iterations), some replaced.</summary>
    private static string[] Args(string output, params string[] change) =>
        SmallRuns.SmallRun(output, ["--iterations", "2", .. change]);

    private static void AssertRefused(CliResult run, string message)
    {
        Assert.That(SmallRuns.Refused(run), Does.StartWith("error: " + message));
        Assert.That(run.Output, Does.Not.Contain("Styling"), "refused before the run");
    }

    /// <summary>An input given as an output, or two outputs that are one file: refused before the run.</summary>
    [Test]
    public void InputsAreNeverOverwritten()
    {
        string content = Path.Combine(_folder, "photo.png");
        File.Copy(ContentPng, content);
        byte[] before = File.ReadAllBytes(content);
        string link = Path.Combine(_folder, "link-to-photo.png");
        File.CreateSymbolicLink(link, content);
        string output = Path.Combine(_folder, "out.png");

        AssertRefused(Run(Args(content, "--content", content)),
            $"The output image '{content}' is the content image: the run would overwrite one of its inputs.");
        AssertRefused(Run(Args(output, "--content", content, "--report", content)),
            $"The report '{content}' is the content image");
        AssertRefused(Run(Args(content, "--content", link)), $"The output image '{content}' is the content image");
        AssertRefused(Run(Args(StylePng)), $"The output image '{StylePng}' is the style image");
        AssertRefused(Run(Args(output, "--report", output)),
            $"The report and the output image are the same file, '{output}'");
        string weights = Path.Combine(_folder, "w.png");
        File.Copy(TinyWeights(), weights);
        AssertRefused(Run(Args(weights, "--weights", weights)), $"The output image '{weights}' is the weights file");
        AssertRefused(Run(Args(output, "--init", "image", "--init-image", output)), "The output image");
        Assert.That(File.ReadAllBytes(content), Is.EqualTo(before));
    }

    [Test]
    public void OnlyRegularFilesAreReplaced()
    {
        string output = Path.Combine(_folder, "out.png");
        AssertRefused(Run(Args(_folder)), $"The output image '{_folder}' is an existing folder");
        string folderPng = Directory.CreateDirectory(Path.Combine(_folder, "dir.png")).FullName;
        AssertRefused(Run(Args(folderPng)), $"The output image '{folderPng}' is an existing folder");
        AssertRefused(Run(Args(output, "--report", _folder)), $"The report '{_folder}' is an existing folder");
        string file = Path.Combine(_folder, "file");
        File.WriteAllText(file, "x");
        AssertRefused(Run(Args(Path.Combine(file, "out.png"))), $"The folder of the output image, '{file}', is a file");
        string link = Path.Combine(_folder, "link.png");
        File.CreateSymbolicLink(link, Path.Combine(_folder, "elsewhere.png"));
        AssertRefused(Run(Args(link)), $"The output image '{link}' is a symbolic link to");
        if (!OperatingSystem.IsWindows())
        {
            AssertRefused(Run(Args(output, "--report", "/dev/null")),
                "The report '/dev/null' exists and is not a regular file");
        }
        Assert.That(Directory.GetFiles(_folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "file", "link.png" }));
    }

    /// <summary>
    /// A loss that overflows (Adam's first step of 1e30 per pixel) is not a success: the run stops,
    /// keeps the last finite image (here the initial one), says so in one line, and exits 1; the
    /// report records it.
    /// </summary>
    [TestCase("adam")]
    [TestCase("lbfgs")]
    public void ANonFiniteLossKeepsTheLastFiniteImageAndFails(string optimizer)
    {
        string output = Path.Combine(_folder, "out.png"), report = Path.Combine(_folder, "run.json");
        string[] extra = optimizer == "adam" ? [] : ["--lbfgs-no-line-search", ""];
        var args = Args(output, "--optimizer", optimizer, "--learning-rate", "1e30", "--iterations", "5",
            "--report", report).Concat(extra.Where(e => e.Length > 0)).ToArray();

        var run = Run(args);

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        Assert.That(run.Error.TrimEnd(), Does.StartWith("error: the loss became infinite or NaN at iteration 1; " +
            $"wrote the last image with a finite loss (iteration 0) to {output}").And.Not.Contain('\n'));
        Assert.That(run.Error, Does.Contain("--learning-rate"));
        var image = Decode(output);
        var content = Decode(ContentPng);
        Assert.That((image.Width, image.Height), Is.EqualTo((32, 24)));
        Assert.That(image.Pixels.Select(p => (int)p).Average(), Is.EqualTo(content.Pixels.Select(p => (int)p).Average())
            .Within(8), "the initial (content) image, not a NaN image");
        using var json = HostFiles.Report(report);
        Assert.That(json.RootElement.GetProperty("stop").GetString(), Is.EqualTo("non-finite loss"));
        // Iteration 1 is not shown or recorded with iteration 0's losses, the ones the optimizer holds after
        // going back: its line says what happened, and the report's last row is iteration 0, the image written.
        Assert.That(run.Output, Does.Contain("iteration 1/5: the loss became infinite or NaN; the image goes back " +
                                             "to iteration 0").And.Not.Contain("iteration 1/5: total"));
        Assert.That(json.RootElement.GetProperty("iterations").EnumerateArray()
            .Select(row => row.GetProperty("iteration").GetInt32()), Is.EqualTo(new[] { 0 }));
    }

    /// <summary>
    /// A starting image whose loss is already infinite (a TV weight near float's largest value) is no result:
    /// its line shows the infinite losses as they are, nothing is written (no image, no report, whose JSON could
    /// not hold them anyway), and one line says so, exit code 1.
    /// </summary>
    [TestCase("adam")]
    [TestCase("lbfgs")]
    public void AnInfiniteLossAtTheStartWritesNothingAndFails(string optimizer)
    {
        string output = Path.Combine(_folder, "out.png"), report = Path.Combine(_folder, "run.json");
        var run = Run(Args(output, "--optimizer", optimizer, "--tv-weight", "3e38", "--iterations", "3",
            "--report", report));

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        Assert.That(run.Error.TrimEnd(), Is.EqualTo("error: the loss of the starting image (iteration 0) is " +
            "infinite or NaN; nothing was written. Try smaller loss weights (--style-weight, --content-weight, " +
            "--tv-weight)."));
        Assert.That(run.Output, Does.Match(@"iteration 0/3: total Infinity, .*tv Infinity"));
        Assert.That(Directory.GetFileSystemEntries(_folder), Is.Empty, "nothing written");
    }

    /// <summary>"Too small" names the image, the minimum (16 pixels to reach relu5_1) and the least value of each
    /// option that makes it large enough.</summary>
    [Test]
    public void TooSmallSaysWhichImageAndTheMinimum()
    {
        string output = Path.Combine(_folder, "out.png");
        AssertRefused(Run(Args(output, "--size", "12")), "The content image becomes 12x9 pixels, too small to " +
                                                           "reach relu5_1: its shorter side must be at least 16 " +
                                                           "pixels. Use at least --size 21.");
        AssertRefused(Run(Args(output, "--style-scale", "0.25")), $"The style image '{StylePng}' becomes 8x8 " +
                                                                   "pixels, too small to reach relu5_1: its shorter " +
                                                                   "side must be at least 16 pixels. Use at least " +
                                                                   "--style-scale 0.5 or --size 62.");
    }

    [Test]
    public void TheSetUpStepsSayWhatTheyDo()
    {
        string output = Path.Combine(_folder, "out.png");
        var run = Run(Args(output));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("Loading the weights").And.Contain("Starting CPU")
            .And.Contain("Computing the style targets"));
    }

    /// <summary>
    /// Ctrl-C or SIGTERM during the optimization (the real console, in its own process): the image so
    /// far and the report are saved, nothing temporary is left, and the exit code is the shell's.
    /// </summary>
    [TestCase("INT", 130, "Ctrl-C")]
    [TestCase("TERM", 143, "SIGTERM")]
    public void ASignalSavesTheImageAndExitsWithTheShellsCode(string signal, int code, string name)
    {
        string output = Path.Combine(_folder, "out.png"), report = Path.Combine(_folder, "run.json");
        var (exit, all) = Interrupt(signal, "iteration 3/",
            Args(output, "--iterations", "1000000", "--print-every", "1", "--report", report));

        Assert.That(exit, Is.EqualTo(code), all);
        Assert.That(all,
            Does.Match($@"{name}: stopped at iteration \d+; saved {Escape(output)} \(32x24\) and {Escape(report)}\."));
        Assert.That(Decode(output).Width, Is.EqualTo(32));
        using var json = HostFiles.Report(report);
        Assert.That(json.RootElement.GetProperty("stop").GetString(), Is.EqualTo("interrupted"));
        Assert.That(Directory.GetFiles(_folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "run.json" }),
            "no temporary file left");
    }

    /// <summary>
    /// Ctrl-C in the first scale of a coarse-to-fine run saves that scale's image at its size, as
    /// crowsonkb/style-transfer-pytorch does (enlarged, it would pass for the final result), and the line says
    /// so; the report's <c>size</c> is the size written, its <c>scales</c> the scale that ran.
    /// </summary>
    [Test]
    public void ACoarseToFineRunInterruptedSavesTheCurrentScaleAtItsSizeAndSaysSo()
    {
        string output = Path.Combine(_folder, "out.png"), report = Path.Combine(_folder, "run.json");
        var (exit, all) = Interrupt("INT", "scale 1/2 24x18, iteration 3/",
            Args(output, "--schedule", "24:1000000,32:3", "--print-every", "1", "--report", report));

        Assert.That(exit, Is.EqualTo(Interruption.ExitInterrupt), all);
        Assert.That(all, Does.Match(@"Ctrl-C: stopped at scale 1/2 24x18, iteration \d+; saved " +
                                    $@"{Escape(output)} \(24x18, that scale's size, not the final 32x24\) and " +
                                    $@"{Escape(report)}\."));
        var image = Decode(output);
        Assert.That((image.Width, image.Height), Is.EqualTo((24, 18)));
        using var json = HostFiles.Report(report);
        Assert.That(json.RootElement.GetProperty("stop").GetString(), Is.EqualTo("interrupted"));
        Assert.That(json.RootElement.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()),
            Is.EqualTo(new[] { 18, 24 }));
        Assert.That(json.RootElement.GetProperty("scales").GetArrayLength(), Is.EqualTo(1));
        Assert.That(Directory.GetFiles(_folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "run.json" }), "no snapshot, no temporary file");
    }

    /// <summary>Runs the console with <paramref name="args"/> in its own process, sends it SIG<paramref
    /// name="signal"/> once a line starts with <paramref name="after"/>, and returns its exit code and every
    /// line it printed.</summary>
    private static (int Exit, string Lines) Interrupt(string signal, string after, string[] args)
    {
        Assume.That(OperatingSystem.IsWindows(), Is.False, "POSIX signals");
        // A shell starts background jobs with SIGINT ignored, and a process keeps a signal ignored on
        // entry (as nohup relies on): where the test runner was started that way, GNU env gives the
        // console SIGINT's default disposition back, as a terminal's Ctrl-C would find it.
        bool resetSignal = DefaultSignalEnvWorks();
        var start = new ProcessStartInfo(resetSignal ? "env" : "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (resetSignal)
        {
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ilgpu-style.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var lines = new List<string>();
        var reached = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines) lines.Add(e.Data);
            if (e.Data.StartsWith(after, StringComparison.Ordinal)) reached.TrySetResult();
        };
        process.BeginOutputReadLine();
        string errors = "";
        var errorTask = process.StandardError.ReadToEndAsync().ContinueWith(t => errors = t.Result);
        Assert.That(reached.Task.Wait(TimeSpan.FromSeconds(120)), Is.True, $"the run reached '{after}'");

        Process.Start("kill", ["-" + signal, process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        Assert.That(process.WaitForExit(TimeSpan.FromSeconds(60)), Is.True, "the run stopped");
        process.WaitForExit();
        errorTask.Wait();
        lock (lines) return (process.ExitCode, string.Join("\n", lines) + errors);
    }

    private static string Escape(string text) => System.Text.RegularExpressions.Regex.Escape(text);

    /// <summary>Whether <c>env --default-signal=INT</c> (GNU coreutils 8.31 and later) runs here.</summary>
    private static bool DefaultSignalEnvWorks()
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"])
            {
                RedirectStandardError = true, UseShellExecute = false,
            })!;
            probe.WaitForExit();
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
