using System.Runtime.InteropServices;
using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;
using StbImageWriteSharp;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// <c>ilgpu-style batch</c> (issue 26) on the CPU at 32 px: each image equals the same image run alone, to the byte
/// (an image that takes the image before's objective too); bad rows fail alone with one error line each; a rerun
/// skips what is finished and changes nothing; a full disk and a signal lose nothing already written.
/// </summary>
public sealed class BatchTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = NewFolder("batch");

    private string[] Shared => ["--weights", TinyWeights(), "--device", "cpu", "--size", "32", "--iterations", "2"];

    /// <summary>ContentPng mirrored: another photograph of the same size (the objective serves both).</summary>
    private string Mirrored()
    {
        string path = Path.Combine(_folder, "mirrored.png");
        var image = Decode(ContentPng);
        var pixels = new byte[image.Pixels.Length];
        for (int y = 0; y < image.Height; y++)
        {
            for (int x = 0; x < image.Width; x++)
            {
                int from = 3 * (y * image.Width + image.Width - 1 - x), to = 3 * (y * image.Width + x);
                for (int c = 0; c < 3; c++) pixels[to + c] = image.Pixels[from + c];
            }
        }
        using var stream = File.Create(path);
        new ImageWriter().WritePng(pixels, image.Width, image.Height, ColorComponents.RedGreenBlue, stream);
        return path;
    }

    private string Manifest(params string[] rows)
    {
        string path = Path.Combine(_folder, "manifest.csv");
        File.WriteAllLines(path, rows.Prepend("content,style,output,options"));
        return path;
    }

    private CliResult Batch(string manifest, params string[] more) =>
        Run(["batch", "--manifest", manifest, .. Shared, .. more]);

    [Test]
    public void EachImageEqualsItsRunAloneAndBadRowsFailAlone()
    {
        string broken = Path.Combine(_folder, "broken.png");
        File.WriteAllBytes(broken, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6, 7, 8]);
        string manifest = Manifest(
            $"{ContentPng},{StylePng},a.png,",
            $"{Mirrored()},{StylePng},b.png,",
            $"missing.png,{StylePng},c.png,",
            $"broken.png,{StylePng},d.png,",
            $"{PortraitJpeg},{StylePng},e.png,--seed 5 --init random --iterations 3",
            $"{ContentPng},{StylePng},f.png,--size banana",
            $"{ContentPng},{StylePng}",
            $"{ContentPng},{StylePng},g.png,--device cpu");

        var run = Batch(manifest);

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        var errors = run.Error.TrimEnd().Split('\n');
        Assert.That(errors, Has.Length.EqualTo(5), run.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(errors[0], Does.StartWith("error: row 4 (missing.png): ").And.Contain("does not exist"));
            Assert.That(errors[1], Does.StartWith("error: row 5 (broken.png): "));
            Assert.That(errors[2], Does.StartWith("error: row 7 (").And.Contain("banana"));
            Assert.That(errors[3], Does.StartWith("error: row 8: 2 fields where the header has 4"));
            Assert.That(errors[4], Does.StartWith("error: row 9 (").And.Contain("--device applies to the whole"));
            Assert.That(run.Output, Does.Contain("3 done, 0 skipped, 5 failed"));
            Assert.That(run.Output, Does.Contain("1 took the image before's objective"), "b reused a's objective");
        });
        var alone = new[]
        {
            ("a.png", new[] { "--content", ContentPng }),
            ("b.png", ["--content", Path.Combine(_folder, "mirrored.png")]),
            ("e.png", ["--content", PortraitJpeg, "--seed", "5", "--init", "random", "--iterations", "3"]),
        };
        foreach (var (name, args) in alone)
        {
            string single = Path.Combine(_folder, "alone-" + name);
            var shared = args.Contains("--iterations") ? Shared[..^2] : Shared; // the row's replaces the batch's
            var one = Run([.. shared, "--style", StylePng, "--output", single, .. args]);
            Assert.That(one.Exit, Is.Zero, one.ToString());
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, name)), Is.EqualTo(File.ReadAllBytes(single)), name);
        }

        // The rerun: the finished images are skipped and not touched, the bad rows fail again.
        var before = new[] { "a.png", "b.png", "e.png" }.ToDictionary(n => n,
            n => (File.ReadAllBytes(Path.Combine(_folder, n)), File.GetLastWriteTimeUtc(Path.Combine(_folder, n))));
        var again = Batch(manifest);
        Assert.That(again.Exit, Is.EqualTo(ExitCodes.Failed), again.ToString());
        Assert.That(again.Output, Does.Contain("0 done, 3 skipped, 5 failed"));
        Assert.That(again.Output, Does.Not.Contain("compiling"), "nothing to render: no device started");
        foreach (var (name, (bytes, time)) in before)
        {
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, name)), Is.EqualTo(bytes), name);
            Assert.That(File.GetLastWriteTimeUtc(Path.Combine(_folder, name)), Is.EqualTo(time), name);
        }
    }

    [Test]
    public void AnOutputThatIsAnInputOrAnotherRowsFailsThatRowAlone()
    {
        string content = Path.Combine(_folder, "photo.png");
        File.Copy(ContentPng, content);
        var original = File.ReadAllBytes(content);
        var run = Batch(Manifest(
            $"photo.png,{StylePng},a.png,",
            $"photo.png,{StylePng},photo.png,",
            $"photo.png,{StylePng},a.png,--seed 2"));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        Assert.That(run.Error, Does.Contain("row 3 (photo.png): its output").And.Contain("is an image of row 2"));
        Assert.That(run.Error, Does.Contain("row 4 (photo.png): its output").And.Contain("also the output of row 2"));
        Assert.That(File.ReadAllBytes(content), Is.EqualTo(original), "the input is untouched");
        Assert.That(File.Exists(Path.Combine(_folder, "a.png")));
    }

    /// <summary>The disk fills after the first image: the images after it fail with the system's reason, the
    /// first image and an earlier batch's output are untouched, no temporary file is left.</summary>
    [Test]
    public void AFullDiskFailsTheImagesItHitsAndLosesNothingWritten()
    {
        string earlier = Path.Combine(_folder, "earlier.png");
        File.Copy(StylePng, earlier);
        string manifest = Manifest(
            $"{ContentPng},{StylePng},earlier.png,",
            $"{ContentPng},{StylePng},a.png,",
            $"{Mirrored()},{StylePng},b.png,",
            $"{PortraitJpeg},{StylePng},c.png,");
        int writes = 0;
        void Full(FloatRgbImage image, string path, int bitDepth, byte[]? alpha)
        {
            if (++writes > 1) throw new IOException("No space left on device");
            ImageFiles.SaveAtomically(image, path, bitDepth, alpha);
        }
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = BatchRun.Execute(new BatchOptions(manifest, [], null, ".png", null, null, false, Shared), output,
            error, live: false, interruption: null, environment: _ => null, save: Full);

        Assert.That(exit, Is.EqualTo(ExitCodes.Failed), output.ToString() + error);
        var errors = error.ToString().TrimEnd().Split('\n');
        Assert.That(errors, Has.Length.EqualTo(2));
        Assert.That(errors, Has.All.Contain("No space left on device").And.Contain("nothing was written"));
        Assert.That(output.ToString(), Does.Contain("1 done, 1 skipped, 2 failed"));
        Assert.That(File.ReadAllBytes(earlier), Is.EqualTo(File.ReadAllBytes(StylePng)), "the earlier output");
        Assert.That(Decode(Path.Combine(_folder, "a.png")).Width, Is.EqualTo(32), "the image written before");
        Assert.That(Directory.GetFiles(_folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "manifest.csv", "mirrored.png", "earlier.png", "a.png" }), "no temporary file");
    }

    /// <summary>SIGTERM (a scheduler's kill) between images ends the batch before the next one, with its summary and
    /// the signal's exit code (one during an image drops that image: the Slurm test shows it).</summary>
    [Test]
    public void ASignalStopsTheBatchWithoutAPartialOutput()
    {
        using var interruption = Interruption.Listen();
        interruption.Request(PosixSignal.SIGTERM);
        string manifest = Manifest($"{ContentPng},{StylePng},a.png,", $"{PortraitJpeg},{StylePng},b.png,");
        using var output = new StringWriter();
        int exit = BatchRun.Execute(new BatchOptions(manifest, [], null, ".png", null, null, false, Shared), output,
            TextWriter.Null, live: false, interruption, environment: _ => null);
        Assert.That(exit, Is.EqualTo(Interruption.ExitTerminate), output.ToString());
        Assert.That(output.ToString(), Does.Contain("0 done, 0 skipped, 0 failed; stopped by SIGTERM, 2 not started"));
        Assert.That(File.Exists(Path.Combine(_folder, "a.png")), Is.False);
        Assert.That(File.Exists(Path.Combine(_folder, "b.png")), Is.False);
    }

    [Test]
    public void PatternsWriteEachImageUnderItsNameInTheOutputFolder()
    {
        string inputs = Directory.CreateDirectory(Path.Combine(_folder, "in")).FullName;
        File.Copy(ContentPng, Path.Combine(inputs, "one.png"));
        File.Copy(PortraitJpeg, Path.Combine(inputs, "two.jpg"));
        string outputs = Directory.CreateDirectory(Path.Combine(_folder, "out")).FullName;
        var run = Run(["batch", "--inputs", Path.Combine(inputs, "*.png"), Path.Combine(inputs, "*.jpg"),
            Path.Combine(inputs, "*.gif"), "--output-dir", outputs, "--style", StylePng, .. Shared]);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        Assert.That(run.Error.Trim(), Does.EndWith("*.gif: the pattern matches no file."));
        Assert.That(Directory.GetFiles(outputs).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "one.png", "two.png" }));
    }

    /// <summary>A new --output-dir is made (as the README's example expects); one whose parent is missing, or a file,
    /// is refused in one line before anything is rendered or made.</summary>
    [Test]
    public void ANewOutputFolderIsMadeAndAnImpossibleOneRefused()
    {
        string manifest = Manifest($"{ContentPng},{StylePng},a.png,");
        string fresh = Path.Combine(_folder, "results");
        var made = Batch(manifest, "--output-dir", fresh);
        Assert.That(made.Exit, Is.EqualTo(0), made.ToString());
        Assert.That(File.Exists(Path.Combine(fresh, "a.png")));

        string orphan = Path.Combine(_folder, "no-such-parent", "results");
        var refused = Batch(manifest, "--output-dir", orphan);
        Assert.That(refused.Exit, Is.EqualTo(ExitCodes.Usage), refused.ToString());
        Assert.That(refused.Error.Trim(), Does.StartWith("error: --output-dir").And.Contain("parent folder")
            .And.Not.Contain("\n"));
        Assert.That(Directory.Exists(Path.Combine(_folder, "no-such-parent")), Is.False);

        string file = Path.Combine(_folder, "a-file");
        File.WriteAllText(file, "kept");
        var notFolder = Batch(manifest, "--output-dir", file);
        Assert.That(notFolder.Exit, Is.EqualTo(ExitCodes.Usage), notFolder.ToString());
        Assert.That(notFolder.Error.Trim(), Does.Contain("is a file, not a folder"));
        Assert.That(File.ReadAllText(file), Is.EqualTo("kept"));
    }

    /// <summary>--tune is refused in one line on the batch's command line (nothing rendered) and in a row (that row
    /// fails, the others go on).</summary>
    [Test]
    public void TuningIsRefusedOnTheCommandLineAndInARow()
    {
        var whole = Batch(Manifest($"{ContentPng},{StylePng},a.png,"), "--tune", "always");
        Assert.That(whole.Exit, Is.EqualTo(ExitCodes.Usage), whole.ToString());
        Assert.That(whole.Error.Trim(), Does.StartWith("error: --tune is for the main job and bench"));
        Assert.That(File.Exists(Path.Combine(_folder, "a.png")), Is.False);

        var row = Batch(Manifest($"{ContentPng},{StylePng},a.png,--tune off", $"{PortraitJpeg},{StylePng},b.png,"));
        Assert.That(row.Exit, Is.EqualTo(ExitCodes.Failed), row.ToString());
        Assert.That(row.Error.Trim(), Does.StartWith($"error: row 2 ({ContentPng}): --tune is for the main job"));
        Assert.That(File.Exists(Path.Combine(_folder, "a.png")), Is.False);
        Assert.That(File.Exists(Path.Combine(_folder, "b.png")));
    }

    /// <summary>An image whose loss becomes NaN fails and writes nothing (the main job would write its last finite
    /// image, which the rerun would then skip as finished); the next image is rendered.</summary>
    [Test]
    public void AnImageWhoseLossBecomesNaNFailsAndWritesNothing()
    {
        var run = Batch(Manifest($"{ContentPng},{StylePng},a.png,--optimizer adam --learning-rate 1e30",
            $"{PortraitJpeg},{StylePng},b.png,"));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        Assert.That(run.Error.TrimEnd(), Is.EqualTo($"error: row 2 ({ContentPng}): the loss became infinite or NaN " +
            "at iteration 1; nothing was written. Try a smaller --learning-rate or smaller loss weights " +
            "(--style-weight, --content-weight)."));
        Assert.That(File.Exists(Path.Combine(_folder, "a.png")), Is.False);
        Assert.That(File.Exists(Path.Combine(_folder, "b.png")));
    }

    /// <summary>A batch decodes a style image once, and again when the file is replaced.</summary>
    [Test]
    public void AStyleImageIsDecodedOnceUntilItsFileChanges()
    {
        string painting = Path.Combine(_folder, "painting.png");
        File.Copy(StylePng, painting);
        var styles = new StyleImages();
        var first = styles.Load(painting);
        Assert.That(styles.Load(painting), Is.SameAs(first));
        File.Copy(ContentPng, painting, overwrite: true);
        var replaced = styles.Load(painting);
        Assert.That((replaced.Width, replaced.Height), Is.EqualTo((64, 48)), "the new file, decoded");
    }

    /// <summary>Two shards render the whole batch between them, each image once; an index past the count is refused
    /// with one line and renders nothing.</summary>
    [Test]
    public void ShardsSplitTheBatchAndAnIndexOutOfRangeIsRefused()
    {
        string manifest = Manifest($"{ContentPng},{StylePng},a.png,", $"{PortraitJpeg},{StylePng},b.png,",
            $"{Mirrored()},{StylePng},c.png,");
        var first = Batch(manifest, "--shard", "0/2");
        Assert.That(first.Exit, Is.Zero, first.ToString());
        Assert.That(first.Output, Does.Contain("shard 0 of 2 (--shard 0/2): 2 images"));
        Assert.That(new[] { "a.png", "b.png", "c.png" }.Select(n => File.Exists(Path.Combine(_folder, n))),
            Is.EqualTo(new[] { true, false, true }));
        Assert.That(Batch(manifest, "--shard", "1/2").Output, Does.Contain("1 done, 0 skipped, 0 failed"));

        var refused = Batch(manifest, "--shard", "2/2");
        Assert.That(SmallRuns.Refused(refused), Does.Contain("Shard index 2 is out of range for 2 shards"));
    }
}
