using ILGPU;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network.Tiling;

/// <summary>
/// The device bytes of a <see cref="StyleObjective"/> by part, as a dry run prints them.
/// </summary>
/// <param name="Weights">The network's weights (and transposed copies where an input gradient is tiled).</param>
/// <param name="Network">One network's activations, masks and gradient buffers (tiled: one tile's, with the
/// tile's input and the buffers of the positions it owns).</param>
/// <param name="Targets">The style targets (Gram matrices) and the content targets (content layers at the whole
/// image's size).</param>
/// <param name="LossBuffers">The loss scalars, each style term's <c>G</c> and <c>dG</c> (and region guide), the
/// gradient normaliser's buffers.</param>
/// <param name="Total">The peak: the sum of the parts, or more while a style image's temporary network captures
/// its targets, when that network is larger than the main one.</param>
public sealed record ObjectiveMemory(long Weights, long Network, long Targets, long LossBuffers, long Total)
{
    /// <summary>The sum of the parts (what the objective holds after it is built).</summary>
    public long Held => Weights + Network + Targets + LossBuffers;
}

/// <summary>One style image's target capture in a tiled objective: its own grid and network.</summary>
/// <param name="Grid">The style image's grid (one tile when it fits in one).</param>
/// <param name="Network">The network for one of its tiles.</param>
/// <param name="ScratchLength">Floats of the buffer that owned positions are cropped into (0: every owned window is
/// a whole tile activation, nothing is cropped).</param>
/// <param name="GuideLength">Floats of the image's style guide at every style layer (0: no style guide). A guided
/// capture crops every owned window, whole or not, and weights it by the guide in place.</param>
public sealed record StyleCapturePlan(TileGrid Grid, NetworkPlan Network, int ScratchLength, int GuideLength = 0);

/// <summary>
/// What a tiled <see cref="StyleObjective"/> computes and allocates, decided from shapes alone, so that the
/// objective (which allocates exactly this) and <see cref="MemoryEstimate"/> cannot disagree.
/// </summary>
/// <remarks>
/// <para>Order of allocation, which sets the peak: the loss scalars; the style targets; per style image, in a
/// scope freed after it, a network for one of its tiles, that tile's input, a Gram buffer and the crop scratch;
/// then, held: the tile network, the tile's input, two crop scratches (owned features and their gradient) and
/// the Gram buffer, the content targets, each style layer's G and dG, the normaliser's scalars.</para>
/// <para>With regions (SPEC.md, "Regions") there is a set of style targets, G and dG per region, each style term
/// holds its region's guide at its layer (the whole layer's, cut into the strips the term visits), and a style
/// image with a style guide holds that guide at each style layer while its targets are captured. The guided Gram
/// is a sum over positions like the plain one, so it splits over owned positions the same way; its
/// normalisation is the whole guide's.</para>
/// <para>An evaluation: pass 1 (when there is a style loss) runs every tile forward and sums each style layer's
/// Gram over the positions the tile owns; then the style loss and dG are exact. With
/// <see cref="StyleOptions.NormalizeGradients"/> a forward pass more sums each tap's gradient's L1 norm over
/// owned positions. Pass 2 runs every tile forward and backward with each loss's gradient at owned positions
/// only (the content loss is summed here), and adds the tile's input gradient into the image's.</para>
/// </remarks>
public sealed class TilePlan
{
    private TilePlan(TileGrid grid, NetworkPlan network, IReadOnlyList<string> contentLayers,
        IReadOnlyList<string> styleLayers, IReadOnlyList<StyleCapturePlan> styles, int scratchLength,
        int gramLength, bool normalize, IReadOnlyList<ChwShape> contentShapes, long untiledFlops,
        RegionLayout? regions, long guideFloats)
    {
        Regions = regions;
        GuideFloats = guideFloats;
        Grid = grid;
        Network = network;
        ContentLayers = contentLayers;
        StyleLayers = styleLayers;
        Styles = styles;
        ScratchLength = scratchLength;
        GramLength = gramLength;
        Normalize = normalize;
        ContentShapes = contentShapes;
        UntiledFlops = untiledFlops;
    }

    /// <summary>The content image's grid (more than one tile).</summary>
    public TileGrid Grid { get; }

    /// <summary>The network of one tile, <see cref="TileGrid.LargestTile"/>, built once.</summary>
    public NetworkPlan Network { get; }

    /// <summary>The content layers (none when the content weight is 0).</summary>
    public IReadOnlyList<string> ContentLayers { get; }

    /// <summary>The style layers (none when the style weight is 0 or there is no style image).</summary>
    public IReadOnlyList<string> StyleLayers { get; }

    /// <summary>Each style image's target capture.</summary>
    public IReadOnlyList<StyleCapturePlan> Styles { get; }

    /// <summary>Floats of each of the two crop scratches of the tile network.</summary>
    public int ScratchLength { get; }

    /// <summary>Floats of the Gram buffer, the largest style layer's <c>C*C</c> (0 without a style loss).</summary>
    public int GramLength { get; }

    /// <summary>Whether each tap's gradient is divided by its L1 norm.</summary>
    public bool Normalize { get; }

    /// <summary>The regions' layout (null: one blended style loss).</summary>
    public RegionLayout? Regions { get; }

    /// <summary>Sets of style terms: one per region, or the one blended set.</summary>
    public int StyleSets => Regions?.Count ?? 1;

    /// <summary>Floats of the content guides the style terms hold: every region's at every style layer.</summary>
    public long GuideFloats { get; }

    /// <summary>The whole image's shape at each content layer (the content targets').</summary>
    public IReadOnlyList<ChwShape> ContentShapes { get; }

    /// <summary>Tile passes per evaluation: forward-only passes over every tile before the last one
    /// (pass 1 with a style loss, one more to normalise gradients), and the forward and backward pass.</summary>
    public int ForwardOnlyPasses => (StyleLayers.Count > 0 ? 1 : 0) + (Normalize ? 1 : 0);

    /// <summary>Convolution FLOPs of one untiled evaluation of the same image: a forward pass and an input
    /// gradient (as costly as the forward) through every convolution.</summary>
    public long UntiledFlops { get; }

    /// <summary>
    /// Convolution FLOPs of one tiled evaluation: per tile, <see cref="ForwardOnlyPasses"/> forward passes and
    /// one forward and backward pass, all over the tile's region (the halo is computed again by each tile), less
    /// one forward per forward-only pass (the next pass starts with the tile the network holds).
    /// </summary>
    public long TiledFlops
    {
        get
        {
            long forward = ConvFlops(Network) / 2, tiles = Grid.Tiles.Count;
            return forward * (tiles * (ForwardOnlyPasses + 1) - ForwardOnlyPasses) + forward * tiles;
        }
    }

    /// <summary>
    /// The time of a tiled evaluation relative to an untiled one, estimated by their convolution FLOPs
    /// (which are most of an evaluation's time on every device measured).
    /// </summary>
    public double RelativeTime => (double)TiledFlops / UntiledFlops;

    /// <summary>
    /// The plan for these images with cores of <paramref name="core"/> pixels (<see cref="TileGrid.For"/>);
    /// null when that grid is one tile, or when no layer is used: the objective then runs untiled.
    /// </summary>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image's shape.</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="options">The loss settings.</param>
    /// <param name="kernels">The kernels the network will run.</param>
    /// <param name="core">The tile core in pixels.</param>
    /// <param name="regions">The regions' layout (null: one blended style loss); one region per style image.</param>
    /// <exception cref="StyleSetupException">An unknown layer name.</exception>
    public static TilePlan? Build(VggWeights weights, ChwShape content, IReadOnlyList<ChwShape> styles,
        StyleOptions options, KernelChoice kernels, int core, RegionLayout? regions = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        var architecture = weights.Architecture;
        options.CheckLayers(architecture);
        var lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        var contentLayers = lossWeights.Content != 0 ? options.ContentLayers : [];
        var styleLayers = lossWeights.Style != 0 && styles.Count > 0 ? options.StyleLayers : [];
        var used = contentLayers.Concat(styleLayers).ToList();
        if (used.Count == 0) return null;
        var grid = TileGrid.For(architecture, used, content.Height, content.Width, core);
        if (grid.IsSingle) return null;

        var network = Plan(weights, grid, used, options.Pooling, kernels);
        var captures = styleLayers.Count == 0 ? [] : styles.Select((style, k) =>
        {
            var styleGrid = TileGrid.For(architecture, styleLayers, style.Height, style.Width, core);
            var styleNetwork = Plan(weights, styleGrid, styleLayers, options.Pooling, kernels);
            bool guided = regions is not null && regions.StyleGuided[k];
            return new StyleCapturePlan(styleGrid, styleNetwork,
                ScratchFor(weights, styleGrid, styleNetwork, styleLayers, cropWhole: guided),
                guided ? (int)PlaneFloats(weights, styleLayers, style) : 0);
        }).ToList();
        int gramLength = styleLayers.Count == 0 ? 0 : styleLayers.Max(l => StyleObjective.GramLength(weights, l));
        var contentShapes = contentLayers.Select(l => LayerShape(weights, l, content.Height, content.Width)).ToList();
        long untiled = ConvFlops(NetworkPlan.Build(weights, content.Height, content.Width,
            architecture.Deepest(used), options.Pooling, used, kernels));
        long guides = regions is null ? 0 : regions.Count * PlaneFloats(weights, styleLayers, content);
        return new TilePlan(grid, network, contentLayers, styleLayers, captures,
            ScratchFor(weights, grid, network, used, cropWhole: true), gramLength,
            options.NormalizeGradients, contentShapes, untiled, regions, guides);
    }

    /// <summary>The device bytes the tiled objective holds and its peak, by part (the allocation order of the
    /// remarks).</summary>
    public ObjectiveMemory Memory()
    {
        const long f = sizeof(float);
        long scalars = (4 + (Regions?.Count ?? 0)) * f;
        long styleTargets = f * StyleTargetFloats;
        long peak = scalars + styleTargets;
        foreach (var style in Styles)
        {
            long capture = style.Network.DeviceBytes() + f * style.Grid.LargestTile.Length + f * GramLength +
                           f * style.ScratchLength + f * style.GuideLength;
            peak = Math.Max(peak, scalars + styleTargets + capture);
        }
        long weights = Network.WeightBytes();
        long network = Network.DeviceBytes() - weights + f * Grid.LargestTile.Length + 2 * f * ScratchLength +
                       f * GramLength;
        long contentTargets = f * ContentShapes.Sum(s => (long)s.Length);
        long lossBuffers = scalars + 2 * styleTargets + f * GuideFloats + (Normalize ? f * NormalizerFloats : 0);
        var held = new ObjectiveMemory(weights, network, styleTargets + contentTargets, lossBuffers, 0);
        return held with { Total = Math.Max(peak, held.Held) };
    }

    /// <summary>Floats of the style targets, one <c>C*C</c> Gram matrix per style layer (and region).</summary>
    internal long StyleTargetFloats => StyleSets * StyleGramLengths.Sum(l => (long)l);

    /// <summary>Each style layer's <c>C*C</c>.</summary>
    internal IReadOnlyList<int> StyleGramLengths => StyleLayers
        .Select(l => Network.Layers.Single(p => p.ReluName == l).Output.Channels)
        .Select(c => c * c).ToList();

    /// <summary>The normaliser's device floats: a norm per tap (content layer, style layer of each set), then a
    /// partial sum, epsilon and 1.</summary>
    internal int NormalizerFloats => ContentLayers.Count + StyleSets * StyleLayers.Count + 3;

    /// <summary>The whole image's activation of a ReLU layer: <c>(C, H >> (b-1), W >> (b-1))</c>, the poolings'
    /// floors taken one after the other being the floor of the division.</summary>
    internal static ChwShape LayerShape(VggWeights weights, string reluName, int height, int width)
    {
        int shift = weights.Architecture.Block(reluName) - 1;
        int channels = weights[weights.Architecture.ConvName(reluName)].OutChannels;
        return new ChwShape(channels, height >> shift, width >> shift);
    }

    /// <summary>Positions of an image of this shape at every one of <paramref name="layers"/>: the floats of a guide
    /// at each.</summary>
    private static long PlaneFloats(VggWeights weights, IReadOnlyList<string> layers, ChwShape image) =>
        layers.Sum(l => (long)LayerShape(weights, l, image.Height, image.Width).PlaneLength);

    /// <summary>
    /// A whole layer's plane (a guide, <paramref name="whole"/>'s height x width) at the owned positions of every
    /// tile of <paramref name="grid"/>, strip after strip in grid order, the order in which the losses visit them
    /// (<see cref="Strips"/>): the owned positions partition the layer, so it has the plane's length.
    /// </summary>
    internal static float[] InStripOrder(float[] plane, ChwShape whole, TileGrid grid, int stride,
        ChwShape tileActivation)
    {
        var result = new float[plane.Length];
        int offset = 0;
        foreach (var tile in grid.Tiles)
        foreach (var strip in Strips(grid, tile, stride, tileActivation))
        {
            int top = tile.Region.Y / stride + strip.Y, left = tile.Region.X / stride + strip.X;
            for (int y = 0; y < strip.Height; y++)
                Array.Copy(plane, (top + y) * whole.Width + left, result, offset + y * strip.Width, strip.Width);
            offset += strip.Height * strip.Width;
        }
        if (offset != plane.Length)
            throw new InvalidOperationException($"The owned positions cover {offset} of {plane.Length} positions.");
        return result;
    }

    /// <summary>
    /// Views of <paramref name="all"/> (laid out as <see cref="InStripOrder"/> lays a plane out) per tile and strip:
    /// <c>[t][s]</c> holds strip s of tile t's positions.
    /// </summary>
    internal static ArrayView<float>[][] StripViews(ArrayView<float> all, TileGrid grid, int stride,
        ChwShape tileActivation)
    {
        long offset = 0;
        return grid.Tiles.Select(tile => Strips(grid, tile, stride, tileActivation).Select(strip =>
        {
            var view = all.SubView(offset, (long)strip.Height * strip.Width);
            offset += (long)strip.Height * strip.Width;
            return view;
        }).ToArray()).ToArray();
    }

    /// <summary>The convolution FLOPs of a network's forward pass and input gradient: 2 * 2*K*C*9*H*W each
    /// conv.</summary>
    internal static long ConvFlops(NetworkPlan network) => network.Layers
        .Where(l => l.Conv is not null)
        .Sum(l => 2L * 2 * l.Conv!.OutChannels * l.Conv.InChannels * 9 * l.Output.PlaneLength);

    /// <summary>Strips of rows an owned window is cut into, about this many per core.</summary>
    internal const int StripsPerCore = 8;

    /// <summary>
    /// The owned window of <paramref name="tile"/> at a layer (<see cref="TileGrid.OwnedWindow"/>) cut into strips
    /// of rows, about <see cref="StripsPerCore"/> per core, which the losses crop and process one at a time: the
    /// crop buffers then hold a strip, not the window, about an eighth of the memory. A window that is its whole
    /// activation stays whole (it is read where it is, not cropped). None for an empty window.
    /// </summary>
    internal static IEnumerable<WindowShape> Strips(TileGrid grid, Tile tile, int stride, ChwShape activation)
    {
        var window = grid.OwnedWindow(tile, stride, activation);
        if (window.IsEmpty) yield break;
        if (IsWhole(window))
        {
            yield return window;
            yield break;
        }
        int rows = Math.Max(1, (grid.Core / stride + StripsPerCore - 1) / StripsPerCore);
        for (int y = 0; y < window.Height; y += rows)
            yield return window with { Y = window.Y + y, Height = Math.Min(rows, window.Height - y) };
    }

    /// <summary>Whether a window is its whole tensor (then nothing needs cropping).</summary>
    internal static bool IsWhole(WindowShape window) =>
        window.Y == 0 && window.X == 0 && window.Height == window.Tensor.Height && window.Width == window.Tensor.Width;

    private static NetworkPlan Plan(VggWeights weights, TileGrid grid, IReadOnlyList<string> used, Pooling pooling,
        KernelChoice kernels)
    {
        var tile = grid.LargestTile;
        return NetworkPlan.Build(weights, tile.Height, tile.Width, weights.Architecture.Deepest(used), pooling,
            used, kernels);
    }

    /// <summary>
    /// The largest strip (floats) over the tiles and <paramref name="layers"/>, counting a whole activation only
    /// when <paramref name="cropWhole"/> (the tile network's losses crop every strip; a style capture reads a whole
    /// activation where it is).
    /// </summary>
    private static int ScratchFor(VggWeights weights, TileGrid grid, NetworkPlan network,
        IReadOnlyList<string> layers, bool cropWhole)
    {
        int largest = 0;
        foreach (string layer in layers)
        {
            var activation = network.Layers.Single(l => l.ReluName == layer).Output;
            int stride = TileGrid.LayerStride(weights.Architecture, layer);
            foreach (var tile in grid.Tiles)
            {
                foreach (var strip in Strips(grid, tile, stride, activation))
                    if (cropWhole || !IsWhole(strip)) largest = Math.Max(largest, strip.Length);
            }
        }
        return largest;
    }
}
