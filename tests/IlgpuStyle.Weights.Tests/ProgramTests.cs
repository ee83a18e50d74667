using IlgpuStyle.Converter;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>The command line: exit codes, the table, and one-line errors without stack traces.</summary>
public class ProgramTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestFiles.NewScratchFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public async Task ConvertsAndPrintsTheTable()
    {
        string input = Path.Combine(_dir, "tiny.caffemodel");
        File.WriteAllBytes(input, TinyVgg.Vgg19().CaffeModel(v2: false, packed: true));
        string output = Path.Combine(_dir, "out.safetensors");

        var (code, stdout, stderr) = await Run(input, output, "--arch", "vgg19");

        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("conv5_4.bias").And.Contain("preprocess caffe").And.Contain("bytes"));
        Assert.That(VggWeights.Load(output).Architecture, Is.SameAs(VggArchitecture.Vgg19));
    }

    [Test]
    public async Task PreprocessOptionOverridesTheDefault()
    {
        string input = Path.Combine(_dir, "tiny.pth");
        File.WriteAllBytes(input, TinyVgg.Vgg16().ZipPth());
        string output = Path.Combine(_dir, "out.safetensors");

        var (code, _, stderr) = await Run(input, output, "--preprocess", "caffe");

        Assert.That(code, Is.Zero, stderr);
        Assert.That(VggWeights.Load(output).Preprocess, Is.EqualTo("caffe"));
    }

    [Test]
    public async Task BadInputExitsNonZeroWithOneLine()
    {
        string input = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(input, "hello, these are not weights\n");

        var (code, stdout, stderr) = await Run(input, Path.Combine(_dir, "out.safetensors"));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.StartWith($"error: {input}: not a PyTorch .pth or Caffe .caffemodel file"));
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task MissingInputExitsNonZeroWithOneLine()
    {
        var (code, _, stderr) = await Run(Path.Combine(_dir, "absent.pth"), Path.Combine(_dir, "out.safetensors"));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("no such file"));
        Assert.That(stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1));
    }

    /// <summary>Bad arguments, empty paths (an unset shell variable) included, are one line that ends with where
    /// the usage is, exit code 2, nothing written and no stack trace.</summary>
    [TestCase]
    [TestCase("only-one-argument")]
    [TestCase("a", "b", "--arch", "vgg11")]
    [TestCase("a", "b", "--frobnicate")]
    [TestCase("--download", "alexnet")]
    [TestCase("", "out.safetensors")]
    [TestCase("in.pth", "")]
    [TestCase("--list", "")]
    [TestCase("--download", "vgg19", "out.safetensors", "--url-base", " ")]
    public async Task BadArgumentsAreOneLineWithTheUsagesPlace(params string[] args)
    {
        var (code, stdout, stderr) = await Run(args);

        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.StartWith("error: ")
            .And.EndWith($". See 'ilgpu-style-convert --help'.{Environment.NewLine}"));
        Assert.That(stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1), stderr);
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.GetFiles(_dir), Is.Empty);
    }

    [Test]
    public async Task DownloadFromAnUnreachableServerExitsNonZeroWithOneLine()
    {
        string urlBase = $"http://127.0.0.1:{LoopbackServer.FreePort()}/";

        var (code, _, stderr) = await Run("--download", "vgg19", Path.Combine(_dir, "vgg19.safetensors"),
            "--url-base", urlBase);

        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("vgg19-dcbb9e9d.pth").And.Contain("by hand"));
        Assert.That(stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task ListPrintsTheSourceTensors()
    {
        string input = Path.Combine(_dir, "tiny.pth");
        File.WriteAllBytes(input, TinyVgg.Vgg16().LegacyPth(new TinyVgg.PthOptions { HalfFirstBias = true }));

        var (code, stdout, _) = await Run("--list", input);

        Assert.That(code, Is.Zero);
        Assert.That(stdout,
            Does.Contain("features.0.bias").And.Contain("HalfStorage").And.Contain("classifier.0.weight"));
    }
}
