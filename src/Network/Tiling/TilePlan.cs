using ILGPU;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network.Tiling;

/// <summary>One style image's target capture in a tiled objective: its own grid and network.</summary>
/// <param name="Grid">The style image's grid (one tile when it fits in one).</param>
/// <param name="Network">The network for one of its tiles.</param>
/// <param name="ScratchLength">Floats of the buffer that owned positions are cropped into (0: every owned window is
/// a whole tile activation, nothing is cropped).</param>
/// <param name="GuideLength">Floats of the image's style guide at every style layer (0: no style guide). A guided
/// capture crops every owned window, whole or not, and weights it by the guide in place.</param>
public sealed record StyleCapturePlan(TileGrid Grid, NetworkPlan Network, int ScratchLength, int GuideLength = 0);

/// <summary>
/// What a <see cref="TiledObjective"/> computes and allocates, decided from shapes alone: the grid, the network of
/// one tile, each style image's capture and the crop buffers; <see cref="ObjectivePlan"/> counts their bytes, in
/// the order the objective allocates them.
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
    private TilePlan(TileGrid grid, NetworkPlan network, IReadOnlyList<StyleCapturePlan> styles, int scratchLength,
        int gramLength, long guideFloats, int forwardOnlyPasses, int normalizerFloats, long untiledFlops)
    {
        Grid = grid;
        Network = network;
        Styles = styles;
        ScratchLength = scratchLength;
        GramLength = gramLength;
        GuideFloats = guideFloats;
        ForwardOnlyPasses = forwardOnlyPasses;
        NormalizerFloats = normalizerFloats;
        UntiledFlops = untiledFlops;
    }

    /// <summary>The content image's grid (more than one tile).</summary>
    public TileGrid Grid { get; }

    /// <summary>The network of one tile, <see cref="TileGrid.LargestTile"/>, built once.</summary>
    public NetworkPlan Network { get; }

    /// <summary>Each style image's target capture (none without a style loss).</summary>
    public IReadOnlyList<StyleCapturePlan> Styles { get; }

    /// <summary>Floats of each of the two crop scratches of the tile network.</summary>
    public int ScratchLength { get; }

    /// <summary>Floats of the Gram buffer, the largest style layer's <c>C*C</c> (0 without a style loss).</summary>
    public int GramLength { get; }

    /// <summary>Floats of the content guides the style terms hold: every region's at every style layer.</summary>
    public long GuideFloats { get; }

    /// <summary>Tile passes per evaluation: forward-only passes over every tile before the last one
    /// (pass 1 with a style loss, one more to normalise gradients), and the forward and backward pass.</summary>
    public int ForwardOnlyPasses { get; }

    /// <summary>The normaliser's device floats (0 without normalisation): a norm per tap (content layer, style
    /// layer of each set), then a partial sum, epsilon and 1.</summary>
    public int NormalizerFloats { get; }

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
            long forward = Network.ConvFlops() / 2, tiles = Grid.Tiles.Count;
            return forward * (tiles * (ForwardOnlyPasses + 1) - ForwardOnlyPasses) + forward * tiles;
        }
    }

    /// <summary>
    /// The time of a tiled evaluation relative to an untiled one, estimated by their convolution FLOPs
    /// (which are most of an evaluation's time on every device measured).
    /// </summary>
    public double RelativeTime => (double)TiledFlops / UntiledFlops;

    /// <summary>
    /// The plan for a content image and style images of these shapes with cores of <paramref name="core"/> pixels
    /// (<see cref="TileGrid.For"/>); null when that grid is one tile, or when no layer is used: the objective then
    /// runs untiled.
    /// </summary>
    /// <param name="loss">The loss: its layers, pooling, normalisation and regions.</param>
    /// <param name="weights">The network's weights (their shapes).</param>
    /// <param name="kernels">The kernels the network will run.</param>
    /// <param name="content">The content image's shape (x's network input).</param>
    /// <param name="styles">The style images' shapes.</param>
    /// <param name="core">The tile core in pixels.</param>
    internal static TilePlan? Build(LossPlan loss, VggWeights weights, KernelChoice kernels, ChwShape content,
        IReadOnlyList<ChwShape> styles, int core)
    {
        var architecture = loss.Architecture;
        var used = loss.UsedLayers;
        if (used.Count == 0) return null;
        var grid = TileGrid.For(architecture, used, content.Height, content.Width, core);
        if (grid.IsSingle) return null;

        var styleLayers = loss.Style.Select(l => l.Name).ToList();
        var network = Plan(weights, grid, used, loss.Pooling, kernels);
        var captures = styleLayers.Count == 0 ? [] : styles.Select((style, k) =>
        {
            var styleGrid = TileGrid.For(architecture, styleLayers, style.Height, style.Width, core);
            var styleNetwork = Plan(weights, styleGrid, styleLayers, loss.Pooling, kernels);
            bool guided = loss.Regions is { } regions && regions.StyleGuided[k];
            return new StyleCapturePlan(styleGrid, styleNetwork,
                ScratchFor(architecture, styleGrid, styleNetwork, styleLayers, cropWhole: guided),
                guided ? (int)PlaneFloats(loss, style) : 0);
        }).ToList();
        int gramLength = loss.Style.Count == 0 ? 0 : loss.Style.Max(l => l.GramLength);
        long untiled = NetworkPlan.Build(weights, content.Height, content.Width, loss.Pooling, used, kernels)
            .ConvFlops();
        long guides = loss.Regions is null ? 0 : loss.Regions.Count * PlaneFloats(loss, content);
        int forwardOnly = (loss.Style.Count > 0 ? 1 : 0) + (loss.Normalize ? 1 : 0);
        int normalizer = loss.Normalize ? loss.Content.Count + loss.StyleSets * loss.Style.Count + 3 : 0;
        return new TilePlan(grid, network, captures, ScratchFor(architecture, grid, network, used, cropWhole: true),
            gramLength, guides, forwardOnly, normalizer, untiled);
    }

    /// <summary>Positions of an image of this shape at every style layer: the floats of a guide at each.</summary>
    private static long PlaneFloats(LossPlan loss, ChwShape image) => loss.Style.Sum(l =>
        (long)loss.Architecture.LayerShape(l.Name, l.Channels, image.Height, image.Width).PlaneLength);

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
        KernelChoice kernels) =>
        NetworkPlan.Build(weights, grid.LargestTile.Height, grid.LargestTile.Width, pooling, used, kernels);

    /// <summary>
    /// The largest strip (floats) over the tiles and <paramref name="layers"/>, counting a whole activation only
    /// when <paramref name="cropWhole"/> (the tile network's losses crop every strip; a style capture reads a whole
    /// activation where it is).
    /// </summary>
    private static int ScratchFor(VggArchitecture architecture, TileGrid grid, NetworkPlan network,
        IReadOnlyList<string> layers, bool cropWhole)
    {
        int largest = 0;
        foreach (string layer in layers)
        {
            var activation = network.OutputShape(layer);
            int stride = architecture.Stride(layer);
            foreach (var tile in grid.Tiles)
            {
                foreach (var strip in Strips(grid, tile, stride, activation))
                    if (cropWhole || !IsWhole(strip)) largest = Math.Max(largest, strip.Length);
            }
        }
        return largest;
    }
}
