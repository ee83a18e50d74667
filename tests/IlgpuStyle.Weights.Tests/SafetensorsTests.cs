using System.Text;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>The safetensors reader/writer and the VGG loader's checks.</summary>
public class SafetensorsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestFiles.NewScratchFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A file built by hand: 8-byte length, the header text, the data.</summary>
    private string Raw(string header, byte[] data, long? declaredLength = null)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        string path = Path.Combine(_dir, "hand.safetensors");
        using var s = File.Create(path);
        s.Write(BitConverter.GetBytes(declaredLength ?? h.Length));
        s.Write(h);
        s.Write(data);
        return path;
    }

    [Test]
    public void WriteThenReadRoundTripsValuesShapesAndMetadata()
    {
        var random = new Random(5);
        var a = new NamedTensor("a", [3, 1, 2],
            Enumerable.Range(0, 6).Select(_ => (float)random.NextDouble()).ToArray());
        var b = new NamedTensor("b", [5], [float.MaxValue, -0f, float.Epsilon, 1e-30f, -7.5f]);
        string path = Path.Combine(_dir, "sub", "x.safetensors");

        SafetensorsFile.Write(path, [a, b], new Dictionary<string, string> { ["arch"] = "vgg16", ["note"] = "é\"\\" });

        var read = SafetensorsFile.Read(path);
        Assert.That(read.Metadata,
            Is.EquivalentTo(new Dictionary<string, string> { ["arch"] = "vgg16", ["note"] = "é\"\\" }));
        Assert.That(read.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(read.Tensors[0].Shape, Is.EqualTo(new[] { 3, 1, 2 }));
        Assert.That(read.Tensors[0].Data, Is.EqualTo(a.Data));
        Assert.That(read.Tensors[1].Data.Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(b.Data.Select(BitConverter.SingleToInt32Bits)));
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "sub")), Has.Length.EqualTo(1),
            "no temp file is left behind");
        long headerLength = BitConverter.ToInt64(File.ReadAllBytes(path), 0);
        Assert.That((8 + headerLength) % 8, Is.Zero, "data starts 8-byte aligned");
    }

    [Test]
    public void F16IsWidened()
    {
        var halves = new[] { (Half)1.5, (Half)(-0.333), Half.MaxValue };
        byte[] data = halves.SelectMany(h => BitConverter.GetBytes(h)).ToArray();
        string path = Raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}", data);

        var t = SafetensorsFile.Read(path).Tensors.Single();

        Assert.That(t.Data, Is.EqualTo(halves.Select(h => (float)h).ToArray()));
    }

    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8, "outside")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
        "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8, "overlap")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes")]
    [TestCase("{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "only F32 and F16")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8, "non-negative")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 8, "invalid data_offsets")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, "data_offsets")]
    [TestCase("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
        "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [TestCase("{\"__metadata__\":{\"arch\":3}}", 0, "not a string")]
    [TestCase("{\"t\": [1, 2", 8, "JSON")]
    [TestCase("[1, 2, 3]", 0, "not an object")]
    public void MalformedHeaderIsRefused(string header, int dataBytes, string problem)
    {
        string path = Raw(header, new byte[dataBytes]);

        var e = Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Read(path));

        Assert.That(e!.Message, Does.StartWith(path + ":").And.Contain(problem));
        ReaderTests.AssertSingleLine(e.Message);
    }

    [TestCase(1L << 40)]
    [TestCase(1L)]
    [TestCase(-8L)]
    public void ImpossibleHeaderLengthIsRefused(long declared)
    {
        string path = Raw("{}", new byte[16], declared);

        var e = Assert.Throws<WeightsFormatException>(() => SafetensorsFile.Read(path));

        Assert.That(e!.Message, Does.Contain("header length"));
    }

    [Test]
    public void TooShortAndMissingFilesAreRefused()
    {
        string shortFile = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(shortFile, [1, 2, 3]);
        Assert.That(() => SafetensorsFile.Read(shortFile),
            Throws.TypeOf<WeightsFormatException>().With.Message.Contains("too short"));
        Assert.That(() => SafetensorsFile.Read(Path.Combine(_dir, "absent.safetensors")),
            Throws.TypeOf<WeightsFormatException>().With.Message.Contains("cannot open"));
    }

    private static List<NamedTensor> TinyTensors(TinyVgg net) =>
        net.Layers.SelectMany(l => new[]
        {
            new NamedTensor(l.Name + ".weight", l.WeightShape, l.Weight),
            new NamedTensor(l.Name + ".bias", [l.Bias.Length], l.Bias),
        }).ToList();

    private static Dictionary<string, string> Meta(string arch = "vgg16", string preprocess = "caffe") =>
        new() { ["arch"] = arch, ["preprocess"] = preprocess };

    [Test]
    public void LoaderMapsNamesToLayers()
    {
        var net = TinyVgg.Vgg16();
        string path = Path.Combine(_dir, "w.safetensors");
        SafetensorsFile.Write(path, TinyTensors(net), Meta());

        var weights = VggWeights.Load(path);

        Assert.That(weights.Architecture, Is.SameAs(VggArchitecture.Vgg16));
        Assert.That(weights.Preprocess, Is.EqualTo("caffe"));
        Assert.That(weights["conv3_3"].Bias, Is.EqualTo(net.Layers[6].Bias));
        Assert.That(weights["conv3_3"].InChannels, Is.EqualTo(net.Layers[5].WeightShape[0]));
        Assert.That(() => weights["conv5_4"], Throws.TypeOf<KeyNotFoundException>());
    }

    [Test]
    public void LoaderRefusesMissingExtraOrMisshapenTensorsAndBadMetadata()
    {
        var net = TinyVgg.Vgg16();
        string path = Path.Combine(_dir, "w.safetensors");
        void Check(List<NamedTensor> tensors, Dictionary<string, string> meta, string problem)
        {
            SafetensorsFile.Write(path, tensors, meta);
            var e = Assert.Throws<WeightsFormatException>(() => VggWeights.Load(path));
            Assert.That(e!.Message, Does.Contain(problem));
        }

        var missing = TinyTensors(net);
        missing.RemoveAll(t => t.Name == "conv4_2.bias");
        Check(missing, Meta(), "conv4_2.bias, which is missing");

        var extra = TinyTensors(net);
        extra.Add(new NamedTensor("fc6.weight", [1], [0f]));
        Check(extra, Meta(), "fc6.weight is not a layer");

        var broken = TinyTensors(net);
        int i = broken.FindIndex(t => t.Name == "conv2_1.weight");
        broken[i] = new NamedTensor("conv2_1.weight", [3, 7, 3, 3], new float[3 * 7 * 9]);
        Check(broken, Meta(), "conv2_1.weight has shape [3, 7, 3, 3]");

        Check(TinyTensors(net), Meta(arch: "vgg19"), "conv3_4.weight, which is missing");
        Check(TinyTensors(net), Meta(arch: "resnet"), "unknown arch");
        Check(TinyTensors(net), Meta(preprocess: "imagenet"), "preprocess");
        Check(TinyTensors(net), new Dictionary<string, string> { ["preprocess"] = "caffe" }, "no \"arch\"");
    }
}
