using System.Text.Json;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>
/// The converter on the shared fixture files (../shared/fixtures/weights): real on-disk formats
/// with known contents listed in vgg19_div16.manifest.json. Skipped, and reported so, without them.
/// </summary>
public class SharedFixtureTests
{
    private static readonly string[] Files =
        ["vgg19_div16.legacy.pth", "vgg19_div16.zip.pth", "vgg19_div16.v1.caffemodel", "vgg19_div16.v2.caffemodel"];

    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestFiles.NewScratchFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string ConvertFixture(string file)
    {
        string input = Path.Combine(TestFiles.RequireSharedWeights(), file);
        string output = Path.Combine(_dir, file + ".safetensors");
        WeightConverter.Convert(input, output);
        return output;
    }

    [TestCaseSource(nameof(Files))]
    public void EveryTensorMatchesTheManifest(string file)
    {
        string output = ConvertFixture(file);
        using var manifest = JsonDocument.Parse(
            File.ReadAllText(Path.Combine(TestFiles.RequireSharedWeights(), "vgg19_div16.manifest.json")));
        var contents = SafetensorsFile.Read(output);
        var byName = contents.Tensors.ToDictionary(t => t.Name);
        var expected = manifest.RootElement.GetProperty("tensors");

        Assert.That(contents.Metadata["arch"], Is.EqualTo(manifest.RootElement.GetProperty("arch").GetString()));
        Assert.That(contents.Metadata["preprocess"],
            Is.EqualTo(file.EndsWith(".caffemodel", StringComparison.Ordinal) ? "caffe" : "torchvision"));
        Assert.That(byName.Keys, Is.EquivalentTo(expected.EnumerateObject().Select(p => p.Name)));
        foreach (var entry in expected.EnumerateObject())
        {
            var t = byName[entry.Name];
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            Assert.That(t.Shape, Is.EqualTo(shape), $"{entry.Name} shape");

            double sum = 0, sumsq = 0;
            foreach (float v in t.Data)
            {
                sum += v;
                sumsq += (double)v * v;
            }
            double expectedSum = entry.Value.GetProperty("sum").GetDouble();
            double expectedSumsq = entry.Value.GetProperty("sumsq").GetDouble();
            // The manifest sums the same float32 values in double; only summation order can differ.
            Assert.That(sum, Is.EqualTo(expectedSum).Within(1e-9 * (1 + expectedSumsq)), $"{entry.Name} sum");
            Assert.That(sumsq, Is.EqualTo(expectedSumsq).Within(1e-9 * (1 + expectedSumsq)), $"{entry.Name} sumsq");

            var first = entry.Value.GetProperty("first").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
            Assert.That(t.Data.Take(first.Length), Is.EqualTo(first), $"{entry.Name} first values");
        }
    }

    [Test]
    public void AllFourFormatsGiveIdenticalTensors()
    {
        var reference = SafetensorsFile.Read(ConvertFixture(Files[0])).Tensors;
        foreach (string file in Files.Skip(1))
        {
            var other = SafetensorsFile.Read(ConvertFixture(file)).Tensors;
            Assert.That(other.Select(t => t.Name), Is.EqualTo(reference.Select(t => t.Name)), file);
            for (int i = 0; i < reference.Count; i++)
            {
                Assert.That(other[i].Shape, Is.EqualTo(reference[i].Shape), $"{file} {reference[i].Name}");
                Assert.That(other[i].Data.Select(BitConverter.SingleToInt32Bits),
                    Is.EqualTo(reference[i].Data.Select(BitConverter.SingleToInt32Bits)),
                        $"{file} {reference[i].Name}");
            }
        }
    }

    [Test]
    public void TruncatedRealFileListsItsTensorsThenFailsWithTruncated()
    {
        string input = Path.Combine(TestFiles.RequireSharedWeights(), "real", "vgg_normalised.truncated.pth");
        string output = Path.Combine(_dir, "normalised.safetensors");

        var source = WeightSources.Open(input);
        Assert.That(source.Format, Does.Contain("legacy"));
        Assert.That(source.Tensors.Select(t => t.Key).Take(4),
            Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }));
        int convWeights =
            source.Tensors.Count(t => t.Key.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Count == 4);
        Assert.That(convWeights, Is.EqualTo(17), "a 1x1 conv and VGG-19's 16");
        Assert.That(source.Tensors[0].Shape, Is.EqualTo(new[] { 3, 3, 1, 1 }));

        var log = new StringWriter();
        var e = Assert.Throws<ConverterException>(() => WeightConverter.Convert(input, output, log: log));

        Assert.That(e!.Message, Does.StartWith(input + ": truncated"));
        ReaderTests.AssertSingleLine(e.Message);
        Assert.That(log.ToString(), Does.Contain("34 tensors"));
        Assert.That(Directory.GetFileSystemEntries(_dir), Is.Empty, "no output or temp file");
    }
}
