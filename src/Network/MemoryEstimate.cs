using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// The device bytes a <see cref="StyleObjective"/> (and a whole run) will hold at its peak, computed
/// from shapes alone, so that a run can be refused before it allocates anything (and can say how
/// large an image would fit). It mirrors the objective's allocations one for one; a test keeps the two equal.
/// </summary>
public static partial class MemoryEstimate
{
    /// <summary>Peak device bytes of the objective for these images and options.</summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape (and so x's).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings (their layer names are checked first).</param>
    /// <param name="kernels">The kernels the network will run (the tiled input gradients keep transposed
    /// weights).</param>
    /// <param name="tileCore">The objective's tile core (null: untiled).</param>
    /// <param name="regions">The regions' layout, when the style loss is guided (null: one blended style
    /// loss).</param>
    /// <exception cref="StyleSetupException">An unknown or repeated layer name.</exception>
    public static long ObjectiveBytes(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, int? tileCore = null, RegionLayout? regions = null) =>
        Objective(weights, content, styles, options, kernels, tileCore, regions).Total;

    /// <summary>
    /// <see cref="ObjectiveBytes"/> by part: weights, one network's (tiled: one tile's) buffers, targets, loss
    /// buffers, and the peak.
    /// </summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape (and so x's).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings (their layer names are checked first).</param>
    /// <param name="kernels">The kernels the network will run.</param>
    /// <param name="tileCore">The objective's tile core (null: untiled).</param>
    /// <param name="regions">The regions' layout, when the style loss is guided (null: one blended style
    /// loss).</param>
    /// <exception cref="StyleSetupException">An unknown or repeated layer name.</exception>
    public static ObjectiveMemory Objective(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, int? tileCore = null, RegionLayout? regions = null)
    {
        if (tileCore is { } core && TilePlan.Build(weights, content, styles, options, kernels, core, regions) is
            { } plan)
            return plan.Memory();
        var architecture = weights.Architecture;
        options.CheckLayers(architecture);
        var lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        var contentLayers = lossWeights.Content != 0 ? options.ContentLayers : [];
        var styleLayers = lossWeights.Style != 0 && styles.Count > 0 ? options.StyleLayers : [];
        long scalars = (4 + (regions?.Count ?? 0)) * sizeof(float);
        var used = contentLayers.Concat(styleLayers).ToList();
        if (used.Count == 0) return new ObjectiveMemory(0, 0, 0, scalars, scalars);
        if (regions is not null) return RegionObjective(weights, content, styles, options, kernels, regions);

        // Construction, in the objective's order: the style targets, and each style image's
        // temporary network (freed after use); then the main network, the content targets and the
        // content image (freed after use); last the style taps' G and dG.
        long styleTargets = styleLayers.Sum(l => sizeof(float) * (long)StyleObjective.GramLength(weights, l));
        long persistent = scalars + styleTargets;
        long peak = persistent;
        if (styleLayers.Count > 0)
        {
            string deepestStyle = architecture.Deepest(styleLayers);
            foreach (var style in styles)
            {
                var temporary = NetworkPlan.Build(weights, style.Height, style.Width, deepestStyle,
                    options.Pooling, styleLayers, kernels);
                peak = Math.Max(peak,
                    persistent + temporary.DeviceBytes() + sizeof(float) * (long)style.Length + styleTargets);
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
        persistent += 2 * styleTargets;
        long weightBytes = network.WeightBytes();
        return new ObjectiveMemory(weightBytes, network.DeviceBytes() - weightBytes, styleTargets + contentTargets,
            scalars + 2 * styleTargets + normalizer, Math.Max(peak, persistent));
    }

    /// <summary>
    /// Device bytes a whole run needs: the objective, the optimizer and x itself; <see cref="long.MaxValue"/>
    /// when an activation would have more than 2^31 elements, which no device can run (the kernels index
    /// with int), however large its memory.
    /// </summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape (and so x's).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings.</param>
    /// <param name="kernels">The kernels the network will run.</param>
    /// <param name="optimizerBytes">The optimizer's device bytes for an x of this many floats.</param>
    /// <param name="tileCore">The objective's tile core (null: untiled).</param>
    /// <param name="regions">The regions' layout, when the style loss is guided.</param>
    public static long RunBytes(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, Func<int, long> optimizerBytes, int? tileCore = null,
        RegionLayout? regions = null)
    {
        // Checked before anything else: past int.MaxValue elements ChwShape.Length itself would wrap around.
        // Tiled, no activation is the whole image's, but the content targets are, at their layers.
        options.CheckLayers(weights.Architecture);
        bool tooLarge = tileCore is null
            ? styles.Append(content).Any(s => LargestActivation(weights, s) > int.MaxValue)
            : 3L * content.Height * content.Width > int.MaxValue ||
              options.ContentLayers.Any(l => ContentLayerLength(weights, l, content) > int.MaxValue);
        if (tooLarge) return long.MaxValue;
        return ObjectiveBytes(weights, content, styles, options, kernels, tileCore, regions) +
               optimizerBytes(content.Length) +
               sizeof(float) * (long)content.Length;
    }

    /// <summary>
    /// Elements of the largest tensor VGG makes from an input of this shape (the input included), in long arithmetic.
    /// </summary>
    public static long LargestActivation(VggWeights weights, ChwShape input)
    {
        long largest = 3L * input.Height * input.Width;
        foreach (var conv in weights.Layers)
        {
            // A 2x2 pooling (floor) before each block after the first.
            int pools = weights.Architecture.Block(conv.Name) - 1;
            largest = Math.Max(largest, (long)conv.OutChannels * (input.Height >> pools) * (input.Width >> pools));
        }
        return largest;
    }

    /// <summary>Elements of a ReLU layer's activation for an input of this shape, in long arithmetic.</summary>
    private static long ContentLayerLength(VggWeights weights, string reluName, ChwShape input)
    {
        int shift = weights.Architecture.Block(reluName) - 1;
        long channels = weights[weights.Architecture.ConvName(reluName)].OutChannels;
        return channels * (input.Height >> shift) * (input.Width >> shift);
    }

    /// <summary>
    /// The largest size below <paramref name="size"/> whose <paramref name="bytesAt"/> fits
    /// <paramref name="budget"/> (bisection: the bytes grow with the size), or 0 when not even 1 fits.
    /// </summary>
    public static int LargestFittingSize(int size, long budget, Func<int, long> bytesAt)
    {
        ArgumentNullException.ThrowIfNull(bytesAt);
        int low = 0, high = size;
        while (high - low > 1)
        {
            int middle = (low + high) / 2;
            if (bytesAt(middle) <= budget) low = middle; else high = middle;
        }
        return low;
    }
}
