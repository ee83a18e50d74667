using ILGPU.Runtime;
using IlgpuStyle.Kernels;

using IlgpuStyle.Host;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Tests.Network;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Issue 16's colour, texture and output sections end to end on the CPU accelerator with tiny weights: every
/// <c>--color-control</c> runs (coarse to fine too); luminance-only keeps the content's chroma and writes the
/// luminance it optimized; a texture without content runs and a seed gives one image; the content's alpha and
/// 16-bit samples reach the PNG exactly.
/// </summary>
public sealed class ColourTextureOutputTests
{
    /// <summary>A run's arguments: tiny weights on the CPU, 4 iterations; <paramref name="changes"/> (option,
    /// value pairs) add options or replace these.</summary>
    private static string[] Base(string output, params string[] changes)
    {
        var options = new List<(string Option, string Value)>
        {
            ("--style", StylePng), ("--weights", TinyWeights()), ("--device", "cpu"), ("--iterations", "4"),
            ("--print-every", "0"), ("--output", output),
        };
        for (int i = 0; i < changes.Length; i += 2)
        {
            options.RemoveAll(o => o.Option == changes[i]);
            options.Add((changes[i], changes[i + 1]));
        }
        return options.SelectMany(o => new[] { o.Option, o.Value }).ToArray();
    }

    [TestCase("none")]
    [TestCase("post-luminance")]
    [TestCase("luminance-only")]
    [TestCase("match-style", "pca")]
    [TestCase("match-style", "chol")]
    [TestCase("match-style", "sym")]
    [TestCase("match-style", "histogram")]
    public void EveryColourControlRuns(string control, string? match = null)
    {
        string folder = NewFolder("colour-" + control);
        string output = Path.Combine(folder, "out.png");
        string[] matchArgs = match is null ? [] : ["--color-match", match];
        var run = Run(Base(output, ["--content", ContentPng, "--size", "40", "--color-control", control,
            .. matchArgs]));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That((Decode(output).Width, Decode(output).Height), Is.EqualTo((40, 30)));
        if (control != "none") Assert.That(run.Output, Does.Contain($"colour: {control}"));
        if (match is not null) Assert.That(run.Output, Does.Contain($"Matching the style images' colours to the " +
                                                                    $"content's ({match})"));
    }

    [TestCase("lbfgs", "caffe")]
    [TestCase("adam", "torchvision")]
    public void LuminanceOnlyRunsCoarseToFineAndKeepsTheContentsChroma(string optimizer, string convention)
    {
        // 16-bit output, so that the chroma is compared to 1/257 of a level, not to 8-bit rounding.
        string folder = NewFolder("luminance-" + optimizer);
        string output = Path.Combine(folder, "out.png");
        var run = Run(Base(output, "--content", ContentPng, "--weights", TinyWeights(convention),
            "--color-control", "luminance-only", "--optimizer", optimizer, "--size", "64", "--min-size", "32",
            "--bit-depth", "16", "--save-every", "2"));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "out.png", "out_32_2.png", "out_32_4.png", "out_45_2.png", "out_45_4.png",
                "out_64_2.png" }));

        var png = PngSamples.Read(output);
        var content = Decode(ContentPng); // 64x48 at --size 64: not resampled
        Assert.That((png.Width, png.Height, png.BitDepth, png.Channels), Is.EqualTo((64, 48, 16, 3)));
        int compared = 0;
        double luminanceChange = 0;
        for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++)
        {
            double[] rgb = [png.At(x, y, 0) / 257.0, png.At(x, y, 1) / 257.0, png.At(x, y, 2) / 257.0];
            if (rgb.Any(v => v <= 0 || v >= 255)) continue; // clamped: its chroma could not be kept
            int i = (y * 64 + x) * 3;
            var (ly, li, lq) = Yiq.Forward(rgb[0], rgb[1], rgb[2]);
            var (cy, ci, cq) = Yiq.Forward(content.Pixels[i], content.Pixels[i + 1], content.Pixels[i + 2]);
            Assert.That(li, Is.EqualTo(ci).Within(2.0 / 257), $"I at ({x}, {y})");
            Assert.That(lq, Is.EqualTo(cq).Within(2.0 / 257), $"Q at ({x}, {y})");
            luminanceChange += Math.Abs(ly - cy);
            compared++;
        }
        Assert.That(compared, Is.GreaterThan(48 * 64 / 2), "most pixels are not clamped");
        Assert.That(luminanceChange / compared, Is.GreaterThan(0.5), "the luminance did change");
    }

    [Test]
    public void LuminanceOnlyWritesTheLuminanceItOptimized()
    {
        using var cpu = OwnAccelerator.ProjectCpu();
        var weights = TinyVgg.Create();
        var preprocessing = Preprocessing.Caffe;
        var content = Decode(ContentPng);
        var style = Decode(StylePng);
        var options = new RunOptions
        {
            Content = ContentPng, Styles = [StylePng], Size = 64, ColorControl = ColorControl.LuminanceOnly,
            Iterations = 3,
        };
        var plan = RunPlanner.Plan(options, ScaleSchedule.Of(options), weights, (content.Width, content.Height),
            [(style.Width, style.Height)], cpu.Kernels.Choice, new MemoryLimit(long.MaxValue, "the test"));
        var images = new RunImages(content, null, (content.Width, content.Height), [style]);
        using var scale = new ScaleRun(cpu.Kernels, weights, images, options, plan.Scales[0], null);
        Assert.That(scale.VariableShape, Is.EqualTo(new ChwShape(1, 48, 64)), "one channel is optimized");
        scale.Start();
        for (int i = 0; i < 3; i++) scale.Step();
        var y = scale.X.GetAsArray1D();
        var optimized = preprocessing.LuminanceFromNetwork(y);
        var image = scale.Render();
        int compared = 0;
        for (int p = 0; p < y.Length; p++)
        {
            var rgb = image.Pixels.AsSpan(p * 3, 3).ToArray();
            if (rgb.Any(v => v <= 0 || v >= 255)) continue;
            Assert.That(Yiq.Luminance(rgb[0], rgb[1], rgb[2]), Is.EqualTo(optimized[p]).Within(1e-3), $"pixel {p}");
            compared++;
        }
        Assert.That(compared, Is.GreaterThan(y.Length / 2));
        Assert.That(optimized.Zip(Yiq.Luminance(content)).Max(t => Math.Abs(t.First - t.Second)),
            Is.GreaterThan(1), "the optimizer moved the luminance");
    }

    [Test]
    public void MatchStyleGivesTheStyleTheContentsColours()
    {
        // What the run does before the targets, on the test's images: the matched style's mean is the content's.
        var content = Decode(ContentPng);
        var matched = ColorMatch.Match(Decode(StylePng), content, ColorMatchMethod.Pca);
        var (mean, _) = ColorMatch.Moments(ColorMatch.ToDoubles(matched.Pixels));
        var (target, _) = ColorMatch.Moments(ColorMatch.ToDoubles(content.Pixels));
        for (int c = 0; c < 3; c++) Assert.That(mean[c], Is.EqualTo(target[c]).Within(3), "up to clamping");
    }

    [Test]
    public void ATextureWithoutContentRunsAndASeedGivesOneImage()
    {
        string folder = NewFolder("texture");
        string report = Path.Combine(folder, "run.json");
        CliResult Texture(string name, string seed, params string[] extra) =>
            Run(Base(Path.Combine(folder, name), ["--seed", seed, "--optimizer", "adam", .. extra]));

        var first = Texture("a.png", "5", "--texture-size", "40x24", "--report", report, "--print-every", "2");
        Assert.That(first.Exit, Is.Zero, first.ToString());
        Assert.That(first.Output, Does.Contain("Synthesising a 40x24 texture of " + StylePng));
        var again = Texture("b.png", "5", "--texture-size", "40x24");
        var other = Texture("c.png", "6", "--texture-size", "40x24");
        Assert.That(again.Exit + other.Exit, Is.Zero);
        byte[] a = File.ReadAllBytes(Path.Combine(folder, "a.png"));
        Assert.That(File.ReadAllBytes(Path.Combine(folder, "b.png")), Is.EqualTo(a), "the same seed, the same image");
        Assert.That(File.ReadAllBytes(Path.Combine(folder, "c.png")), Is.Not.EqualTo(a), "another seed, another");
        Assert.That((Decode(Path.Combine(folder, "a.png")).Width, Decode(Path.Combine(folder, "a.png")).Height),
            Is.EqualTo((40, 24)));

        using var json = Report(report);
        var root = json.RootElement;
        Assert.That(root.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 24, 40 }));
        var entries = root.GetProperty("iterations").EnumerateArray().ToList();
        Assert.That(entries.Select(e => e.GetProperty("content").GetDouble()), Is.All.Zero, "no content loss");
        Assert.That(entries[^1].GetProperty("style").GetDouble(),
            Is.LessThan(entries[0].GetProperty("style").GetDouble()), "the style loss falls");

        // --size alone makes a square texture; coarse to fine works without content too.
        var square = Run(Base(Path.Combine(folder, "square.png"), "--size", "32", "--min-size", "24"));
        Assert.That(square.Exit, Is.Zero, square.ToString());
        Assert.That(Decode(Path.Combine(folder, "square.png")).Width, Is.EqualTo(32));
        Assert.That(Decode(Path.Combine(folder, "square.png")).Height, Is.EqualTo(32));
    }

    [TestCase(40, 8)]
    [TestCase(20, 8)]
    [TestCase(40, 16)]
    public void TheContentsAlphaReachesThePng(int size, int depth)
    {
        string folder = NewFolder("alpha");
        string output = Path.Combine(folder, "out.png");
        var run = Run(Base(output, "--content", RgbaPng, "--size", $"{size}", "--bit-depth", $"{depth}"));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        var (image, alpha) = ImageFiles.LoadWithAlpha(RgbaPng, "content image");
        var expected = size == image.Width
            ? alpha!
            : ImageFiles.ResizeAlpha(alpha!, image.Width, image.Height, size, size * image.Height / image.Width);
        var png = PngSamples.Read(output);
        Assert.That((png.Channels, png.BitDepth), Is.EqualTo((4, depth)));
        var written = Enumerable.Range(0, png.Width * png.Height)
            .Select(p => png.Samples[p * 4 + 3] / (depth == 16 ? 257 : 1)).ToArray();
        Assert.That(written, Is.EqualTo(expected.Select(a => (int)a).ToArray()), "alpha, exactly");
        if (depth == 16)
        {
            Assert.That(Enumerable.Range(0, png.Width * png.Height).Select(p => png.Samples[p * 4 + 3] % 257),
                Is.All.Zero, "alpha * 257");
        }
        if (size == image.Width)
        {
            Assert.That(written, Is.EqualTo(alpha!.Select(a => (int)a).ToArray()),
                "at the content's size, the input's");
        }
    }

    [Test]
    public void AJpegOutputOfAContentWithAlphaSaysTheAlphaIsDropped()
    {
        string output = Path.Combine(NewFolder("alpha-jpg"), "out.jpg");
        var run = Run(Base(output, "--content", RgbaPng, "--size", "32"));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("note: the content image has an alpha channel, which a JPEG cannot " +
                                             $"hold: {output} will be opaque (write a .png to keep it)."));
        Assert.That(File.Exists(output));
    }

    [Test]
    public void SixteenBitOutputIsTheUnroundedResultAndSnapshotsFollow()
    {
        string folder = NewFolder("sixteen");
        string eight = Path.Combine(folder, "eight.png");
        string sixteen = Path.Combine(folder, "sixteen.png");
        Assert.That(Run(Base(eight, "--content", ContentPng, "--size", "48")).Exit, Is.Zero);
        var run = Run(Base(sixteen, "--content", ContentPng, "--size", "48", "--bit-depth", "16", "--save-every",
            "2"));
        Assert.That(run.Exit, Is.Zero, run.ToString());

        var deep = PngSamples.Read(sixteen);
        var shallow = PngSamples.Read(eight);
        Assert.That((deep.BitDepth, deep.Channels, shallow.BitDepth), Is.EqualTo((16, 3, 8)));
        Assert.That(PngSamples.Read(Path.Combine(folder, "sixteen_2.png")).BitDepth, Is.EqualTo(16), "snapshot");
        // The same run: rounding the 16-bit samples to 8 bits gives the 8-bit output (a value within 1/514 of a
        // half level may round the other way), and the 16-bit samples are not all multiples of 257.
        int differ = 0, between = 0;
        for (int i = 0; i < deep.Samples.Length; i++)
        {
            int rounded = (int)Math.Round(deep.Samples[i] / 257.0);
            Assert.That(Math.Abs(rounded - shallow.Samples[i]), Is.LessThanOrEqualTo(1));
            if (rounded != shallow.Samples[i]) differ++;
            if (deep.Samples[i] % 257 != 0) between++;
        }
        Assert.That(differ, Is.LessThanOrEqualTo(deep.Samples.Length / 100));
        Assert.That(between, Is.GreaterThan(deep.Samples.Length / 2), "16-bit samples between the 8-bit levels");
    }

    [Test]
    public void TheSixteenBitEncoderRoundTripsExactly()
    {
        var random = new Random(3);
        foreach (bool withAlpha in new[] { false, true })
        {
            var pixels = Enumerable.Range(0, 13 * 7 * 3).Select(_ => (float)(random.NextDouble() * 255)).ToArray();
            pixels[0] = 0;
            pixels[1] = 255;
            pixels[2] = 300; // clamped
            var alpha = withAlpha ? Enumerable.Range(0, 13 * 7).Select(i => (byte)(i * 3)).ToArray() : null;
            string path = Path.Combine(NewFolder("png16"), "x.png");
            using (var stream = File.Create(path)) PngWriter.Write16(stream, new FloatRgbImage(13, 7, pixels), alpha);
            var png = PngSamples.Read(path);
            Assert.That((png.Width, png.Height, png.BitDepth, png.Channels),
                Is.EqualTo((13, 7, 16, withAlpha ? 4 : 3)));
            for (int p = 0; p < 13 * 7; p++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int expected = (int)Math.Round(Math.Clamp(pixels[p * 3 + c], 0, 255) * 65535.0 / 255.0);
                    Assert.That(png.Samples[p * png.Channels + c], Is.EqualTo(expected), $"pixel {p}, channel {c}");
                }
                if (withAlpha) Assert.That(png.Samples[p * 4 + 3], Is.EqualTo(alpha![p] * 257));
            }
            // And StbImageSharp, an independent decoder, reads it (as 8 bits).
            var decoded = Decode(path);
            Assert.That(decoded.Pixels[1], Is.EqualTo(255));
            Assert.That(decoded.Pixels[3], Is.EqualTo((byte)Math.Round(pixels[3])).Within(1));
        }
    }
}
