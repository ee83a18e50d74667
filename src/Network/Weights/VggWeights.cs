using System.Globalization;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Weights;

/// <summary>One 3x3 convolution's frozen parameters.</summary>
/// <param name="Name">Layer name, e.g. <c>conv3_2</c>.</param>
/// <param name="InChannels">C, the input channels.</param>
/// <param name="OutChannels">K, the output channels.</param>
/// <param name="Weight">(K, C, 3, 3) row-major: <c>Weight[((k*C + c)*3 + ky)*3 + kx]</c>.</param>
/// <param name="Bias">(K).</param>
public sealed record ConvLayerWeights(string Name, int InChannels, int OutChannels, float[] Weight, float[] Bias);

/// <summary>
/// The conv layers of a VGG-19 or VGG-16 network, checked to form a chain
/// (RGB input, each layer's C equal to the previous layer's K, 3x3 kernels), plus the input
/// convention the weights were trained with.
/// </summary>
public sealed class VggWeights
{
    /// <summary>The two input conventions of SPEC.md, "Preprocessing".</summary>
    public static IReadOnlyList<string> PreprocessNames { get; } = ["torchvision", "caffe"];

    private readonly Dictionary<string, ConvLayerWeights> _byName;

    private VggWeights(VggArchitecture architecture, string preprocess, List<ConvLayerWeights> layers)
    {
        Architecture = architecture;
        Preprocess = preprocess;
        Layers = layers;
        _byName = layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
    }

    /// <summary>VGG-19 or VGG-16.</summary>
    public VggArchitecture Architecture { get; }

    /// <summary><c>torchvision</c> or <c>caffe</c>: how images must be preprocessed for these weights.</summary>
    public string Preprocess { get; }

    /// <summary>Conv layers in network order.</summary>
    public IReadOnlyList<ConvLayerWeights> Layers { get; }

    /// <summary>
    /// The layer called <paramref name="name"/> (e.g. <c>conv4_2</c>);
    /// throws <see cref="KeyNotFoundException"/> if absent.
    /// </summary>
    public ConvLayerWeights this[string name] =>
        _byName.TryGetValue(name, out var layer)
            ? layer
            : throw new KeyNotFoundException($"{Architecture.Name} has no layer {name}.");

    /// <summary>
    /// The shape of a ReLU layer's activation for a <c>(3, height, width)</c> input
    /// (<see cref="VggArchitecture.LayerShape"/> with its conv's output channels).
    /// </summary>
    public ChwShape LayerShape(string reluName, int height, int width) =>
        Architecture.LayerShape(reluName, this[Architecture.ConvName(reluName)].OutChannels, height, width);

    /// <summary>
    /// Loads and checks a converted weights file; throws <see cref="WeightsFormatException"/> on any problem.
    /// </summary>
    public static VggWeights Load(string path)
    {
        var contents = SafetensorsFile.Read(path);
        return FromTensors(contents.Tensors, contents.Metadata, path);
    }

    /// <summary>
    /// Builds the layer list from named tensors (<c>conv1_1.weight</c>, <c>conv1_1.bias</c>, ...)
    /// and metadata (<c>arch</c>, <c>preprocess</c>). Every conv of the architecture must be present
    /// with consistent shapes, and no other tensor may be: a stray tensor means the file is not what
    /// its metadata claims. <paramref name="source"/> names the file in error messages.
    /// </summary>
    public static VggWeights FromTensors(IReadOnlyList<NamedTensor> tensors,
        IReadOnlyDictionary<string, string> metadata, string source)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);

        if (!metadata.TryGetValue("arch", out string? archName))
            throw new WeightsFormatException($"{source}: __metadata__ has no \"arch\" (expected vgg19 or vgg16).");
        var architecture = VggArchitecture.Find(archName)
            ?? throw new WeightsFormatException($"{source}: unknown arch '{archName}' (expected vgg19 or vgg16).");
        if (!metadata.TryGetValue("preprocess", out string? preprocess) || !PreprocessNames.Contains(preprocess))
            throw new WeightsFormatException(
                $"{source}: __metadata__ \"preprocess\" must be torchvision or caffe, " +
                $"got '{preprocess ?? "(missing)"}'.");

        var byName = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!byName.TryAdd(t.Name, t))
                throw new WeightsFormatException($"{source}: tensor {t.Name} appears twice.");
        }

        var layers = new List<ConvLayerWeights>();
        int channels = 3; // the network's input is an RGB (or BGR) image
        foreach (string name in architecture.ConvNames)
        {
            var weight = byName.GetValueOrDefault(name + ".weight")
                ?? throw new WeightsFormatException(
                    $"{source}: {architecture.Name} needs tensor {name}.weight, which is missing.");
            var bias = byName.GetValueOrDefault(name + ".bias")
                ?? throw new WeightsFormatException(
                    $"{source}: {architecture.Name} needs tensor {name}.bias, which is missing.");
            var s = weight.Shape;
            if (s.Count != 4 || s[1] != channels || s[2] != 3 || s[3] != 3 || s[0] <= 0)
                throw new WeightsFormatException(
                    $"{source}: {name}.weight has shape {NamedTensor.FormatShape(s)}; expected [K, {channels}, 3, 3].");
            if (bias.Shape.Count != 1 || bias.Shape[0] != s[0])
                throw new WeightsFormatException(
                    $"{source}: {name}.bias has shape {NamedTensor.FormatShape(bias.Shape)}; expected [{s[0]}].");
            RequireFinite(weight, source);
            RequireFinite(bias, source);
            layers.Add(new ConvLayerWeights(name, channels, s[0], weight.Data, bias.Data));
            byName.Remove(name + ".weight");
            byName.Remove(name + ".bias");
            channels = s[0];
        }

        if (byName.Count > 0)
            throw new WeightsFormatException(
                $"{source}: tensor {byName.Keys.Order(StringComparer.Ordinal).First()} " +
                $"is not a layer of {architecture.Name}.");
        return new VggWeights(architecture, preprocess, layers);
    }

    /// <summary>
    /// A NaN or infinite weight would make every loss NaN from the first evaluation on, and the run
    /// would look like an optimizer failure; a damaged file is named here instead.
    /// </summary>
    private static void RequireFinite(NamedTensor tensor, string source)
    {
        int first = Array.FindIndex(tensor.Data, v => !float.IsFinite(v));
        if (first < 0) return;
        int count = tensor.Data.Count(v => !float.IsFinite(v));
        throw new WeightsFormatException(
            $"{source}: tensor {tensor.Name} has {count} value(s) that are not finite numbers (the first, at element " +
            $"{first}, is {tensor.Data[first].ToString(CultureInfo.InvariantCulture)}); the file is damaged.");
    }
}
