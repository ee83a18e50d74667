using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// What the objective computes and allocates for images of one size, decided from shapes alone and made once:
/// its loss (<see cref="LossPlan"/>), x's shape, the networks it builds (the whole image's, or one tile's with its
/// <see cref="TilePlan"/>), and the device bytes they take by part (<see cref="Memory"/>). The objective is built
/// from it (<see cref="StyleObjectives.Create"/>) and allocates exactly what it counts; the planner reads the same
/// value, so the memory estimate is the allocation.
/// </summary>
public sealed partial class ObjectivePlan
{
    private readonly VggWeights _weights;  // what it was planned for: an objective built from it serves
    private readonly KernelChoice _kernels; // a plan made from the same weights and kernels, and equal values

    private ObjectivePlan(LossPlan loss, VggWeights weights, KernelChoice kernels, ChwShape input,
        IReadOnlyList<ChwShape> styles, NetworkPlan? network, IReadOnlyList<NetworkPlan> styleNetworks,
        TilePlan? tiles, bool indexable)
    {
        _weights = weights;
        _kernels = kernels;
        Loss = loss;
        Input = input;
        Styles = styles;
        Network = network;
        StyleNetworks = styleNetworks;
        Tiles = tiles;
        Indexable = indexable;
        Filters = new[] { Network, Tiles?.Network }.OfType<NetworkPlan>().SelectMany(n => n.Filters())
            .DistinctBy(f => (f.Layer, f.Key)).ToList();
        var held = Filters.Select(f => (f.Layer, f.Key)).ToHashSet();
        StyleFilters = StyleNetworks.Concat(Tiles?.Styles.Select(s => s.Network) ?? [])
            .Select(n => (IReadOnlyList<PlannedFilter>)n.Filters().Where(f => !held.Contains((f.Layer, f.Key)))
                .ToList())
            .ToList();
        Memory = indexable ? Count() : null;
    }

    /// <summary>
    /// The filters the image's (or a tile's) network reads prepared instead of W (<see cref="PreparedFilters"/>),
    /// held for the objective's life and counted in its weights; the style images' networks read them too.
    /// </summary>
    public IReadOnlyList<PlannedFilter> Filters { get; }

    /// <summary>
    /// Per style image (<see cref="StyleNetworks"/>, or the tiles' style captures), the filters its network reads
    /// that <see cref="Filters"/> does not hold (its layers may pick another tile at its size): made for its
    /// capture only, and freed with its network.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<PlannedFilter>> StyleFilters { get; }

    /// <summary>Whether the plan was made for <paramref name="weights"/> (the same object).</summary>
    public bool PlannedFor(VggWeights weights) => ReferenceEquals(_weights, weights);

    /// <summary>The loss: its terms, layers, weights, blend and regions.</summary>
    public LossPlan Loss { get; }

    /// <summary>The network's input, <c>(3, H, W)</c>: the content image's shape (a texture's size).</summary>
    public ChwShape Input { get; }

    /// <summary>The shape of x, the variable: <see cref="Input"/>, or <c>(1, H, W)</c> when only the luminance is
    /// optimized.</summary>
    public ChwShape Variable => Loss.VariableShape(Input);

    /// <summary>The style images' shapes.</summary>
    public IReadOnlyList<ChwShape> Styles { get; }

    /// <summary>The whole image's network, untiled; null when tiled, when no layer is used (only total variation)
    /// or when a tensor could not be indexed.</summary>
    public NetworkPlan? Network { get; }

    /// <summary>Untiled, the network each style image is forwarded through once for its targets (none without a
    /// style loss).</summary>
    public IReadOnlyList<NetworkPlan> StyleNetworks { get; }

    /// <summary>The tiles, or null when the image is evaluated whole.</summary>
    public TilePlan? Tiles { get; }

    /// <summary>Whether the image is evaluated tile by tile.</summary>
    public bool IsTiled => Tiles is not null;

    /// <summary>
    /// Whether every tensor the objective holds has at most 2^31 elements: the kernels index with int, so no
    /// device can run more, however large its memory. Untiled, VGG's activations of every image; tiled, x, the
    /// content targets (whole-image tensors) and every tile's activations; and every style image whole (the host
    /// holds it as one array).
    /// </summary>
    public bool Indexable { get; }

    /// <summary>The device bytes by part and at the peak; null when not <see cref="Indexable"/>.</summary>
    public ObjectiveMemory? Memory { get; }

    /// <summary>
    /// Every convolution shape the objective's networks run (the image's or a tile's, each style image's), once
    /// each: what per-layer tuning times before the plan is made again with the measured variants.
    /// </summary>
    public IEnumerable<Conv2dShape> ConvShapes() =>
        Networks().SelectMany(n => n.Layers).Select(l => l.Conv).OfType<Conv2dShape>().Distinct();

    /// <summary>Every network the objective builds: the image's or a tile's, then each style image's.</summary>
    private IEnumerable<NetworkPlan> Networks()
    {
        var networks = new List<NetworkPlan?> { Network, Tiles?.Network };
        networks.AddRange(StyleNetworks);
        networks.AddRange(Tiles?.Styles.Select(s => s.Network) ?? []);
        return networks.OfType<NetworkPlan>();
    }

    /// <summary>The layers the network runs, in order (the tile network's when tiled; none when only total variation
    /// is optimized).</summary>
    public IEnumerable<string> LayerNames => (Tiles?.Network ?? Network)?.LayerNames ?? [];

    /// <summary>The whole image's activation at a loss layer.</summary>
    public ChwShape LayerShape(LossLayer layer) => LayerShape(layer, Input);

    /// <summary>An image's activation at a loss layer.</summary>
    public ChwShape LayerShape(LossLayer layer, ChwShape image)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return Loss.Architecture.LayerShape(layer.Name, layer.Channels, image.Height, image.Width);
    }

    /// <summary>
    /// The plan of <paramref name="loss"/> for a network input of shape <paramref name="input"/> and style images
    /// of shapes <paramref name="styles"/>, evaluated whole or, with <paramref name="tileCore"/>, in tiles of that
    /// core (<see cref="TileGrid.For"/>; whole when one tile covers the image).
    /// </summary>
    /// <param name="loss">The loss.</param>
    /// <param name="weights">The weights (their shapes; their values are not read).</param>
    /// <param name="kernels">The kernels the networks will run (a tiled input gradient keeps transposed
    /// weights).</param>
    /// <param name="input">The network input, <c>(3, H, W)</c>.</param>
    /// <param name="styles">The style images' shapes, one per style image of the loss.</param>
    /// <param name="tileCore">Null: untiled. Otherwise the core of a tile in pixels.</param>
    public static ObjectivePlan Build(LossPlan loss, VggWeights weights, KernelChoice kernels, ChwShape input,
        IReadOnlyList<ChwShape> styles, int? tileCore = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(styles);
        if (input.Channels != 3) throw new ArgumentException($"The network's input has 3 channels, not {input}.");
        if (styles.Count != loss.StyleCount)
            throw new ArgumentException($"The loss has {loss.StyleCount} style images, not {styles.Count}.");
        // A style image is resampled and held on the host whole, as one array, tiled or not: one past 2^31 values
        // is refused before its tiles are planned (a grid of millions of tiles, for nothing).
        if (styles.Any(style => Elements(style) > int.MaxValue))
            return new ObjectivePlan(loss, weights, kernels, input, styles, null, [], null, indexable: false);
        var tiles = tileCore is { } core ? TilePlan.Build(loss, weights, kernels, input, styles, core) : null;
        if (tiles is not null) loss.CheckTiled();
        bool indexable = tiles is null
            ? styles.Append(input).All(image => LargestActivation(weights, image) <= int.MaxValue)
            : Elements(input) <= int.MaxValue
              && loss.Content.All(l => Elements(loss.Architecture.LayerShape(l.Name, l.Channels, input.Height,
                  input.Width)) <= int.MaxValue)
              && tiles.Styles.Select(s => s.Grid.LargestTile).Append(tiles.Grid.LargestTile)
                  .All(tile => LargestActivation(weights, tile) <= int.MaxValue);
        NetworkPlan? network = null;
        IReadOnlyList<NetworkPlan> styleNetworks = [];
        if (indexable && tiles is null && loss.UsedLayers.Count > 0)
        {
            network = NetworkPlan.Build(weights, input.Height, input.Width, loss.Pooling, loss.UsedLayers, kernels);
            var styleLayers = loss.Style.Select(l => l.Name).ToList();
            if (styleLayers.Count > 0)
            {
                styleNetworks = styles.Select(s =>
                    NetworkPlan.Build(weights, s.Height, s.Width, loss.Pooling, styleLayers, kernels)).ToList();
            }
        }
        return new ObjectivePlan(loss, weights, kernels, input, styles, network, styleNetworks, tiles, indexable);
    }

    /// <summary>
    /// Whether <paramref name="other"/> plans the same computation and allocation: the same loss
    /// (<see cref="LossPlan.SameAs"/>), the same shapes and tiles, for the same weights and kernels. An objective
    /// built from one plan then serves the other (a batch's next image, a video's next frame) with new targets
    /// (<see cref="IStyleObjective.ReplaceContent"/>) instead of new buffers.
    /// </summary>
    public bool SameAs(ObjectivePlan other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ReferenceEquals(_weights, other._weights) && ReferenceEquals(_kernels, other._kernels)
            && Loss.SameAs(other.Loss) && Input == other.Input && Styles.SequenceEqual(other.Styles)
            && Indexable == other.Indexable
            && (Tiles?.Grid is not { } grid
                ? other.Tiles is null
                : other.Tiles?.Grid is { } theirs && grid.Core == theirs.Core && grid.Rows == theirs.Rows
                  && grid.Columns == theirs.Columns && grid.Halo == theirs.Halo);
    }

    /// <summary>Whether an objective of this plan can take another content image and keep its style targets:
    /// not with regions, whose targets and guides come from the content's masks.</summary>
    public bool ContentReplaceable => Loss.Regions is null;

    /// <summary>The images must be the ones planned: a content image unless a texture, each at its size, and the
    /// regions' guides at their images' sizes.</summary>
    internal void CheckImages(ObjectiveImages images)
    {
        if ((images.Content is null) != (Loss.Kind == ObjectiveKind.Texture))
        {
            throw new ArgumentException(Loss.Kind == ObjectiveKind.Texture
                ? "A texture has no content image." : "The objective needs a content image.", nameof(images));
        }
        if (images.Content is { } content && content.Shape != Input)
            throw new ArgumentException($"The content image is {content.Shape}, planned {Input}.", nameof(images));
        if (images.Styles.Count != Styles.Count || images.Styles.Where((s, k) => s.Shape != Styles[k]).Any())
            throw new ArgumentException("The style images are not of the planned shapes.", nameof(images));
        if ((images.Regions is null) != (Loss.Regions is null) || images.Regions?.Count != Loss.Regions?.Count)
            throw new ArgumentException("The regions are not the planned ones.", nameof(images));
        if (images.Regions is not { } regions) return;
        for (int r = 0; r < regions.Count; r++)
        {
            var guide = regions.Content[r];
            if (guide.Height != Input.Height || guide.Width != Input.Width)
            {
                throw new StyleSetupException($"Region {r + 1}'s guide is {guide.Width}x{guide.Height} but the " +
                                              $"content image is {Input.Width}x{Input.Height}.");
            }
            if (regions.Styles[r] is { } style && (style.Height != Styles[r].Height || style.Width != Styles[r].Width))
            {
                throw new StyleSetupException($"Region {r + 1}'s style guide is {style.Width}x{style.Height} but " +
                                              $"its style image is {Styles[r].Width}x{Styles[r].Height}.");
            }
        }
    }

    /// <summary>
    /// Elements of the largest tensor VGG makes from an input of this shape (the input included), in long
    /// arithmetic.
    /// </summary>
    private static long LargestActivation(VggWeights weights, ChwShape input) => weights.Layers
        .Select(conv => Elements(weights.Architecture.LayerShape(conv.Name, conv.OutChannels, input.Height,
            input.Width)))
        .Append(Elements(input)).Max();

    /// <summary>A shape's elements in long arithmetic (<see cref="ChwShape.Length"/> is an int).</summary>
    private static long Elements(ChwShape shape) => (long)shape.Channels * shape.Height * shape.Width;
}

/// <summary>The images an objective is built from, each at its plan's size.</summary>
/// <param name="Content">The content image (luminance-only: its luminance as a grey network input); null for a
/// texture.</param>
/// <param name="Styles">The style images (luminance-only: grey).</param>
/// <param name="Regions">The regions' guides, with regions; else null.</param>
public sealed record ObjectiveImages(NetworkImage? Content, IReadOnlyList<NetworkImage> Styles,
    StyleRegions? Regions = null);
