using IlgpuStyle.Host;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Every bad input of the main job: one line on the error writer starting with <c>error:</c>, exit
/// code 2, no stack trace, and nothing written at the output path.
/// </summary>
public sealed class StyleRunErrorTests
{
    private string _folder = "";
    private string _output = "";

    [SetUp]
    public void CreateFolder()
    {
        _folder = NewFolder("bad");
        _output = Path.Combine(_folder, "out.png");
    }

    /// <summary>
    /// A valid run's arguments with some replaced: a value of null drops the option, "" makes it a bare flag.
    /// </summary>
    private string[] Args(params (string Option, string? Value)[] changes) => SmallRuns.SmallRun(_output, changes);

    private string File(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Runs, and checks the common contract of a refused run; returns the error line.</summary>
    private string Refused(string[] args, string outputPath)
    {
        string error = SmallRuns.Refused(Run(args));
        Assert.That(System.IO.File.Exists(outputPath), Is.False, "nothing written at the output path");
        Assert.That(Directory.GetFiles(_folder)
                .Where(f => f.EndsWith(".tmp", StringComparison.Ordinal) || Path.GetFileName(f).StartsWith('.')),
            Is.Empty, "no temporary files left");
        return error;
    }

    private string Refused(params (string Option, string? Value)[] changes) => Refused(Args(changes), _output);

    [Test]
    public void AMissingContentImage() =>
        Assert.That(Refused(("--content", Path.Combine(_folder, "nope.jpg"))),
            Does.Contain("The content image").And.Contain("nope.jpg' does not exist"));

    [Test]
    public void AMissingStyleImage() =>
        Assert.That(Refused(("--style", Path.Combine(_folder, "painting.png"))),
            Does.Contain("The style image").And.Contain("painting.png' does not exist"));

    [Test]
    public void ATextFileNamedJpg() =>
        Assert.That(Refused(("--content", File("photo.jpg", "this is not a JPEG\n"u8.ToArray()))),
            Does.Contain("photo.jpg' could not be read as an image")
                .And.Contain("Use a JPEG, PNG, BMP, TGA, GIF or PSD file"));

    [Test]
    public void AFileThatIsNotAnImage() =>
        Assert.That(Refused(("--style", TinyWeights())),
            Does.Contain("The style image").And.Contain("could not be read as an image"));

    [Test]
    public void ATruncatedPng()
    {
        byte[] png = System.IO.File.ReadAllBytes(ContentPng);
        Assert.That(Refused(("--content", File("cut.png", png[..(png.Length / 2)]))),
            Does.Contain("The content image").And.Contain("cut.png' is incomplete"));
    }

    /// <summary>A JPEG cut after its first kilobytes decodes (grey below the cut) but is refused.</summary>
    [Test]
    public void AJpegCutAfterItsFirstKilobytes()
    {
        string whole = PortraitJpeg;
        byte[] jpeg = System.IO.File.ReadAllBytes(whole);
        Assert.That(Refused(("--style", File("cut.jpg", jpeg[..Math.Min(1024, jpeg.Length - 2)]))),
            Does.Contain("The style image")
                .And.Contain("cut.jpg' is incomplete: it ends before the JPEG's end-of-image marker"));
    }

    [Test]
    public void AFolderAsTheContentImage() =>
        Assert.That(Refused(("--content", _folder)),
            Does.Contain($"The content image '{_folder}' is a folder, not an image file"));

    [Test]
    public void AnInitImageThatDoesNotExist() =>
        Assert.That(Refused(("--init", "image"), ("--init-image", Path.Combine(_folder, "start.png"))),
            Does.Contain("The init image").And.Contain("does not exist"));

    [Test]
    public void AMissingWeightsFile() =>
        Assert.That(Refused(("--weights", Path.Combine(_folder, "vgg.safetensors"))),
            Does.Contain("The weights file").And.Contain("vgg.safetensors' does not exist")
                .And.Contain("tools/Converter"));

    [Test]
    public void GarbageWeights()
    {
        var bytes = new byte[5000];
        new Random(1).NextBytes(bytes);
        Assert.That(Refused(("--weights", File("garbage.safetensors", bytes))),
            Does.Contain("The weights file cannot be used").And.Contain("garbage.safetensors"));
    }

    /// <summary>A file the converter reads, given to --weights as it is: the message names its format and the
    /// command that converts it (not "header length ... is impossible").</summary>
    [TestCase("model.pth", new byte[] { 0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0 }, "a PyTorch .pth file")]
    [TestCase("legacy.pth", new byte[] { 0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46 }, "a PyTorch .pth file")]
    [TestCase("vgg.caffemodel", new byte[] { 0x0A, 0x05, 0x56, 0x47, 0x47, 0x5F, 0x31, 0x39 },
        "a Caffe .caffemodel file")]
    public void WeightsInAnotherFormatSayHowToConvertThem(string name, byte[] start, string kind)
    {
        string path = File(name, [.. start, .. new byte[4096]]);
        string converted = Path.ChangeExtension(path, ".safetensors");
        Assert.That(Refused(("--weights", path)), Is.EqualTo(
            $"error: The weights file '{path}' is {kind}, which the program reads once converted: dotnet run " +
            $"--project tools/Converter -c Release -- {path} {converted}, then --weights {converted}."));
    }

    [Test]
    public void AFolderGivenAsWeightsIsCalledAFolder() =>
        Assert.That(Refused(("--weights", _folder)),
            Does.StartWith($"error: The weights file '{_folder}' is a folder, not a file."));

    [Test]
    public void TruncatedWeights()
    {
        byte[] whole = System.IO.File.ReadAllBytes(TinyWeights());
        Assert.That(Refused(("--weights", File("cut.safetensors", whole[..(whole.Length * 2 / 3)]))),
            Does.Contain("The weights file cannot be used").And.Contain("cut.safetensors").And.Contain("truncated"));
    }

    /// <summary>Weights with a NaN or an infinity are refused on load, naming the tensor (no NaN loss later).</summary>
    [TestCase("conv3_2.weight", float.NaN, "NaN")]
    [TestCase("conv1_1.bias", float.PositiveInfinity, "Infinity")]
    [TestCase("conv5_4.weight", float.NegativeInfinity, "-Infinity")]
    public void WeightsWithAValueThatIsNotFinite(string tensor, float value, string written)
    {
        var weights = IlgpuStyle.Tests.Network.TinyVgg.Create();
        var tensors = new List<NamedTensor>();
        foreach (var layer in weights.Layers)
        {
            int[] shape = [layer.OutChannels, layer.InChannels, 3, 3];
            tensors.Add(new NamedTensor(layer.Name + ".weight", shape, (float[])layer.Weight.Clone()));
            tensors.Add(new NamedTensor(layer.Name + ".bias", [layer.OutChannels], (float[])layer.Bias.Clone()));
        }
        tensors.Single(t => t.Name == tensor).Data[2] = value;
        string path = Path.Combine(_folder, "damaged.safetensors");
        var metadata = new Dictionary<string, string> { ["arch"] = "vgg19", ["preprocess"] = "caffe" };
        SafetensorsFile.Write(path, tensors, metadata);

        Assert.That(Refused(("--weights", path)),
            Does.Contain("The weights file cannot be used").And.Contain("damaged.safetensors")
                .And.Contain($"tensor {tensor} has 1 value(s) that are not finite numbers")
                .And.Contain($"(the first, at element 2, is {written})"));
    }

    [Test]
    public void WeightsOfAnotherFormat() =>
        Assert.That(Refused(("--weights", File("vgg.safetensors", "{\"not\": \"safetensors\"}"u8.ToArray()))),
            Does.Contain("The weights file cannot be used"));

    [Test]
    public void AnUnknownContentLayer() =>
        Assert.That(Refused(("--content-layers", "relu9_9")),
            Does.Contain("Unknown content layer 'relu9_9'").And.Contain("relu4_2"));

    [Test]
    public void AnUnknownStyleLayer() =>
        Assert.That(Refused(("--style-layers", "relu1_1,foo")),
            Does.Contain("Unknown style layer 'foo'"));

    [Test]
    public void BlendWeightsThatDoNotMatchTheStyles() =>
        Assert.That(Refused(("--style-blend-weights", "1,2")),
            Does.Contain("--style-blend-weights has 2 values but there are 1 style images"));

    [Test]
    public void BlendWeightsThatAreNotNumbers() =>
        Assert.That(Refused(("--style-blend-weights", "1,x")),
            Does.Contain("--style-blend-weights takes comma-separated numbers, each 0 or more (like 1,0.5); " +
                         "'x' is not one"));

    [Test]
    public void AnUnknownInit() =>
        Assert.That(Refused(("--init", "grey")),
            Does.Contain("--init takes content, random, image, gray, uniform, normal or style-stats; " +
                         "'grey' is not one."));

    [Test]
    public void SizeZero() =>
        Assert.That(Refused(("--size", "0")),
            Does.Contain("--size takes a whole number, at least 1; '0' is not one."));

    /// <summary>
    /// A size no device holds fails fast, from shapes alone, before any image is resized or buffer allocated.
    /// </summary>
    [Test]
    public void ASizeBeyondTheDeviceFailsFastAndSaysWhatFits()
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        // With the tests' weights (channels / 16) a 20000 x 15000 run needs hundreds of GB (L-BFGS
        // alone ~740 GB) even in tiles, while the tensors of the whole image stay within int indices.
        // "Fast" is shown by what happened before the refusal, not by a clock: nothing large allocated.
        string error = Refused(("--size", "20000"));
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        Assert.That(error, Does.Match(SmallestTilesTooLarge("20000", "20000 x 15000")));
        Assert.That(bytes, Is.LessThan(256L << 20), "nothing large is allocated before the check");
    }

    /// <summary>
    /// The planner's refusal of a run that does not fit even in the smallest tiles: L-BFGS's vectors and the
    /// cheaper optimizer or history, or (when neither fits) the whole run and the largest --size that fits.
    /// </summary>
    internal static string SmallestTilesTooLarge(string size, string widthByHeight) =>
        $@"^error: (L-BFGS history 100 at {widthByHeight} needs [\d.]+ [KMGTPE]i?B of image-sized vectors, and the " +
        $@"run [\d.]+ [KMGTPE]i?B even in the smallest tiles \(\d+ px\)|Even in the smallest tiles \(\d+ px\), " +
        $@"--size {size} needs about " +
        @"[\d.]+ [KMGTPE]i?B), more than the limit of .+: " +
        @"(use --optimizer adam|use --lbfgs-history \d+|use --size \d+ or --max-memory [\d.]+[MG]iB)";

    /// <summary>
    /// A size whose tensors would have more than 2^31 elements is refused on any device, however
    /// much memory it has: the kernels' int indices would wrap (64 x 200000^2 elements at relu1_1).
    /// </summary>
    [Test]
    public void ASizeBeyondTheKernelsIndexRangeIsRefusedOnAnyDevice()
    {
        string error = Refused(("--size", "200000"));
        Assert.That(error, Does.Match(@"^error: --size 200000 makes tensors of more than 2\^31 elements, " +
                                      @"which the kernels cannot index: --size \d+ fits"));
    }

    [Test]
    public void AnOutputFolderThatDoesNotExist()
    {
        string output = Path.Combine(_folder, "missing", "out.png");
        string error = Refused(Args(("--output", output)), output);
        Assert.That(error, Does.Contain("The folder of the output image").And.Contain("does not exist"));
    }

    [Test]
    public void AnOutputExtensionWeCannotWrite()
    {
        string output = Path.Combine(_folder, "out.gif");
        Assert.That(Refused(Args(("--output", output)), output), Does.Contain("must end in .png, .jpg or .jpeg"));
    }

    [Test]
    public void AReportFolderThatDoesNotExist() =>
        Assert.That(Refused(("--report", Path.Combine(_folder, "missing", "run.json"))),
            Does.Contain("The folder of the report").And.Contain("does not exist"));

    [Test]
    public void CudaWithoutCuda()
    {
        using (var context = ILGPU.Context.CreateDefault())
        {
            Assume.That(context.Devices.Where(d => d.AcceleratorType == ILGPU.Runtime.AcceleratorType.Cuda), Is.Empty,
                "this machine has CUDA, so --device cuda is not a bad input here");
        }
        Assert.That(Refused(("--device", "cuda")),
            Does.StartWith("error: No CUDA device found").And.Contain("--device cpu"));
    }

    [Test]
    public void ADeviceIndexThatDoesNotExist() =>
        Assert.That(Refused(("--device", "7")), Does.StartWith("error: There is no device 7"));

    [Test]
    public void ADeviceNameThatDoesNotExist() =>
        Assert.That(Refused(("--device", "tpu")), Does.StartWith("error: "));

    [Test]
    public void AnUnknownOption() =>
        Assert.That(Refused(("--sise", "")),
            Does.Contain("Unrecognized command or argument '--sise'").And.Contain("--help"));

    [Test]
    public void ANumberThatIsNotOne() =>
        Assert.That(Refused(("--size", "abc")), Does.Contain("'abc'").And.Contain("--size"));

    [Test]
    public void AnOptimizerThatDoesNotExist() =>
        Assert.That(Refused(("--optimizer", "sgd")), Does.Contain("sgd"));

    // ---------------------------------------------------------------- colour, textures, output (issue 16)

    [Test]
    public void ATextureStartingFromTheContent() =>
        Assert.That(Refused(("--content", null), ("--init", "content")),
            Does.Contain("--init content needs --content; a texture starts from --init random"));

    [TestCase("post-luminance")]
    [TestCase("luminance-only")]
    [TestCase("match-style")]
    public void AColourControlOfATexture(string control) =>
        Assert.That(Refused(("--content", null), ("--color-control", control)),
            Does.Contain($"--color-control {control} needs a --content image"));

    [Test]
    public void OriginalColorsOfATexture() =>
        Assert.That(Refused(("--content", null), ("--original-colors", "")),
            Does.Contain("--color-control post-luminance needs a --content image"));

    [Test]
    public void AContentWeightForATexture() =>
        Assert.That(Refused(("--content", null), ("--content-weight", "5")),
            Does.Contain("--content-weight needs --content"));

    [Test]
    public void ATextureSizeWithAContent() =>
        Assert.That(Refused(("--texture-size", "64x48")), Does.Contain("--texture-size is for a texture"));

    [TestCase("64by48")]
    [TestCase("64x0")]
    [TestCase("x48")]
    [TestCase("64x48x2")]
    [TestCase("-4x8")]
    public void ATextureSizeThatIsNoSize(string value) =>
        Assert.That(Refused(("--content", null), ("--texture-size", value)),
            Does.Contain($"--texture-size takes WIDTHxHEIGHT in pixels, e.g. 512x384; '{value}' is not that."));

    [Test]
    public void ATextureSizeAndASizeThatDisagree() =>
        Assert.That(Refused(("--content", null), ("--texture-size", "64x48"), ("--size", "32")),
            Does.Contain("--texture-size 64x48 has the longer side 64 but the run's size is 32"));

    [Test]
    public void OriginalColorsAndAnotherColourControl() =>
        Assert.That(Refused(("--original-colors", ""), ("--color-control", "match-style")),
            Does.Contain("--original-colors means --color-control post-luminance, but --color-control is " +
                         "match-style: give one of the two."));

    [Test]
    public void AColourMatchWithoutMatchStyle() =>
        Assert.That(Refused(("--color-match", "chol")),
            Does.Contain("--color-match is used only with --color-control match-style"));

    [Test]
    public void AColourControlThatDoesNotExist() =>
        Assert.That(Refused(("--color-control", "sepia")), Does.Contain("sepia"));

    [Test]
    public void AColourMatchThatDoesNotExist() =>
        Assert.That(Refused(("--color-control", "match-style"), ("--color-match", "lab")), Does.Contain("lab"));

    [TestCase("12")]
    [TestCase("0")]
    [TestCase("16.0")]
    public void ABitDepthOtherThan8Or16(string depth) =>
        Assert.That(Refused(("--bit-depth", depth)),
            Is.EqualTo($"error: --bit-depth takes 8 or 16; '{depth}' is not one. See 'ilgpu-style --help'."));

    [Test]
    public void SixteenBitsIntoAJpeg()
    {
        string jpeg = Path.Combine(_folder, "out.jpg");
        Assert.That(Refused(Args(("--bit-depth", "16"), ("--output", jpeg)), jpeg),
            Does.Contain("--bit-depth 16 needs a PNG output"));
    }

    [Test]
    public void InitImageWithoutAnInitImage() =>
        Assert.That(Refused(("--init", "image")), Does.Contain("--init image needs --init-image FILE"));

    [Test]
    public void AnInitImageWithoutInitImage() =>
        Assert.That(Refused(("--init-image", ContentPng)), Does.Contain("--init-image is used only with --init image"));

    [Test]
    public void TheW2LossRefusesTilesInOneLine() =>
        Assert.That(Refused(("--style-loss", "w2"), ("--size", "512"), ("--tile-size", "64")),
            Does.Contain("--style-loss w2 cannot be evaluated in tiles"));

    [Test]
    public void TheW2LossRefusesRegionsInOneLine() =>
        Assert.That(Refused(("--style-loss", "w2"), ("--content-mask", ContentPng)),
            Does.Contain("--style-loss w2 has no regions"));

    [Test]
    public void NegativeLossWeights() =>
        Assert.That(Refused(("--style-weight", "-1")),
            Is.EqualTo("error: --style-weight takes a number, 0 or more (like 1.5 or 1e-3); '-1' is not one. " +
                       "See 'ilgpu-style --help'."));

    [TestCase("--pooling", "foo", "max, avg or l2")]
    [TestCase("--pooling", "l3", "max, avg or l2")]
    [TestCase("--style-loss", "sliced", "gram or w2")]
    [TestCase("--optimizer", "sgd", "lbfgs or adam")]
    [TestCase("--mask-mode", "outside", "simple or inside")]
    [TestCase("--color-control", "x", "none, post-luminance, luminance-only or match-style")]
    public void AnUnknownChoiceNamesTheChoices(string option, string value, string choices) =>
        Assert.That(Refused((option, value)),
            Is.EqualTo($"error: {option} takes {choices}; '{value}' is not one. See 'ilgpu-style --help'."));
}

/// <summary>
/// The default weights, missing, with no way to download them: the run says how to get the file by
/// hand, and checks every input before trying. Changes the current directory and environment
/// variables, so it runs alone.
/// </summary>
[NonParallelizable]
public sealed class MissingDefaultWeightsTests
{
    private string _folder = "";
    private string _weights = "";
    private string _previousDirectory = "";
    private string? _previousUrl;
    private string? _previousWeights;
    private string? _previousData;

    /// <summary>
    /// No weights anywhere: the variable unset, the per-user location in a new folder (XDG_DATA_HOME, which .NET
    /// reads for it on Linux), and the download refused at once.
    /// </summary>
    [SetUp]
    public void Offline()
    {
        _folder = NewFolder("offline");
        _previousDirectory = Environment.CurrentDirectory;
        _previousUrl = Environment.GetEnvironmentVariable(WeightDownloader.UrlBaseVariable);
        _previousWeights = Environment.GetEnvironmentVariable(WeightsLocation.Variable);
        _previousData = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        Environment.CurrentDirectory = _folder;
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        Environment.SetEnvironmentVariable(WeightDownloader.UrlBaseVariable, "http://127.0.0.1:9/");
        Environment.SetEnvironmentVariable(WeightsLocation.Variable, null);
        Environment.SetEnvironmentVariable("XDG_DATA_HOME", NewFolder("per-user"));
        _weights = WeightsLocation.PerUser;
        Assume.That(WeightsLocation.Default().Path, Is.EqualTo(_weights),
            "this checkout has weights/vgg19.safetensors, which a run prefers to the per-user location");
    }

    [TearDown]
    public void Restore()
    {
        Environment.CurrentDirectory = _previousDirectory;
        Environment.SetEnvironmentVariable(WeightDownloader.UrlBaseVariable, _previousUrl);
        Environment.SetEnvironmentVariable(WeightsLocation.Variable, _previousWeights);
        Environment.SetEnvironmentVariable("XDG_DATA_HOME", _previousData);
    }

    private static CliResult RunWith(params string[] change)
    {
        var options = new Dictionary<string, string>
        {
            ["--content"] = ContentPng, ["--style"] = StylePng, ["--device"] = "cpu", ["--size"] = "32",
            ["--iterations"] = "1", ["--output"] = "out.png",
        };
        for (int i = 0; i < change.Length; i += 2) options[change[i]] = change[i + 1];
        return Run(options.SelectMany(o => new[] { o.Key, o.Value }).ToArray());
    }

    [Test]
    public void WithNoNetworkTheErrorSaysHowToGetTheWeightsByHand()
    {
        var run = RunWith();

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        string error = run.Error.TrimEnd();
        Assert.That(error, Does.StartWith("error: cannot reach http://127.0.0.1:9/vgg19-dcbb9e9d.pth"));
        Assert.That(error,
            Does.Contain("To get the weights by hand, download http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
            .And.Contain("tools/Converter").And.Contain(_weights));
        Assert.That(error, Does.Not.Contain('\n').And.Not.Contain("   at "));
        Assert.That(run.Output, Does.Contain($"The default weights {_weights} (the per-user location) are " +
                                             "missing: downloading"));
        Assert.That(File.Exists(Path.Combine(_folder, "out.png")), Is.False, "no output");
        Assert.That(File.Exists(_weights), Is.False, "no weights file");
        Assert.That(Directory.GetFiles(_folder, "*", SearchOption.AllDirectories), Is.Empty,
            "no partial download or temporary file");
    }

    /// <summary>A typo in any input is reported at once, never after a 548 MB download.</summary>
    [TestCase("--content", "phot.jpg", "The content image 'phot.jpg' does not exist")]
    [TestCase("--style-layers", "relu1_1,relu9_1", "Unknown style layer 'relu9_1'")]
    [TestCase("--output", "missing/out.png", "The folder of the output image")]
    [TestCase("--report", ".", "The report '.' is an existing folder")]
    public void EveryInputIsCheckedBeforeTheDownload(string option, string value, string message)
    {
        var run = RunWith(option, value);

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error.TrimEnd(), Does.StartWith("error: " + message));
        Assert.That(run.Output, Does.Not.Contain("downloading"), "no download was tried");
    }

    /// <summary>
    /// A dry run without the default weights plans from VGG-19's shapes, which are known, instead of downloading
    /// 548 MB: it exits 0 and writes nothing, not even the weights.
    /// </summary>
    [Test]
    public void ADryRunPlansFromVgg19sShapesWithoutDownloading()
    {
        var run = RunWith("--size", "8192", "--optimizer", "adam", "--max-memory", "80GB", "--dry-run", "true");

        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain($"note: the default weights {_weights} are missing: planned with " +
                                             "VGG-19's shapes (a real run downloads them first).")
            .And.Contain("Plan for vgg19 (Adam), limit 74.5 GiB (--max-memory):")
            .And.Contain("scale 1/1: 8192x6144, 1 iterations, "));
        Assert.That(run.Output, Does.Not.Contain("downloading"));
        Assert.That(File.Exists(_weights), Is.False, "no weights file");
        Assert.That(Directory.GetFiles(_folder, "*", SearchOption.AllDirectories), Is.Empty, "nothing written");
    }

    /// <summary>A run too large for the memory limit is refused from VGG-19's shapes, before the download.</summary>
    [Test]
    public void ARunTooLargeForTheMemoryIsRefusedBeforeTheDownload()
    {
        var run = RunWith("--size", "8192", "--max-memory", "8GB");

        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: L-BFGS history 100 at 8192 x 6144 needs "));
        Assert.That(run.Output, Does.Not.Contain("downloading"), "no download was tried");
    }

    /// <summary>
    /// The variable must name an existing file: a typo there would otherwise start a 548 MB download to wherever
    /// it points. Nothing is downloaded or written.
    /// </summary>
    [Test]
    public void AVariableNamingNoFileIsRefusedWithoutDownloading()
    {
        string typo = Path.Combine(_folder, "vgg19.safetensor");
        Environment.SetEnvironmentVariable(WeightsLocation.Variable, typo);
        var run = RunWith();
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error.TrimEnd(), Is.EqualTo($"error: {WeightsLocation.Variable} names '{typo}', which is not " +
                                                    "a file. Set it to converted weights, or unset it to use (and on " +
                                                    $"first use download) {_weights}."));
        Assert.That(run.Output, Does.Not.Contain("downloading"));
        Assert.That(Directory.GetFiles(_folder, "*", SearchOption.AllDirectories), Is.Empty, "nothing written");
    }

    /// <summary>The default weights are the same file from any working directory.</summary>
    [Test]
    public void TheDefaultWeightsDoNotDependOnTheWorkingDirectory()
    {
        string named = TinyWeights();
        Environment.SetEnvironmentVariable(WeightsLocation.Variable, named);
        Assert.That(WeightsLocation.Default(), Is.EqualTo((named, $"from {WeightsLocation.Variable}")));
        Environment.SetEnvironmentVariable(WeightsLocation.Variable, null);
        var fromHere = WeightsLocation.Default();
        Environment.CurrentDirectory = Path.GetTempPath();
        Assert.That(WeightsLocation.Default(), Is.EqualTo(fromHere));
        Assert.That(Path.IsPathRooted(fromHere.Path), Is.True);
        Assert.That(fromHere.Path, Does.EndWith(Path.Combine("ilgpu-style", WeightsLocation.FileName))
            .Or.EndWith(Path.Combine("weights", WeightsLocation.FileName)));
    }
}
