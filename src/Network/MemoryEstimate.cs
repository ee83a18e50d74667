using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// The device bytes a <see cref="StyleObjective"/> (and a whole run) will hold at its peak, computed
/// from shapes alone, so that a run can be refused before it allocates anything (and can say how
/// large an image would fit). It mirrors the objective's allocations one for one; a test keeps the two equal.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>Peak device bytes of the objective for these images and options.</summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape (and so x's).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings (their layer names are checked first).</param>
    /// <param name="kernels">The kernels the network will run (the tiled input gradients keep transposed
    /// weights).</param>
    /// <exception cref="StyleSetupException">An unknown or repeated layer name.</exception>
    public static long ObjectiveBytes(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels)
    {
        var architecture = weights.Architecture;
        options.CheckLayers(architecture);
        var lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
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
        var shapes = network.Layers.Where(l => l.ReluName is not null).ToDictionary(l => l.ReluName!, l => l.Output);
        persistent += network.DeviceBytes();
        if (options.NormalizeGradients) persistent += sizeof(float) * (used.Max(l => shapes[l].Length) + 3L);
        persistent += contentLayers.Sum(l => sizeof(float) * (long)shapes[l].Length);
        peak = Math.Max(peak, persistent + sizeof(float) * (long)content.Length);
        persistent += 2 * styleTargets;
        return Math.Max(peak, persistent);
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
    public static long RunBytes(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, Func<int, long> optimizerBytes)
    {
        // Checked before anything else: past int.MaxValue elements ChwShape.Length itself would wrap around.
        if (styles.Append(content).Any(s => LargestActivation(weights, s) > int.MaxValue)) return long.MaxValue;
        return ObjectiveBytes(weights, content, styles, options, kernels) + optimizerBytes(content.Length) +
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
