using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>Where a conv layer's ReLU backward learns where its output <c>y</c> was positive.</summary>
public enum ReluMaskSource
{
    /// <summary>From <c>y</c> itself, which is kept anyway because a loss reads it.</summary>
    KeptOutput,

    /// <summary>
    /// From one bit per element packed in the forward pass (<see cref="Relu.PackMask"/>): y is not kept.
    /// </summary>
    Bits,

    /// <summary>
    /// Nowhere: the output is not kept, a max pooling follows, and its argmax already says which
    /// windows pass gradient (<see cref="MaxPool2d"/>'s fused ReLU), so the conv's backward takes
    /// its gradient unmasked. (A kept output has a loss adding gradient everywhere: it masks itself.)
    /// </summary>
    MaxPooling,
}

/// <summary>One layer of a <see cref="NetworkPlan"/>: a conv + ReLU, or a pooling (<see cref="Conv"/> null).</summary>
/// <param name="Name">The conv's name (<c>conv3_2</c>) or the pooling's (<c>pool3</c>).</param>
/// <param name="ReluName">The ReLU's name, <c>relu3_2</c> for <c>conv3_2</c>; null for a pooling layer.</param>
/// <param name="Input">The input shape.</param>
/// <param name="Output">The output shape.</param>
/// <param name="Conv">The conv's shape (its weights are looked up by <see cref="Name"/> when the network is built);
/// null for a pooling layer.</param>
/// <param name="Kernels">The conv's kernel variants, as <see cref="KernelChoice"/> chose them; default for a pooling
/// layer.</param>
/// <param name="Kept">Whether the output gets a buffer of its own, valid after the forward pass (a loss reads
/// it, or the backward of the L2 pooling after it does).</param>
/// <param name="Mask">How the ReLU backward is done (conv layers).</param>
/// <param name="Scratch">Which of the two shared buffers holds the output while it is not kept: 0 or 1; -1 when
/// kept.</param>
public sealed record PlannedLayer(string Name, string? ReluName, ChwShape Input, ChwShape Output,
    Conv2dShape? Conv, ConvVariants Kernels, bool Kept, ReluMaskSource Mask, int Scratch)
{
    /// <summary>The names the layer runs under: <c>conv1_1, relu1_1</c>, or <c>pool1</c>.</summary>
    public IEnumerable<string> Names => ReluName is null ? [Name] : [Name, ReluName];
}

/// <summary>
/// What a <see cref="VggNetwork"/> computes and holds, decided from shapes alone, so that the
/// network and the up-front memory estimate (<see cref="ObjectivePlan.Memory"/>) cannot disagree.
/// </summary>
/// <remarks>
/// <para>The forward pass must keep only what is read later. Backward needs, per conv layer, not
/// the ReLU output but where it was positive (the weights are frozen, so a conv's input gradient
/// needs only the weights), and per max pooling only which element won each window. So a ReLU
/// output gets a buffer of its own only when a loss reads it ("kept"); every other output, ReLU or
/// pooling, is written into one of the two gradient buffers, which sit idle during the forward
/// pass: a layer whose input is in scratch buffer 0 writes to buffer 1 and vice versa.</para>
/// <para>Its ReLU mask is then packed into bits, or, when a max pooling follows, not kept at all:
/// the pooling's argmax already marks the windows whose maximum is 0.</para>
/// <para>An L2 pooling's backward reads its input (<see cref="L2Pool2d"/>), so with <see cref="Pooling.L2"/> the
/// ReLU output below each pooling is kept too, and masks itself: at 512 x 512 on VGG-19 relu1_2, relu2_2, relu3_4
/// and relu4_4, 120 MiB, about 116 MiB more than average pooling (whose bit masks they replace).</para>
/// <para>At 512 x 512 with the default layers this holds 5 of VGG-19's 13 ReLU outputs (those with
/// a loss) instead of all 13 and no pooling output, about 220 MB less.</para>
/// </remarks>
public sealed class NetworkPlan
{
    private NetworkPlan(IReadOnlyList<PlannedLayer> layers, int scratchLength, Pooling pooling)
    {
        Layers = layers;
        ScratchLength = scratchLength;
        Pooling = pooling;
        WinogradScratchLength = layers.Where(l => l.Conv is not null)
            .Select(l => Conv2d.WinogradScratchFloats(l.Conv!.Value, l.Kernels)).DefaultIfEmpty(0).Max();
    }

    /// <summary>The layers in forward order, ending at the deepest layer asked for.</summary>
    public IReadOnlyList<PlannedLayer> Layers { get; }

    /// <summary>Floats in each of the two shared buffers: the largest tensor, input included.</summary>
    public int ScratchLength { get; }

    /// <summary>Floats of the device scratch the layers that run Winograd on a GPU share (kernel 5's transformed
    /// input and products, <see cref="Conv2d.WinogradScratchFloats"/>); 0 where none does.</summary>
    public long WinogradScratchLength { get; }

    /// <summary>The pooling between blocks.</summary>
    public Pooling Pooling { get; }

    /// <summary>The input shape, <c>(3, H, W)</c>.</summary>
    public ChwShape Input => Layers[0].Input;

    /// <summary>Layer names in order, e.g. <c>conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...</c>.</summary>
    public IEnumerable<string> LayerNames => Layers.SelectMany(l => l.Names);

    /// <summary>The shape of a ReLU layer's output, kept or not.</summary>
    /// <exception cref="ArgumentException">The network does not compute that layer.</exception>
    public ChwShape OutputShape(string reluName) =>
        Layers.FirstOrDefault(l => l.ReluName == reluName)?.Output
        ?? throw new ArgumentException($"The network does not compute {reluName} (it stops at " +
                                       $"{Layers[^1].Names.Last()}).");

    /// <summary>
    /// Plans VGG for a <c>(3, height, width)</c> input up to the deepest of <paramref name="kept"/>, keeping
    /// the ReLU outputs named there, with the kernels <paramref name="kernels"/> chooses. Shapes only: it does
    /// not validate sizes (an image too small simply gets empty shapes; <see cref="VggNetwork"/> refuses it).
    /// </summary>
    /// <exception cref="StyleSetupException">An unknown layer name.</exception>
    /// <exception cref="ArgumentException">No layer named.</exception>
    public static NetworkPlan Build(VggWeights weights, int height, int width, Pooling pooling,
        IReadOnlyCollection<string> kept, KernelChoice kernels)
    {
        var architecture = weights.Architecture;
        foreach (string name in kept) architecture.CheckReluName(name);
        string deepestLayer = architecture.Deepest(kept);
        var shapes = new List<(string Name, string? Relu, ChwShape Input, ChwShape Output, bool Conv)>();
        var shape = new ChwShape(3, height, width);
        int block = 1;
        foreach (var conv in weights.Layers)
        {
            int convBlock = architecture.Block(conv.Name);
            if (convBlock != block)
            {
                var pooled = MaxPool2d.OutputShape(shape);
                shapes.Add((VggArchitecture.PoolName(block), null, shape, pooled, false));
                shape = pooled;
                block = convBlock;
            }
            var output = new ChwShape(conv.OutChannels, shape.Height, shape.Width);
            string relu = architecture.ReluName(conv.Name);
            shapes.Add((conv.Name, relu, shape, output, true));
            shape = output;
            if (relu == deepestLayer) break;
        }

        var layers = new List<PlannedLayer>();
        int previousScratch = -1; // the input image is not in scratch
        for (int k = 0; k < shapes.Count; k++)
        {
            var (name, relu, input, output, isConv) = shapes[k];
            bool poolNext = k + 1 < shapes.Count && !shapes[k + 1].Conv;
            bool isKept = relu is not null && (kept.Contains(relu) || poolNext && pooling == Pooling.L2);
            bool maxPoolNext = poolNext && pooling == Pooling.Max;
            // A kept output masks its own gradient: a loss adds gradient at every element, not only
            // at the pooling's winners, so a pooling after it cannot stand in for its mask.
            var mask = isKept ? ReluMaskSource.KeptOutput
                : maxPoolNext ? ReluMaskSource.MaxPooling
                : ReluMaskSource.Bits;
            int scratch = isKept ? -1 : previousScratch == 0 ? 1 : 0;
            Conv2dShape? conv = isConv ? Conv2dShape.Vgg(input.Channels, input.Height, input.Width, output.Channels)
                : null;
            var variants = conv is not { } c || input.Length == 0 ? default : kernels.Conv(c);
            layers.Add(new PlannedLayer(name, relu, input, output, conv, variants, isKept, mask, scratch));
            previousScratch = scratch;
        }

        int largest = Math.Max(3 * height * width, shapes.Count == 0 ? 0 : shapes.Max(s => s.Output.Length));
        return new NetworkPlan(layers, largest, pooling);
    }

    /// <summary>
    /// The part of <see cref="DeviceBytes"/> that is weights: each conv's bias, its weights where a direction reads
    /// them (<see cref="Conv2d.ReadsWeight"/>), and W' for a tiled input gradient. The filters its variants read
    /// prepared instead of W (<see cref="Filters"/>) are not the network's: the objective holds them once for all its
    /// networks (<see cref="PreparedFilters"/>).
    /// </summary>
    public long WeightBytes() => Layers.Sum(WeightBytes);

    /// <summary>The filters the layers' variants read prepared instead of W (<see cref="Conv2d.OwnFilters"/>),
    /// which the network finds in a <see cref="PreparedFilters"/>.</summary>
    public IEnumerable<PlannedFilter> Filters() => Layers.Where(l => l.Conv is not null && l.Input.Length > 0)
        .SelectMany(l => Conv2d.OwnFilters(l.Conv!.Value, l.Kernels)
            .Select(key => new PlannedFilter(l.Name, key, key.Floats(l.Conv!.Value))));

    /// <summary>
    /// Device bytes the network allocates: weights and W', kept outputs, masks, argmax, the two shared buffers, and
    /// the Winograd scratch of a GPU.
    /// </summary>
    public long DeviceBytes()
    {
        long bytes = 2L * sizeof(float) * ScratchLength + sizeof(float) * WinogradScratchLength;
        foreach (var layer in Layers)
        {
            if (layer.Conv is not null)
            {
                bytes += WeightBytes(layer);
                if (layer.Kept) bytes += sizeof(float) * (long)layer.Output.Length;
                if (layer.Mask == ReluMaskSource.Bits) bytes += sizeof(uint) * Relu.MaskWords(layer.Output.Length);
            }
            else if (Pooling == Pooling.Max)
            {
                bytes += layer.Output.Length; // one byte of argmax per window
            }
        }
        return bytes;
    }

    /// <summary>
    /// The convolution FLOPs of a forward pass and an input gradient (as costly as the forward): 2 * 2*K*C*9*H*W
    /// each conv.
    /// </summary>
    public long ConvFlops() => Layers.Where(l => l.Conv is not null).Sum(l => 2 * 2 * l.Conv!.Value.MultiplyAdds);

    /// <summary>A conv's weights (where a direction reads them, <see cref="Conv2d.ReadsWeight"/>) and bias on the
    /// device, and the transposed copy a tiled input gradient reads; nothing for a pooling.</summary>
    private static long WeightBytes(PlannedLayer layer)
    {
        if (layer.Conv is not { } conv) return 0;
        long weight = Conv2d.ReadsWeight(conv, layer.Kernels) ? conv.WeightLength : 0;
        return sizeof(float) * (weight + conv.OutChannels + Conv2d.TransposedFloats(conv, layer.Kernels));
    }
}
