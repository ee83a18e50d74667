using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

public static partial class MemoryEstimate
{
    /// <summary>
    /// <see cref="Objective"/> with regions (StyleObjective.Regions.cs), in the objective's order:
    /// the scalars and every region's targets; each style image's temporary network with, when its
    /// region has a style guide, a scratch for the guided features and the guide at each layer (all
    /// freed after use); the main network, the content targets and the content image (freed after
    /// use); last the taps' shared scratch and, per region and layer, the guide, G and dG.
    /// </summary>
    private static ObjectiveMemory RegionObjective(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, RegionLayout regions)
    {
        var architecture = weights.Architecture;
        var lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        var contentLayers = lossWeights.Content != 0 ? options.ContentLayers : [];
        var styleLayers = lossWeights.Style != 0 && styles.Count > 0 ? options.StyleLayers : [];
        var used = contentLayers.Concat(styleLayers).ToList();
        long grams = styleLayers.Sum(l => sizeof(float) * (long)StyleObjective.GramLength(weights, l));
        long scalars = (4L + regions.Count) * sizeof(float);
        long persistent = scalars + regions.Count * grams;
        long peak = persistent;
        if (styleLayers.Count > 0)
        {
            string deepestStyle = architecture.Deepest(styleLayers);
            for (int r = 0; r < regions.Count; r++)
            {
                var temporary = NetworkPlan.Build(weights, styles[r].Height, styles[r].Width, deepestStyle,
                    options.Pooling, styleLayers, kernels);
                long bytes = temporary.DeviceBytes() + sizeof(float) * (long)styles[r].Length;
                if (regions.StyleGuided[r]) bytes += GuideBytes(temporary, styleLayers);
                peak = Math.Max(peak, persistent + bytes);
            }
        }

        var network = NetworkPlan.Build(weights, content.Height, content.Width, architecture.Deepest(used),
            options.Pooling, used, kernels);
        var shapes = Outputs(network);
        persistent += network.DeviceBytes();
        long normalizer = options.NormalizeGradients ? sizeof(float) * (used.Max(l => shapes[l].Length) + 3L) : 0;
        persistent += normalizer;
        long contentTargets = contentLayers.Sum(l => sizeof(float) * (long)shapes[l].Length);
        persistent += contentTargets;
        peak = Math.Max(peak, persistent + sizeof(float) * (long)content.Length);
        long taps = styleLayers.Count > 0 ? TapBytes() : 0;
        persistent += taps;
        long weightBytes = network.WeightBytes();
        return new ObjectiveMemory(weightBytes, network.DeviceBytes() - weightBytes,
            regions.Count * grams + contentTargets, scalars + normalizer + taps, Math.Max(peak, persistent));

        long TapBytes()
        {
            long scratch = sizeof(float) * (long)styleLayers.Max(l => shapes[l].Length);
            long perRegion = styleLayers.Sum(l => sizeof(float) * (long)shapes[l].PlaneLength) + 2 * grams;
            return scratch + regions.Count * perRegion;
        }
    }

    /// <summary>A scratch the size of the largest of <paramref name="layers"/>' outputs, and a guide per
    /// layer.</summary>
    private static long GuideBytes(NetworkPlan network, IReadOnlyList<string> layers)
    {
        var shapes = Outputs(network);
        long scratch = layers.Max(l => (long)shapes[l].Length);
        return sizeof(float) * (scratch + layers.Sum(l => (long)shapes[l].PlaneLength));
    }

    private static Dictionary<string, ChwShape> Outputs(NetworkPlan network) =>
        network.Layers.Where(l => l.ReluName is not null).ToDictionary(l => l.ReluName!, l => l.Output);
}
