using ILGPU.Runtime;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The objective built from the shared fixture weights (real download formats, VGG-19 with channel
/// counts divided by 16), converted by the project's converter, against the CPU reference.
/// </summary>
public sealed class FixtureWeightsTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    [TestCase("vgg19_div16.zip.pth", "torchvision")]
    [TestCase("vgg19_div16.v1.caffemodel", "caffe")]
    public void ConvertedFixtureWeightsGiveTheReferenceLoss(string file, string preprocess)
    {
        string source = SharedFolder.Require(Path.Combine("fixtures", "weights", file));
        string output = Path.Combine(Path.GetTempPath(), $"ilgpu-style-{Guid.NewGuid():N}.safetensors");
        try
        {
            WeightConverter.Convert(source, output);
            var weights = VggWeights.Load(output);
            Assert.That(weights.Preprocess, Is.EqualTo(preprocess));

            var content = TinyVgg.Image(24, 20, seed: 40, preprocess);
            var style = TinyVgg.Image(20, 20, seed: 41, preprocess);
            var x = TinyVgg.Image(24, 20, seed: 42, preprocess);
            var options = new StyleOptions();
            using var objective = Objectives.Create(Kernels, weights, content, [style], options);
            using var input = Accelerator.Allocate1D(x.Data);
            using var gradient = Accelerator.Allocate1D<float>(x.Data.Length);
            using var loss = Accelerator.Allocate1D<float>(1);
            objective.Evaluate(input.View, gradient.View, loss.View);
            var losses = objective.ReadLosses();

            var expected = new ReferenceObjective(weights, content, [style], options)
                .Evaluate(ReferenceObjective.ToDouble(x.Data), null);
            Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-3).Percent);
            Assert.That(losses.Style, Is.GreaterThan(0));
            Assert.That(losses.Content, Is.GreaterThan(0));
        }
        finally
        {
            File.Delete(output);
        }
    }
}
