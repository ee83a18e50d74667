namespace IlgpuStyle.Network.Weights;

/// <summary>
/// The layer plan of a VGG network's convolutional part: how many 3x3 convolutions each of the
/// five blocks holds (a 2x2 max pool ends every block). Names follow SPEC.md: <c>conv{block}_{index}</c>.
/// </summary>
public sealed class VggArchitecture
{
    private VggArchitecture(string name, int[] convsPerBlock)
    {
        Name = name;
        var names = new List<string>();
        var indices = new List<int>();
        int featureIndex = 0;
        for (int block = 0; block < convsPerBlock.Length; block++)
        {
            for (int i = 0; i < convsPerBlock[block]; i++)
            {
                names.Add($"conv{block + 1}_{i + 1}");
                indices.Add(featureIndex);
                featureIndex += 2; // torchvision's features: Conv2d, then ReLU
            }
            featureIndex += 1; // the MaxPool2d that closes the block
        }
        ConvNames = names;
        TorchvisionFeatureIndices = indices;
    }

    /// <summary>VGG-19: 2, 2, 4, 4, 4 convolutions per block (16 in all).</summary>
    public static VggArchitecture Vgg19 { get; } = new("vgg19", [2, 2, 4, 4, 4]);

    /// <summary>VGG-16: 2, 2, 3, 3, 3 convolutions per block (13 in all).</summary>
    public static VggArchitecture Vgg16 { get; } = new("vgg16", [2, 2, 3, 3, 3]);

    /// <summary>Both supported architectures.</summary>
    public static IReadOnlyList<VggArchitecture> All { get; } = [Vgg19, Vgg16];

    /// <summary><c>vgg19</c> or <c>vgg16</c>, as written in a weights file's <c>__metadata__</c>.</summary>
    public string Name { get; }

    /// <summary>Conv layer names in network order: <c>conv1_1, conv1_2, conv2_1, ...</c>.</summary>
    public IReadOnlyList<string> ConvNames { get; }

    /// <summary>
    /// For each conv layer, its index in torchvision's <c>features</c> Sequential (keys
    /// <c>features.{i}.weight</c>): e.g. VGG-19 0, 2, 5, 7, 10, ... where the gaps are ReLUs and pools.
    /// </summary>
    public IReadOnlyList<int> TorchvisionFeatureIndices { get; }

    /// <summary>Looks an architecture up by name; null when it is neither <c>vgg19</c> nor <c>vgg16</c>.</summary>
    public static VggArchitecture? Find(string? name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <inheritdoc/>
    public override string ToString() => Name;
}
