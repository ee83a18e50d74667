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
                var temporary = NetworkPlan.Build(weights, style.Height, style.Width, deepestStyle, options.Pooling, styleLayers);
                peak = Math.Max(peak, persistent + temporary.DeviceBytes(tiled) + sizeof(float) * (long)style.Length + styleTargets);
            }
        }

        string deepest = used.MaxBy(order.IndexOf)!;
        var network = NetworkPlan.Build(weights, content.Height, content.Width, deepest, options.Pooling, used);
        var shapes = network.Layers.Where(l => l.ReluName is not null).ToDictionary(l => l.ReluName!, l => l.Output);
        persistent += network.DeviceBytes(tiled);
        if (options.NormalizeGradients) persistent += sizeof(float) * (used.Max(l => shapes[l].Length) + 3L);
        persistent += contentLayers.Sum(l => sizeof(float) * (long)shapes[l].Length);
        peak = Math.Max(peak, persistent + sizeof(float) * (long)content.Length);
        persistent += 2 * styleTargets;
        return Math.Max(peak, persistent);
    }
}
