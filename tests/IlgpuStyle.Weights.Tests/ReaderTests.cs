using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>
/// The converter on fixtures built by the tests: every format and option, and every way a file can be bad.
/// </summary>
public class ReaderTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestFiles.NewScratchFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    public enum Format
    {
        Legacy,
        LegacyStridedHalf,
        Zip,
        ZipStridedHalf,
        CaffeV1Packed,
        CaffeV1Unpacked,
        CaffeV2Packed,
        CaffeV2Unpacked,
    }

    private static readonly TinyVgg.PthOptions Plain = new();
    private static readonly TinyVgg.PthOptions StridedHalf = new() { StridedFirstWeight = true, HalfFirstBias = true };

    private static (byte[] Bytes, TinyVgg.PthOptions Options, bool Caffe) Build(TinyVgg net, Format format) =>
        format switch
        {
            Format.Legacy => (net.LegacyPth(Plain), Plain, false),
            Format.LegacyStridedHalf => (net.LegacyPth(StridedHalf), StridedHalf, false),
            Format.Zip => (net.ZipPth(Plain), Plain, false),
            Format.ZipStridedHalf => (net.ZipPth(StridedHalf), StridedHalf, false),
            Format.CaffeV1Packed => (net.CaffeModel(v2: false, packed: true), Plain, true),
            Format.CaffeV1Unpacked => (net.CaffeModel(v2: false, packed: false), Plain, true),
            Format.CaffeV2Packed => (net.CaffeModel(v2: true, packed: true), Plain, true),
            _ => (net.CaffeModel(v2: true, packed: false), Plain, true),
        };

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Test]
    public void EveryFormatConvertsToTheSameValues([Values] Format format, [Values("vgg16", "vgg19")] string arch)
    {
        var net = arch == "vgg16" ? TinyVgg.Vgg16() : TinyVgg.Vgg19();
        var (bytes, options, caffe) = Build(net, format);
        string input = Write("input.bin", bytes);
        string output = Path.Combine(_dir, "out.safetensors");

        WeightConverter.Convert(input, output);

        var weights = VggWeights.Load(output);
        Assert.That(weights.Architecture, Is.SameAs(net.Arch));
        Assert.That(weights.Preprocess, Is.EqualTo(caffe ? "caffe" : "torchvision"));
        Assert.That(weights.Layers.Select(l => l.Name), Is.EqualTo(net.Arch.ConvNames));
        foreach (var expected in net.Layers)
        {
            var layer = weights[expected.Name];
            Assert.That(layer.Weight, Is.EqualTo(expected.Weight), $"{expected.Name}.weight");
            Assert.That(layer.Bias, Is.EqualTo(net.ExpectedBias(expected, options)), $"{expected.Name}.bias");
            Assert.That(
                (layer.OutChannels, layer.InChannels), Is.EqualTo((expected.WeightShape[0], expected.WeightShape[1])));
        }
    }

    [Test]
    public void GenericSequentialKeysAreMappedInOrder()
    {
        var net = TinyVgg.Vgg19();
        string input = Write("generic.pth", net.LegacyPth(new TinyVgg.PthOptions { GenericKeys = true }));
        string output = Path.Combine(_dir, "out.safetensors");
        var log = new StringWriter();

        WeightConverter.Convert(input, output, log: log);

        var weights = VggWeights.Load(output);
        Assert.That(weights.Architecture, Is.SameAs(VggArchitecture.Vgg19));
        Assert.That(weights["conv5_4"].Weight, Is.EqualTo(net.Layers[^1].Weight));
        Assert.That(log.ToString(), Does.Contain("file order"));
    }

    [Test]
    public void TableListsEveryWrittenTensorAndTheFileSize()
    {
        var net = TinyVgg.Vgg16();
        string input = Write("tiny.pth", net.ZipPth());
        string output = Path.Combine(_dir, "out.safetensors");
        var log = new StringWriter();

        var result = WeightConverter.Convert(input, output, log: log);

        string text = log.ToString();
        foreach (var layer in net.Layers)
            Assert.That(text, Does.Contain($"{layer.Name}.weight  [{string.Join(", ", layer.WeightShape)}]"));
        Assert.That(text, Does.Not.Contain("classifier"));
        Assert.That(result.FileBytes, Is.EqualTo(new FileInfo(output).Length));
        Assert.That(text, Does.Contain($"{result.FileBytes:N0} bytes"));
    }

    [Test]
    public void ArchitectureOptionThatContradictsTheFileIsRefused()
    {
        string input = Write("tiny16.pth", TinyVgg.Vgg16().LegacyPth());
        string output = Path.Combine(_dir, "out.safetensors");

        var e = Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output, VggArchitecture.Vgg19));

        Assert.That(e!.Message, Does.StartWith(input + ":").And.Contain("vgg19"));
        Assert.That(File.Exists(output), Is.False);
    }

    [TestCase(false, "os", "system")]
    [TestCase(true, "builtins", "eval")]
    [TestCase(false, "torch.nn.modules.conv", "Conv2d")]
    public void ForeignPickleGlobalIsRefused(bool zip, string module, string name)
    {
        var options = new TinyVgg.PthOptions { ForeignGlobal = (module, name) };
        var net = TinyVgg.Vgg16();
        string input = Write("evil.pth", zip ? net.ZipPth(options) : net.LegacyPth(options));
        string output = Path.Combine(_dir, "out.safetensors");

        var e = Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output));

        Assert.That(e!.Message, Does.Contain($"refusing pickle global '{module}.{name}'"));
        AssertSingleLine(e.Message);
        Assert.That(File.Exists(output), Is.False);
    }

    [TestCase(new byte[0], "empty")]
    [TestCase(new byte[] { 0x3c, 0x68, 0x74, 0x6d, 0x6c, 0x3e, 0x0a, 0x00 }, "not a PyTorch .pth or Caffe .caffemodel")]
    [TestCase(new byte[] { 0x80, 0x02, 0xff, 0x00 }, "unsupported pickle opcode")]
    [TestCase(new byte[] { 0x80, 0x02, 0x4b, 0x05, 0x2e }, "not a PyTorch file")]
    [TestCase(new byte[] { 0x50, 0x4b, 0x03, 0x04, 0x01, 0x02 }, "zip")]
    [TestCase(new byte[] { 0x12, 0x7f, 0x22, 0x01 }, "truncated")]
    public void GarbageFailsInOneLineThatNamesTheFile(byte[] bytes, string problem)
    {
        string input = Write("bad.pth", bytes);
        string output = Path.Combine(_dir, "out.safetensors");

        var e = Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output));

        Assert.That(e!.Message, Does.StartWith(input + ":").And.Contain(problem));
        AssertSingleLine(e.Message);
        Assert.That(Directory.GetFiles(_dir), Is.EquivalentTo(new[] { input }), "no output or temp file is left");
    }

    [Test]
    public void RandomBytesNeverCrashTheReaders()
    {
        var random = new Random(3);
        var valid = TinyVgg.Vgg16().LegacyPth();
        for (int trial = 0; trial < 40; trial++)
        {
            // Corrupt a real file in a few places: every outcome must be success or a ConverterException.
            var bytes = (byte[])valid.Clone();
            for (int k = 0; k < 3; k++)
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            string input = Write($"corrupt{trial}.pth", bytes);
            string output = Path.Combine(_dir, $"out{trial}.safetensors");
            try
            {
                WeightConverter.Convert(input, output);
            }
            catch (ConverterException e)
            {
                AssertSingleLine(e.Message);
                Assert.That(File.Exists(output), Is.False);
            }
        }
    }

    [TestCase(Format.Legacy)]
    [TestCase(Format.Zip)]
    [TestCase(Format.CaffeV1Packed)]
    [TestCase(Format.CaffeV2Unpacked)]
    public void TruncatedFilesFailWithTruncatedAndNoOutput(Format format)
    {
        var (bytes, _, _) = Build(TinyVgg.Vgg16(), format);
        foreach (double fraction in new[] { 0.97, 0.6, 0.02 })
        {
            string input = Write("cut.bin", bytes[..(int)(bytes.Length * fraction)]);
            string output = Path.Combine(_dir, "out.safetensors");

            var e = Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output),
                $"cut at {fraction}");

            Assert.That(e!.Message, Does.StartWith(input + ":"));
            Assert.That(e.Message, Does.Contain("truncated").Or.Contain("corrupt"), $"cut at {fraction}");
            AssertSingleLine(e.Message);
            Assert.That(File.Exists(output), Is.False);
        }
    }

    [Test]
    public void LegacyFileCutInsideItsDataListsTensorsThenReportsTruncation()
    {
        var bytes = TinyVgg.Vgg16().LegacyPth();
        string input = Write("cut.pth", bytes[..(bytes.Length - 10)]);

        var listing = new StringWriter();
        WeightConverter.List(input, listing);
        Assert.That(listing.ToString(), Does.Contain("features.28.weight"));

        var e = Assert.Throws<ConverterException>(
            () => WeightConverter.Convert(input, Path.Combine(_dir, "out.safetensors")));
        Assert.That(e!.Message, Does.Contain("truncated"));
    }

    [Test]
    public void CaffeModelWithoutConvolutionsIsRefused()
    {
        var layer = new ProtoWriter();
        layer.String(1, "fc6");
        layer.String(2, "InnerProduct");
        var net = new ProtoWriter();
        net.String(1, "NoConv");
        net.Message(100, layer.ToArray());
        string input = Write("noconv.caffemodel", net.ToArray());

        var e = Assert.Throws<ConverterException>(
            () => WeightConverter.Convert(input, Path.Combine(_dir, "out.safetensors")));

        Assert.That(e!.Message, Does.Contain("no convolution layers"));
    }

    [Test]
    public void ExistingOutputSurvivesAFailedConversion()
    {
        string output = Path.Combine(_dir, "out.safetensors");
        File.WriteAllText(output, "previous");
        string input = Write("bad.pth", [1, 2, 3]);

        Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output));

        Assert.That(File.ReadAllText(output), Is.EqualTo("previous"));
    }

    internal static void AssertSingleLine(string message)
    {
        Assert.That(message, Does.Not.Contain('\n').And.Not.Contain('\r'));
        Assert.That(message, Does.Not.Contain("   at "), "no stack trace");
    }
}
