using IlgpuStyle.Network.Losses;

namespace IlgpuStyle.Network;

/// <summary>
/// The device bytes of an objective by part, as a dry run prints them.
/// </summary>
/// <param name="Weights">The network's weights (and transposed copies where an input gradient is tiled), and the
/// filters its networks read prepared, once (<see cref="ObjectivePlan.Filters"/>).</param>
/// <param name="Network">One network's activations, masks and gradient buffers (tiled: one tile's, with the
/// tile's input and the buffers of the positions it owns).</param>
/// <param name="Targets">The style targets (Gram matrices) and the content targets (content layers at the whole
/// image's size).</param>
/// <param name="LossBuffers">The loss scalars, each style term's <c>G</c> and <c>dG</c> (and region guide), the
/// gradient normaliser's buffers.</param>
/// <param name="Input">Luminance-only, the grey network input replicated from y, its gradient and y's TV scalar;
/// otherwise 0.</param>
/// <param name="Total">The peak: the sum of the parts, or more while a style image's temporary network captures
/// its targets (or the content image is forwarded for its own), when that is more than the objective holds
/// after.</param>
public sealed record ObjectiveMemory(long Weights, long Network, long Targets, long LossBuffers, long Input,
    long Total)
{
    /// <summary>The sum of the parts (what the objective holds after it is built).</summary>
    public long Held => Weights + Network + Targets + LossBuffers + Input;
}

public sealed partial class ObjectivePlan
{
    private const long F = sizeof(float);

    /// <summary>
    /// Counts what the objective allocates, in its order: what it holds by part, and its peak (temporaries held
    /// while targets are captured count towards the peak only).
    /// </summary>
    private ObjectiveMemory Count()
    {
        var tally = new Tally();
        // The prepared filters, held before anything else (PreparedFilters): a run's are made before the objective.
        tally.Weights(F * Filters.Sum(f => f.Floats));
        bool temporal = Loss.Temporal != 0;
        // The loss scalars: total, content, style, tv, regions', temporal.
        tally.Loss(F * (4 + (Loss.Regions?.Count ?? 0) + (temporal ? 1 : 0)));
        // Video's temporal target (the previous result warped, the input's shape) and its per-pixel weights.
        if (temporal) tally.Targets(F * ((long)Input.Length + Input.PlaneLength));
        if (Tiles is not null) CountTiled(tally);
        else if (Network is not null) CountWhole(tally, Network);
        if (Loss.Luminance) tally.Input(F * (2L * Input.Length + 1));
        return tally.Result();
    }

    /// <summary>
    /// The whole-image objective (WholeImageObjective.cs): the style targets, each style image's network while it
    /// captures them, the main network, the normaliser, the content targets, the content image while it is
    /// forwarded, then the style taps' buffers.
    /// </summary>
    private void CountWhole(Tally tally, NetworkPlan network)
    {
        if (Loss.StyleLoss == StyleLossKind.W2)
        {
            CountWholeW2(tally, network);
            return;
        }
        long grams = Loss.Style.Sum(l => F * l.GramLength);
        tally.Targets(Loss.StyleSets * grams);
        for (int k = 0; k < StyleNetworks.Count; k++)
        {
            long capture = StyleNetworks[k].DeviceBytes() + F * Styles[k].Length + StyleFilterBytes(k);
            // Blended, a Gram per layer to add in; a region's guided capture, guided features and the guides.
            capture += Loss.Regions is not { } regions ? grams
                : regions.StyleGuided[k] ? GuideBytes(StyleNetworks[k], guides: 1) : 0;
            tally.Briefly(capture);
        }
        tally.Network(network);
        if (Loss.Normalize) tally.Loss(F * (Loss.UsedLayers.Max(l => network.OutputShape(l).Length) + 3L));
        tally.Targets(Loss.Content.Sum(l => F * network.OutputShape(l.Name).Length));
        if (Loss.Content.Count > 0) tally.Briefly(F * Input.Length);
        if (Loss.Regions is null) tally.Loss(2 * grams);
        else if (Loss.Style.Count > 0)
            tally.Loss(GuideBytes(network, Loss.Regions.Count) + Loss.Regions.Count * 2 * grams);
    }

    /// <summary>The Wasserstein-2 form (WholeImageObjective.ConstructW2): the targets, the blended moments while
    /// the style images' networks capture them (each with a moment scratch per layer), the main network, the
    /// normaliser, the content targets, then each tap's work buffers.</summary>
    private void CountWholeW2(Tally tally, NetworkPlan network)
    {
        long targets = Loss.Style.Sum(l => F * W2Target.Floats(l.Channels));
        tally.Targets(targets);
        for (int k = 0; k < StyleNetworks.Count; k++)
            tally.Briefly(targets + StyleFilterBytes(k) + StyleNetworks[k].DeviceBytes() + F * Styles[k].Length +
                          targets);
        tally.Network(network);
        if (Loss.Normalize) tally.Loss(F * (Loss.UsedLayers.Max(l => network.OutputShape(l).Length) + 3L));
        tally.Targets(Loss.Content.Sum(l => F * network.OutputShape(l.Name).Length));
        if (Loss.Content.Count > 0) tally.Briefly(F * Input.Length);
        tally.Loss(Loss.Style.Sum(l => F * W2StyleLoss.WorkFloats(l.Channels)));
    }

    /// <summary>The filters style image k's network makes for its capture alone (<see cref="StyleFilters"/>).
    /// </summary>
    private long StyleFilterBytes(int k) => F * StyleFilters[k].Sum(f => f.Floats);

    /// <summary>A scratch the size of the largest style layer's output, and <paramref name="guides"/> guides
    /// (one per region, or a style image's one) at each style layer.</summary>
    private long GuideBytes(NetworkPlan network, int guides)
    {
        long scratch = Loss.Style.Max(l => (long)network.OutputShape(l.Name).Length);
        return F * (scratch + guides * Loss.Style.Sum(l => (long)network.OutputShape(l.Name).PlaneLength));
    }

    /// <summary>
    /// The tiled objective (<see cref="Tiling.TiledObjective"/>, <see cref="Tiling.TilePlan"/>'s order): the style
    /// targets, each style image's capture (its tile network, a tile's input, a Gram, the crop scratch and its
    /// guides), the tile network with its input, crop scratches and Gram, the content targets, then the style
    /// terms' G, dG and guides and the normaliser.
    /// </summary>
    private void CountTiled(Tally tally)
    {
        var tiles = Tiles!;
        long styleTargets = Loss.StyleSets * Loss.Style.Sum(l => F * l.GramLength);
        tally.Targets(styleTargets);
        foreach (var (style, k) in tiles.Styles.Select((style, k) => (style, k)))
        {
            tally.Briefly(StyleFilterBytes(k) + style.Network.DeviceBytes() + F * style.Grid.LargestTile.Length +
                          F * tiles.GramLength +
                          F * style.ScratchLength + F * style.GuideLength);
        }
        tally.Network(tiles.Network);
        tally.Network(F * tiles.Grid.LargestTile.Length + 2 * F * tiles.ScratchLength + F * tiles.GramLength);
        tally.Targets(Loss.Content.Sum(l => F * LayerShape(l).Length));
        tally.Loss(2 * styleTargets + F * tiles.GuideFloats + F * tiles.NormalizerFloats);
    }

    /// <summary>Bytes as <see cref="DeviceMemory"/> counts them: held by part, and the peak.</summary>
    private sealed class Tally
    {
        private long _weights, _network, _targets, _loss, _input, _peak;

        private long Held => _weights + _network + _targets + _loss + _input;

        public void Targets(long bytes) => Hold(ref _targets, bytes);

        public void Weights(long bytes) => Hold(ref _weights, bytes);

        public void Loss(long bytes) => Hold(ref _loss, bytes);

        public void Input(long bytes) => Hold(ref _input, bytes);

        public void Network(long bytes) => Hold(ref _network, bytes);

        /// <summary>A network's weights, and the rest of its buffers.</summary>
        public void Network(NetworkPlan network)
        {
            long weights = network.WeightBytes();
            Hold(ref _weights, weights);
            Hold(ref _network, network.DeviceBytes() - weights);
        }

        /// <summary>Buffers allocated in a scope and freed at its end: they count towards the peak only.</summary>
        public void Briefly(long bytes) => _peak = Math.Max(_peak, Held + bytes);

        public ObjectiveMemory Result() =>
            new(_weights, _network, _targets, _loss, _input, Math.Max(_peak, Held));

        private void Hold(ref long part, long bytes)
        {
            part += bytes;
            _peak = Math.Max(_peak, Held);
        }
    }
}
