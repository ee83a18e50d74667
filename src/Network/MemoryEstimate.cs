using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// The device bytes a <see cref="StyleObjective"/> will hold at its peak, computed from shapes
/// alone, so that a run can be refused before it allocates anything (and can say how large an
/// image would fit). It mirrors the objective's allocations one for one; a test keeps the two equal.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>Peak device bytes of the objective for these images and options.</summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape (and so x's).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings.</param>
    /// <param name="tiled">Whether the network keeps transposed weights for the tiled backward (<see cref="KernelSet.PreferTiled"/>).</param>
    public static long ObjectiveBytes(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles, StyleOptions options, bool tiled = false)
    {
        var lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        var order = weights.Architecture.ConvNames.Select(n => "relu" + n[4..]).ToList();
        var contentLayers = lossWeights.Content != 0 ? options.ContentLayers : [];
        var styleLayers = lossWeights.Style != 0 && styles.Count > 0 ? options.StyleLayers : [];
        long scalars = 4 * sizeof(float);
        var used = contentLayers.Concat(styleLayers).ToList();
        if (used.Count == 0) return scalars;

        // Construction, in the objective's order: the style targets, and each style image's
        // temporary network (freed after use); then the main network, the content targets and the
        // content image (freed after use); last the style taps' G and dG.
        long styleTargets = styleLayers.Sum(l => sizeof(float) * (long)StyleObjective.GramLength(weights, l));
        long persistent = scalars + styleTargets;
        long peak = persistent;
        if (styleLayers.Count > 0)
        {
            string deepestStyle = styleLayers.MaxBy(order.IndexOf)!;
            foreach (var style in styles)
            {
                var temporary = Walk(weights, style, deepestStyle, options.Pooling, tiled);
                peak = Math.Max(peak, persistent + temporary.Bytes + sizeof(float) * (long)style.Length + styleTargets);
            }
        }

        string deepest = used.MaxBy(order.IndexOf)!;
        var network = Walk(weights, content, deepest, options.Pooling, tiled);
        persistent += network.Bytes;
        if (options.NormalizeGradients) persistent += sizeof(float) * (network.LargestRelu + 3L);
        persistent += contentLayers.Sum(l => sizeof(float) * (long)network.Relus[l].Length);
        peak = Math.Max(peak, persistent + sizeof(float) * (long)content.Length);
        persistent += 2 * styleTargets;
        return Math.Max(peak, persistent);
    }

    private sealed record NetworkBytes(long Bytes, int LargestRelu, Dictionary<string, ChwShape> Relus);

    /// <summary>What a <see cref="VggNetwork"/> up to <paramref name="deepest"/> allocates.</summary>
    private static NetworkBytes Walk(VggWeights weights, ChwShape input, string deepest, Pooling pooling, bool tiled)
    {
        long bytes = 0;
        int largest = input.Length;
        int largestRelu = 0;
        var relus = new Dictionary<string, ChwShape>();
        var shape = input;
        int block = 1;
        foreach (var conv in weights.Layers)
        {
            int convBlock = conv.Name[4] - '0';
            if (convBlock != block)
            {
                shape = MaxPool2d.OutputShape(shape);
                bytes += sizeof(float) * (long)shape.Length * (pooling == Pooling.Max ? 2 : 1); // output (+ argmax)
                largest = Math.Max(largest, shape.Length);
                block = convBlock;
            }
            bytes += sizeof(float) * ((long)conv.Weight.Length * (tiled ? 2 : 1) + conv.Bias.Length);
            shape = new ChwShape(conv.OutChannels, shape.Height, shape.Width);
            bytes += sizeof(float) * (long)shape.Length;
            largest = Math.Max(largest, shape.Length);
            largestRelu = Math.Max(largestRelu, shape.Length);
            string relu = "relu" + conv.Name[4..];
            relus[relu] = shape;
            if (relu == deepest) break;
        }
        bytes += 2L * sizeof(float) * largest; // the two ping-pong gradient buffers
        return new NetworkBytes(bytes, largestRelu, relus);
    }
}
