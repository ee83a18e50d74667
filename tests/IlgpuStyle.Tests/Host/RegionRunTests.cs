using IlgpuStyle.Host;
using StbImageWriteSharp;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Regions on the command line: a masked run end to end (its report gives each region's loss), a
/// white mask's run equal to the unmasked run, and every bad mask input refused in one line with
/// nothing written.
/// </summary>
public sealed class RegionRunTests
{
    private string _folder = "";
    private string _output = "";

    [SetUp]
    public void CreateFolder()
    {
        _folder = NewFolder("regions");
        _output = Path.Combine(_folder, "out.png");
    }

    /// <summary>A grey PNG of <paramref name="width"/> x <paramref name="height"/>: pixel (x, y) is
    /// value(x, y).</summary>
    private string Mask(string name, int width, int height, Func<int, int, byte> value)
    {
        var pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            pixels[y * width + x] = value(x, y);
        string path = Path.Combine(_folder, name);
        using var stream = File.Create(path);
        new ImageWriter().WritePng(pixels, width, height, ColorComponents.Grey, stream);
        return path;
    }

    // The content image is 64x48; the style image 40x40.
    private string Left => Mask("left.png", 64, 48, (x, _) => x < 30 ? (byte)255 : x < 34 ? (byte)128 : (byte)0);
    private string Right => Mask("right.png", 64, 48, (x, _) => x < 30 ? (byte)0 : x < 34 ? (byte)128 : (byte)255);

    /// <summary>A small run's arguments, then <paramref name="more"/> (which may name another --output).</summary>
    private string[] Args(params string[] more) =>
        SmallRuns.SmallRun(_output, ["--iterations", "2", "--print-every", "1", .. more]);

    [Test]
    public void TwoRegionsRunAndTheReportGivesEachRegionsLoss()
    {
        string report = Path.Combine(_folder, "run.json");
        var run = Run(Args("--style", $"{StylePng},{PortraitJpeg}", "--content-masks", $"{Left},{Right}",
            "--style-masks", $"{Mask("s1.png", 40, 40, (x, y) => x < y ? (byte)255 : (byte)0)}," +
                             Mask("s2.png", 15, 25, (_, _) => 255), // the portrait's shape (30x50) at half its size
            "--mask-mode", "inside", "--min-size", "24", "--report", report));
        Assert.That(run.Exit, Is.EqualTo(0), run.ToString());
        Assert.That(run.Output, Does.Contain("(regions "), "the printed lines give each region's loss");
        using var json = Report(report);
        foreach (var entry in json.RootElement.GetProperty("iterations").EnumerateArray())
        {
            var regions = entry.GetProperty("regions").EnumerateArray().Select(r => r.GetDouble()).ToList();
            Assert.That(regions, Has.Count.EqualTo(2));
            Assert.That(regions, Is.All.GreaterThanOrEqualTo(0));
            Assert.That(regions.Sum(), Is.EqualTo(entry.GetProperty("style").GetDouble()).Within(1e-4).Percent);
        }
        foreach (var scale in json.RootElement.GetProperty("scales").EnumerateArray())
        {
            var final = scale.GetProperty("final");
            Assert.That(final.GetProperty("regions").EnumerateArray().Sum(r => r.GetDouble()),
                Is.EqualTo(final.GetProperty("style").GetDouble()).Within(1e-4).Percent, "each scale's regions");
        }
        Assert.That(File.Exists(_output), Is.True);
    }

    /// <summary>A white mask drawn at half the content's size is the whole image: the run's losses equal the
    /// unmasked run's exactly.</summary>
    [Test]
    public void AWhiteMaskAtAnotherSizeGivesTheUnmaskedRun()
    {
        string plainReport = Path.Combine(_folder, "plain.json"), maskedReport = Path.Combine(_folder, "masked.json");
        var plain = Run(Args("--style", StylePng, "--report", plainReport));
        File.Delete(_output);
        var masked = Run(Args("--style", StylePng, "--content-mask", Mask("white.png", 32, 24, (_, _) => 255),
            "--report", maskedReport));
        Assert.That((plain.Exit, masked.Exit), Is.EqualTo((0, 0)), plain + masked.ToString());
        using var a = Report(plainReport);
        using var b = Report(maskedReport);
        Assert.That(Totals(b), Is.EqualTo(Totals(a)));
        Assert.That(a.RootElement.GetProperty("iterations")[0].TryGetProperty("regions", out _), Is.False,
            "no regions key without masks");
    }

    private string Refused(params string[] more) => RefusedRun(Args(more));

    private string RefusedRun(string[] args)
    {
        string error = SmallRuns.Refused(Run(args));
        Assert.That(File.Exists(_output), Is.False, "nothing written");
        return error;
    }

    [Test]
    public void AMaskOfTheWrongSize() =>
        Assert.That(Refused("--style", StylePng, "--content-mask", Mask("square.png", 48, 48, (_, _) => 255)),
            Does.Contain("'").And.Contain("square.png' is 48x48 but the content image").And.Contain("64x48"));

    [Test]
    public void AStyleMaskOfTheWrongSize() =>
        Assert.That(Refused("--style", StylePng, "--style-masks", Mask("wide.png", 64, 48, (_, _) => 255)),
            Does.Contain("wide.png' is 64x48 but the style image"));

    [Test]
    public void MasksThatLeavePixelsUncovered() =>
        Assert.That(Refused("--style", $"{StylePng},{StylePng}", "--content-masks",
                $"{Left},{Mask("narrow.png", 64, 48, (x, _) => x >= 40 ? (byte)255 : (byte)0)}"),
            Does.Contain("288 of the 64x48 mask pixels are black in every content mask (the first at x=34, y=0)"));

    /// <summary>
    /// A single mask is its style's strength over the picture, so black is allowed there: the README's fade from
    /// black at one edge runs, in either mask mode (two masks that leave a pixel black are still refused, above).
    /// </summary>
    [TestCase("simple")]
    [TestCase("inside")]
    public void ASingleMaskMayFadeToBlack(string mode)
    {
        string fade = Mask("fade.png", 64, 48, (x, _) => (byte)(4 * x));
        var run = Run(Args("--style", StylePng, "--content-mask", fade, "--mask-mode", mode));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(Decode(_output).Width, Is.EqualTo(32));
    }

    [Test]
    public void ABlackMask() =>
        Assert.That(Refused("--style", $"{StylePng},{StylePng}", "--content-masks",
            $"{Left},{Mask("black.png", 64, 48, (_, _) => 0)}"), Does.Contain("black.png' is black everywhere"));

    [Test]
    public void MoreMasksThanStyles() =>
        Assert.That(Refused("--style", StylePng, "--content-masks", $"{Left},{Right}"),
            Does.Contain("2 content masks for 1 style image"));

    [Test]
    public void FewerMasksThanStyles() =>
        Assert.That(Refused("--style", $"{StylePng},{StylePng}", "--content-mask", Left),
            Does.Contain("1 content mask for 2 style images"));

    [Test]
    public void StyleMasksOfTheWrongCount() =>
        Assert.That(Refused("--style", StylePng, "--style-masks", $"{Left},{Right}"),
            Does.Contain("--style-masks has 2 masks for 1 style image"));

    [Test]
    public void AnUnknownMode() =>
        Assert.That(Refused("--style", StylePng, "--content-mask", Left, "--mask-mode", "outside"),
            Does.Contain("outside").And.Contain("inside"));

    [Test]
    public void AMaskFileThatIsNotAnImage()
    {
        string text = Path.Combine(_folder, "mask.png");
        File.WriteAllText(text, "not an image");
        Assert.That(Refused("--style", StylePng, "--content-mask", text),
            Does.Contain("The content mask").And.Contain("could not be read as an image"));
    }

    [Test]
    public void BothContentMaskOptions() =>
        Assert.That(Refused("--style", StylePng, "--content-mask", Left, "--content-masks", Left),
            Does.Contain("not both"));

    [Test]
    public void StyleMasksWithSeveralStylesButNoContentMasks() =>
        Assert.That(Refused("--style", $"{StylePng},{StylePng}", "--style-masks",
            $"{Mask("a.png", 40, 40, (_, _) => 255)},{Mask("b.png", 40, 40, (_, _) => 255)}"),
            Does.Contain("needs --content-masks"));

    [Test]
    public void AModeWithoutMasks() =>
        Assert.That(Refused("--style", StylePng, "--mask-mode", "inside"), Does.Contain("--mask-mode needs"));

    [Test]
    public void BlendWeightsWithMasks() =>
        Assert.That(Refused("--style", $"{StylePng},{StylePng}", "--content-masks", $"{Left},{Right}",
            "--style-blend-weights", "1,2"), Does.Contain("--style-blend-weights cannot be used with masks"));

    [Test]
    public void MasksForATexture() =>
        Assert.That(RefusedRun(Args("--style", StylePng, "--content-mask", Left).Skip(2).ToArray()),
            Does.Contain("Masks need --content"));

    [Test]
    public void AnOutputThatIsAMask()
    {
        string mask = Left;
        byte[] before = File.ReadAllBytes(mask);
        var run = Run(Args("--style", StylePng, "--content-mask", mask, "--output", mask));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Does.Contain("is the content mask"));
        Assert.That(File.ReadAllBytes(mask), Is.EqualTo(before), "the mask is untouched");
    }
}
