using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Weights;

/// <summary>
/// The layer plan of a VGG network's convolutional part: how many 3x3 convolutions each of the
/// five blocks holds (a 2x2 pooling ends every block), and the names of its layers. Names follow
/// SPEC.md: <c>conv{block}_{index}</c>, its ReLU <c>relu{block}_{index}</c>, the pooling after block b
/// <c>pool{b}</c>. This class is the one place that knows how names and blocks relate.
/// </summary>
public sealed class VggArchitecture
{
    private readonly Dictionary<string, int> _block = new(StringComparer.Ordinal);      // conv and ReLU names -> block
    private readonly Dictionary<string, string> _reluOf = new(StringComparer.Ordinal);  // conv name -> ReLU name
    private readonly Dictionary<string, string> _convOf = new(StringComparer.Ordinal);  // ReLU name -> conv name
    private readonly Dictionary<string, int> _reluIndex = new(StringComparer.Ordinal);  // ReLU name -> position

    private VggArchitecture(string name, int[] convsPerBlock)
    {
        Name = name;
        var convs = new List<string>();
        var relus = new List<string>();
        var indices = new List<int>();
        int featureIndex = 0;
        for (int block = 1; block <= convsPerBlock.Length; block++)
        {
            for (int i = 1; i <= convsPerBlock[block - 1]; i++)
            {
                string conv = $"conv{block}_{i}", relu = $"relu{block}_{i}";
                convs.Add(conv);
                relus.Add(relu);
                _block[conv] = _block[relu] = block;
                _reluOf[conv] = relu;
                _convOf[relu] = conv;
                _reluIndex[relu] = relus.Count - 1;
                indices.Add(featureIndex);
                featureIndex += 2; // torchvision's features: Conv2d, then ReLU
            }
            featureIndex += 1; // the MaxPool2d that closes the block
        }
        ConvNames = convs;
        ReluNames = relus;
        TorchvisionFeatureIndices = indices;
    }

    /// <summary>VGG-19: 2, 2, 4, 4, 4 convolutions per block (16 in all).</summary>
    public static VggArchitecture Vgg19 { get; } = new("vgg19", [2, 2, 4, 4, 4]);

    /// <summary>VGG-16: 2, 2, 3, 3, 3 convolutions per block (13 in all).</summary>
    public static VggArchitecture Vgg16 { get; } = new("vgg16", [2, 2, 3, 3, 3]);

    /// <summary>Both supported architectures.</summary>
    public static IReadOnlyList<VggArchitecture> All { get; } = [Vgg19, Vgg16];

    /// <summary>
    /// The output channels of every convolution of block b (index b - 1) in both VGG-16 and VGG-19:
    /// 64, 128, 256, 512, 512. Weights files may differ (test fixtures divide them); the weights say.
    /// </summary>
    public static IReadOnlyList<int> BlockChannels { get; } = [64, 128, 256, 512, 512];

    /// <summary><c>vgg19</c> or <c>vgg16</c>, as written in a weights file's <c>__metadata__</c>.</summary>
    public string Name { get; }

    /// <summary>Conv layer names in network order: <c>conv1_1, conv1_2, conv2_1, ...</c>.</summary>
    public IReadOnlyList<string> ConvNames { get; }

    /// <summary>ReLU layer names in network order, one per conv: <c>relu1_1, relu1_2, relu2_1, ...</c>.</summary>
    public IReadOnlyList<string> ReluNames { get; }

    /// <summary>
    /// For each conv layer, its index in torchvision's <c>features</c> Sequential (keys
    /// <c>features.{i}.weight</c>): e.g. VGG-19 0, 2, 5, 7, 10, ... where the gaps are ReLUs and pools.
    /// </summary>
    public IReadOnlyList<int> TorchvisionFeatureIndices { get; }

    /// <summary>Looks an architecture up by name; null when it is neither <c>vgg19</c> nor <c>vgg16</c>.</summary>
    public static VggArchitecture? Find(string? name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The block (1 to 5) of a conv or ReLU layer: 3 for <c>conv3_2</c> and <c>relu3_2</c>.</summary>
    /// <exception cref="ArgumentException">Not a conv or ReLU layer of this architecture.</exception>
    public int Block(string layer) => _block.TryGetValue(layer, out int block) ? block : throw Unknown(layer);

    /// <summary>
    /// The stride of a conv or ReLU layer in input pixels, <c>2^(block - 1)</c>: one 2x2 pooling before each block
    /// after the first, so position p of the layer covers pixels <c>p*s .. p*s + s - 1</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Not a conv or ReLU layer of this architecture.</exception>
    public int Stride(string layer) => 1 << (Block(layer) - 1);

    /// <summary>
    /// The shape of a layer's activation for a <c>(3, height, width)</c> input, its <paramref name="channels"/> being
    /// the conv's output channels (the weights say): <c>(C, H / s, W / s)</c>, s its <see cref="Stride"/>, the
    /// poolings' floors taken one after the other being the floor of the division.
    /// </summary>
    public ChwShape LayerShape(string layer, int channels, int height, int width) =>
        new(channels, height / Stride(layer), width / Stride(layer));

    /// <summary>
    /// The receptive-field radius of a ReLU layer in input pixels: its position p reads pixels
    /// <c>p*s - r .. p*s + s - 1 + r</c> (s its stride). Each 3x3 convolution up to it adds its input's stride;
    /// a 2x2 pooling of stride s pairs positions whose pixels are adjacent and adds nothing. 70 for VGG-19's
    /// relu5_1, 38 for relu4_2.
    /// </summary>
    /// <exception cref="ArgumentException">Not a ReLU layer of this architecture.</exception>
    public int ReceptiveRadius(string reluName)
    {
        int radius = 0;
        foreach (string relu in ReluNames)
        {
            radius += Stride(relu);
            if (relu == reluName) return radius;
        }
        throw Unknown(reluName);
    }

    /// <summary>The output channels of a conv or ReLU layer in VGG-16 and VGG-19 as published
    /// (<see cref="BlockChannels"/>); a weights file may differ, and then the weights say.</summary>
    public int OutChannels(string layer) => BlockChannels[Block(layer) - 1];

    /// <summary>The ReLU that follows a conv: <c>relu4_2</c> for <c>conv4_2</c>.</summary>
    /// <exception cref="ArgumentException">Not a conv layer of this architecture.</exception>
    public string ReluName(string convName) => _reluOf.TryGetValue(convName,
        out string? relu) ? relu : throw Unknown(convName);

    /// <summary>The conv a ReLU follows: <c>conv4_2</c> for <c>relu4_2</c>.</summary>
    /// <exception cref="ArgumentException">Not a ReLU layer of this architecture.</exception>
    public string ConvName(string reluName) => _convOf.TryGetValue(reluName,
        out string? conv) ? conv : throw Unknown(reluName);

    /// <summary>The pooling that closes block <paramref name="block"/>: <c>pool3</c>.</summary>
    public static string PoolName(int block) => $"pool{block}";

    /// <summary>The deepest of some ReLU layers (the one latest in the network): where a network may stop.</summary>
    /// <exception cref="ArgumentException">An unknown name, or none at all.</exception>
    public string Deepest(IEnumerable<string> reluNames)
    {
        string? deepest = null;
        foreach (string name in reluNames)
        {
            int index = _reluIndex.TryGetValue(name, out int i) ? i : throw Unknown(name);
            if (deepest is null || index > _reluIndex[deepest]) deepest = name;
        }
        return deepest ?? throw new ArgumentException("No layer was named.", nameof(reluNames));
    }

    /// <summary>
    /// The one check of a user's layer name: a ReLU layer of this architecture, or a
    /// <see cref="StyleSetupException"/> whose one-line message lists the layers there are.
    /// </summary>
    /// <param name="name">The name to check, e.g. <c>relu4_2</c>.</param>
    /// <param name="role">What the layer is for, for the message (<c>content</c>, <c>style</c>); null for none.</param>
    public void CheckReluName(string name, string? role = null)
    {
        if (!_reluIndex.ContainsKey(name))
        {
            string what = role is null ? "layer" : role + " layer";
            throw new StyleSetupException($"Unknown {what} '{name}': the layers are {string.Join(", ", ReluNames)}.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    private ArgumentException Unknown(string layer) => new($"{Name} has no layer '{layer}'.", nameof(layer));
}
