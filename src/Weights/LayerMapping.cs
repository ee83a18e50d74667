using System.Globalization;
using System.Text.RegularExpressions;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Weights;

/// <summary>
/// One conv layer found in a source: its canonical name and the source tensors holding its weight and bias.
/// </summary>
public sealed record MappedLayer(string Name, SourceTensor Weight, SourceTensor Bias);

/// <summary>
/// Decides which source tensors are which VGG conv layer. Three naming schemes exist in the wild:
/// <list type="bullet">
/// <item>torchvision: <c>features.{i}.weight</c>, where <c>i</c> counts every module of the
/// <c>features</c> Sequential (convs, ReLUs, pools), so the indices say where the pools are;</item>
/// <item>Caffe: layer names <c>conv{b}_{i}</c>, already canonical;</item>
/// <item>generic Sequentials (<c>0.weight</c>, <c>2.weight</c>, ...) whose indices depend on the model
/// that saved them: the 3x3 convolutions are taken in order and the count picks the architecture.</item>
/// </list>
/// Tensors after the last conv (the classifier) are never mapped.
/// </summary>
public static partial class LayerMapping
{
    /// <summary>
    /// The mapping result: architecture, layers in network order, and a note for the user (may be empty).
    /// </summary>
    public sealed record Result(VggArchitecture Architecture, IReadOnlyList<MappedLayer> Layers, string Note);

    /// <summary>
    /// Maps <paramref name="source"/>'s tensors to conv layers. <paramref name="arch"/> forces an
    /// architecture (null: inferred). <paramref name="preprocessGiven"/> says whether the user named
    /// the input convention, which is required to drop a leading 1x1 input-normalisation conv.
    /// Throws <see cref="SourceFormatException"/> when the tensors are not a VGG-16/19 conv stack.
    /// </summary>
    internal static Result Map(WeightSource source, VggArchitecture? arch, bool preprocessGiven)
    {
        var byKey = source.Tensors.GroupBy(t => t.Key).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // Conv weights are the 4-D ".weight" tensors; Linear layers (the classifier) are 2-D.
        var convWeights = source.Tensors.Where(t => t.Key.EndsWith(".weight", StringComparison.Ordinal)
            && t.Shape.Count == 4).ToList();
        if (convWeights.Count == 0)
            throw new SourceFormatException($"no convolution layers found among its {source.Tensors.Count} tensors");

        MappedLayer Layer(string name, SourceTensor weight)
        {
            string biasKey = weight.Key[..^".weight".Length] + ".bias";
            var bias = byKey.GetValueOrDefault(biasKey) ?? throw new SourceFormatException(
                $"conv weight {weight.Key} has no {biasKey}");
            return new MappedLayer(name, weight, bias);
        }

        if (source.Kind == SourceKind.Caffe)
            return MapCaffe(convWeights, arch, Layer);

        var torchvision = convWeights.Select(w => TorchvisionKey().Match(w.Key)).ToList();
        if (torchvision.All(m => m.Success))
        {
            var indices = torchvision.Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            var chosen = arch ?? VggArchitecture.All.FirstOrDefault(
                a => a.TorchvisionFeatureIndices.SequenceEqual(indices.Order()))
                ?? throw new SourceFormatException(
                    $"conv layers at features indices {string.Join(",", indices)} match neither vgg19 nor vgg16");
            var layers = new List<MappedLayer>();
            for (int i = 0; i < chosen.ConvNames.Count; i++)
            {
                int at = indices.IndexOf(chosen.TorchvisionFeatureIndices[i]);
                if (at < 0)
                    throw new SourceFormatException($"{chosen.Name} needs " +
                                                    $"features.{chosen.TorchvisionFeatureIndices[i]}.weight " +
                                                    $"({chosen.ConvNames[i]}), which is missing");
                layers.Add(Layer(chosen.ConvNames[i], convWeights[at]));
            }
            var extra = indices.Except(chosen.TorchvisionFeatureIndices).ToList();
            if (extra.Count > 0)
                throw new SourceFormatException($"features.{extra[0]}.weight is not a conv layer of {chosen.Name}");
            return new Result(chosen, layers, "");
        }

        return MapByOrder(convWeights, arch, preprocessGiven, Layer);
    }

    private static Result MapCaffe(
        List<SourceTensor> convWeights, VggArchitecture? arch, Func<string, SourceTensor, MappedLayer> layer)
    {
        var names = convWeights.Select(w => w.Key[..^".weight".Length]).ToList();
        var chosen = arch ?? InferFromCount(names.Count);
        if (names.All(n => chosen.ConvNames.Contains(n)))
        {
            var missing = chosen.ConvNames.FirstOrDefault(n => !names.Contains(n));
            if (missing != null)
                throw new SourceFormatException($"{chosen.Name} needs convolution layer {missing}, which is missing");
            return new Result(chosen, chosen.ConvNames.Select(n => layer(n, convWeights[names.IndexOf(n)])).ToList(),
                "");
        }
        // Layer names other than conv{b}_{i}: fall back to file order, as for generic keys.
        if (names.Count != chosen.ConvNames.Count)
            throw new SourceFormatException(
                $"found {names.Count} convolution layers; {chosen.Name} has {chosen.ConvNames.Count}");
        return new Result(chosen, chosen.ConvNames.Select((n, i) => layer(n, convWeights[i])).ToList(),
            "layer names are not conv{b}_{i}; mapped in file order");
    }

    private static Result MapByOrder(List<SourceTensor> convWeights, VggArchitecture? arch, bool preprocessGiven,
        Func<string, SourceTensor, MappedLayer> layer)
    {
        string note = "keys are not torchvision's features.{i}; conv layers mapped in file order";
        // Some exports (e.g. AdaIN's vgg_normalised) start with a 1x1 conv that converts the image to
        // another input convention. It is not a VGG layer; dropping it is correct only if the user
        // says which convention the remaining layers expect.
        if (convWeights.Count > 0 && convWeights[0].Shape is [_, _, 1, 1])
        {
            if (!preprocessGiven)
                throw new SourceFormatException($"{convWeights[0].Key} is a 1x1 input-normalisation conv, not a VGG " +
                                                "layer; pass --preprocess caffe|torchvision to drop it and record " +
                                                "the convention the other layers expect");
            note += $"; dropped the 1x1 input conv {convWeights[0].Key}";
            convWeights = convWeights.Skip(1).ToList();
        }
        var chosen = arch ?? InferFromCount(convWeights.Count);
        if (convWeights.Count != chosen.ConvNames.Count)
            throw new SourceFormatException(
                $"found {convWeights.Count} conv layers; {chosen.Name} has {chosen.ConvNames.Count}");
        return new Result(chosen, chosen.ConvNames.Select((n, i) => layer(n, convWeights[i])).ToList(), note);
    }

    private static VggArchitecture InferFromCount(int count) =>
        VggArchitecture.All.FirstOrDefault(a => a.ConvNames.Count == count)
        ?? throw new SourceFormatException($"found {count} conv layers; vgg19 has 16 and vgg16 has 13");

    [GeneratedRegex(@"(?:^|\.)features\.(\d+)\.weight$")]
    private static partial Regex TorchvisionKey();
}
