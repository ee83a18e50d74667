using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Tests.Network;

/// <summary>Small VGG weights and images made by the tests themselves (no ../shared needed).</summary>
internal static class TinyVgg
{
    /// <summary>
    /// VGG-19 or VGG-16 with every channel count divided by 16 (4, 8, 16, 32, 32), He-normal
    /// weights and biases in [-0.1, 0.1], like the shared fixtures.
    /// </summary>
    public static VggWeights Create(string preprocess = "caffe", string arch = "vgg19", int seed = 7)
    {
        var architecture = VggArchitecture.Find(arch)!;
        var random = new Random(seed);
        var tensors = new List<NamedTensor>();
        int inChannels = 3;
        foreach (string name in architecture.ConvNames)
        {
            int outChannels = architecture.OutChannels(name) / 16;
            double std = Math.Sqrt(2.0 / (inChannels * 9));
            var weight = new float[outChannels * inChannels * 9];
            for (int i = 0; i < weight.Length; i++) weight[i] = (float)(std * Normal(random));
            var bias = Array.ConvertAll(TestData.Uniform(random, outChannels, -0.1, 0.1), v => (float)v);
            tensors.Add(new NamedTensor(name + ".weight", [outChannels, inChannels, 3, 3], weight));
            tensors.Add(new NamedTensor(name + ".bias", [outChannels], bias));
            inChannels = outChannels;
        }
        var metadata = new Dictionary<string, string> { ["arch"] = arch, ["preprocess"] = preprocess };
        return VggWeights.FromTensors(tensors, metadata, "tiny test weights");
    }

    /// <summary>
    /// A random preprocessed image on the convention's scale (caffe: about +-100; torchvision: about +-2).
    /// </summary>
    public static NetworkImage Image(int height, int width, int seed, string preprocess = "caffe")
    {
        double range = preprocess == "caffe" ? 100 : 2;
        var shape = new ChwShape(3, height, width);
        var data = Array.ConvertAll(TestData.Uniform(new Random(seed), shape.Length, -range, range), v => (float)v);
        return new NetworkImage(data, shape);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
