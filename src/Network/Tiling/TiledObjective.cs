using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network.Tiling;

/// <summary>
/// The objective evaluated tile by tile: the loss and gradient of the whole image, computed one tile at a time
/// through one network the size of a tile (<see cref="TilePlan"/> says what it allocates and how an evaluation
/// goes; <see cref="TileGrid"/> why it is exact).
/// </summary>
internal sealed class TiledObjective : StyleObjective
{
    private readonly TilePlan _plan;
    private readonly TileGrid _grid;
    private readonly VggNetwork _network;
    private readonly Tape _tape = new();
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _tileInput; // (3, h, w) the current tile's pixels
    private readonly TileContext _context;
    private readonly List<TiledContentLoss> _content = [];
    private readonly List<TiledStyleLoss> _style = [];
    private int _forwarded = -1; // the tile whose forward pass the network holds (-1: none, or spent by backward)

    /// <summary>
    /// Captures the style targets (each style image through its own grid) and the content targets, and builds
    /// the tile network, allocating exactly what <paramref name="plan"/> counts, in its order.
    /// </summary>
    /// <param name="kernels">The kernels.</param>
    /// <param name="plan">The plan, tiled.</param>
    /// <param name="memory">Where every buffer is allocated.</param>
    /// <param name="weights">The network's weights.</param>
    /// <param name="images">The content image (none for a texture), the style images and the regions (whole): with
    /// regions a guided style term per region and layer, region r's targets the guided Grams of style image
    /// r.</param>
    /// <param name="filters">A run's prepared filters, holding the plan's (null: the objective makes its own).
    /// </param>
    public TiledObjective(KernelSet kernels, ObjectivePlan plan, DeviceMemory memory, VggWeights weights,
        ObjectiveImages images, PreparedFilters? filters = null)
        : base(kernels, plan, memory, weights, filters)
    {
        _plan = plan.Tiles!;
        _grid = _plan.Grid;
        var loss = plan.Loss;
        var layers = loss.Style;
        var names = layers.Select(l => l.Name).ToList();
        var regions = images.Regions;

        // Style targets first, each style image through a temporary network freed before the next: blended
        // into one set, or with regions style image r into region r's set, weighted by its style guide if it
        // has one.
        var styleTargets = Enumerable.Range(0, loss.StyleSets)
            .Select(_ => layers.Select(l => (ArrayView<float>)Memory.Floats(l.GramLength).View).ToList())
            .ToList();
        foreach (var target in styleTargets.SelectMany(t => t)) kernels.Vectors.Fill(target, 0f);
        var styleGuideEmpty = new bool[loss.StyleSets, layers.Count];
        for (int k = 0; k < _plan.Styles.Count; k++)
        {
            var guides = regions?.Styles[k] is { } pixels ? GuidesAt(pixels, weights, names, regions.Mode) : null;
            for (int i = 0; guides is not null && i < layers.Count; i++)
                styleGuideEmpty[k, i] = RegionGuides.GramScale(layers[i].Channels, guides[i]) == 0;
            CaptureStyle(weights, images.Styles[k], _plan.Styles[k], styleTargets[regions is null ? 0 : k],
                regions is null ? loss.Blend[k] : 1f, guides);
        }

        var tile = _grid.LargestTile;
        _network = Network(weights, _plan.Network);
        _tileInput = Memory.Floats(tile.Length);
        _context = new TileContext(kernels, Memory, _plan);
        int normIndex = 0;
        foreach (var layer in loss.Content)
        {
            _content.Add(new TiledContentLoss(layer.Name, _context, _network.OutputShape(layer.Name),
                plan.LayerShape(layer), layer.Stride, Memory, ContentScalar, layer.Weight,
                loss.Normalize ? normIndex++ : -1));
        }
        for (int r = 0; r < loss.StyleSets; r++)
        {
            var guides = regions is null ? null : GuidesAt(regions.Content[r], weights, names, regions.Mode);
            for (int i = 0; i < layers.Count; i++)
            {
                var layer = layers[i];
                var term = new TiledStyleLoss(layer.Name, _context, _network.OutputShape(layer.Name),
                    plan.LayerShape(layer), layer.Stride, Memory, styleTargets[r][i], StyleScalar(r),
                    layer.Weight, loss.Normalize ? normIndex++ : -1, guides?[i]);
                // A term without a Gram to compare is built all the same (the memory depends on shapes alone).
                if (term.HasMass && !styleGuideEmpty[r, i]) _style.Add(term);
                else Omit(r, layer.Name);
            }
        }

        if (images.Content is { } content) CaptureContent(content);
        foreach (var term in _content.Concat<TiledLoss>(_style)) _network.AddTap(term);
        kernels.Accelerator.Synchronize();
    }

    /// <summary>Content targets: the content image forwarded tile by tile, each tile's owned window kept.</summary>
    private protected override void CaptureContent(NetworkImage content)
    {
        _forwarded = -1; // the network will hold the content's last tile, not x's
        for (int t = 0; t < _grid.Tiles.Count && _content.Count > 0; t++)
        {
            _tileInput.CopyFromCPU(Region(content, _grid, _grid.Tiles[t]));
            _context.Tile = t;
            _network.ForwardActivations(_tileInput.View);
            foreach (var term in _content) term.CaptureTarget(_network.Activation(term.Layer));
            Kernels.Accelerator.Synchronize(); // the host's crop is reused for the next tile
        }
    }

    /// <summary>
    /// Writes the whole image's gradient of the content and style losses into <paramref name="gradient"/> and
    /// adds the losses to their scalars (<see cref="TilePlan"/>'s passes).
    /// </summary>
    private protected override void EvaluateNetwork(ArrayView<float> x, ArrayView<float> gradient,
        LayerProfiler? profiler)
    {
        profiler?.Mark("clear");
        Kernels.Vectors.Fill(gradient, 0f);
        _forwarded = -1; // x is new
        if (_style.Count > 0)
        {
            foreach (var term in _style) term.ClearGram();
            foreach (int t in Order())
            {
                Forward(x, t, profiler);
                profiler?.Mark("tiled style Gram");
                foreach (var term in _style) term.AddGram(_network.Activation(term.Layer));
            }
            profiler?.Mark("tiled style loss");
            foreach (var term in _style) term.Finish();
        }
        if (Plan.Loss.Normalize)
        {
            _context.ClearNorms();
            foreach (int t in Order())
            {
                Forward(x, t, profiler);
                profiler?.Mark("tiled gradient norms");
                foreach (var term in _content.Concat<TiledLoss>(_style)) term.AddNorm(_network.Activation(term.Layer));
            }
            _context.InvertNorms();
        }
        foreach (int t in Order())
        {
            Forward(x, t, profiler);
            profiler?.Mark("tiled content loss");
            foreach (var term in _content) term.AddLoss(_network.Activation(term.Layer));
            _forwarded = -1; // backward reuses the buffers of the outputs that are not kept
            var tileGradient = _network.BackwardToInput(_tape, profiler);
            profiler?.Mark("tile gradient");
            Kernels.Window.Add(gradient, tileGradient, _grid.RegionWindow(_grid.Tiles[t]));
        }
    }

    /// <summary>
    /// The tiles in the order of the next pass: starting with the tile whose forward pass the network still
    /// holds from the pass before (the last one), so that pass need not run it again.
    /// </summary>
    private IEnumerable<int> Order()
    {
        int count = _grid.Tiles.Count;
        return _forwarded == count - 1
            ? Enumerable.Range(0, count).Reverse()
            : Enumerable.Range(0, count);
    }

    /// <summary>
    /// Tile t's pixels of x into the tile input, and the network forward (recording the tape), unless the network
    /// holds that tile's forward pass already.
    /// </summary>
    private void Forward(ArrayView<float> x, int t, LayerProfiler? profiler)
    {
        _context.Tile = t;
        if (t == _forwarded) return;
        _forwarded = t;
        profiler?.Mark("tile input");
        Kernels.Window.Crop(_tileInput.View, x, _grid.RegionWindow(_grid.Tiles[t]));
        _tape.Clear();
        _network.Forward(_tileInput.View, _tape, profiler);
    }

    /// <summary>
    /// Adds <paramref name="factor"/> times the style image's Gram matrices to the targets, tile by tile through a
    /// network freed afterwards (the whole image as one tile when it fits one); with <paramref name="guides"/> (the
    /// image's style guide at each layer, whole) the guided Grams, each owned strip weighted by its guide in the
    /// crop scratch.
    /// </summary>
    private void CaptureStyle(VggWeights weights, NetworkImage style, StyleCapturePlan capture,
        IReadOnlyList<ArrayView<float>> targets, float factor, IReadOnlyList<float[]>? guides)
    {
        using var scope = Memory.Scope();
        var layers = Plan.Loss.Style;
        var grid = capture.Grid;
        var network = Network(weights, capture.Network);
        var input = Memory.Floats(grid.LargestTile.Length);
        var gram = Memory.Floats(_plan.GramLength).View;
        var scratch = capture.ScratchLength > 0 ? Memory.Floats(capture.ScratchLength).View : default;
        var shapes = layers.Select(l => Plan.LayerShape(l, style.Shape)).ToList();
        var scales = shapes.Select((whole, i) =>
            guides is null ? StyleLoss.GramScale(whole) : RegionGuides.GramScale(whole.Channels, guides[i])).ToList();
        // Per layer, tile and strip, the strip's positions of the guide (capture.GuideLength floats in all).
        var guideStrips = guides?.Select((g, i) => TilePlan.StripViews(Memory.Upload(TilePlan.InStripOrder(g,
            shapes[i], grid, layers[i].Stride, network.OutputShape(layers[i].Name))).View, grid, layers[i].Stride,
            network.OutputShape(layers[i].Name))).ToList();
        var tape = new Tape();
        for (int t = 0; t < grid.Tiles.Count; t++)
        {
            var tile = grid.Tiles[t];
            input.CopyFromCPU(Region(style, grid, tile));
            tape.Clear();
            network.Forward(input.View, tape);
            for (int i = 0; i < layers.Count; i++)
            {
                var activation = network.Activation(layers[i].Name);
                var whole = shapes[i];
                int s = 0;
                foreach (var strip in TilePlan.Strips(grid, tile, layers[i].Stride, activation.Shape))
                {
                    var features = activation.View;
                    if (guideStrips is not null || !TilePlan.IsWhole(strip))
                    {
                        features = scratch.SubView(0, strip.Length);
                        Kernels.Window.Crop(features, activation.View, strip);
                    }
                    if (guideStrips is not null)
                    {
                        Kernels.Guide.Forward(features, features, guideStrips[i][t][s],
                            new GramShape(whole.Channels, strip.Height * strip.Width), squared: false);
                    }
                    s++;
                    TiledStyleLoss.AddGram(Kernels, gram.SubView(0, whole.Channels * whole.Channels), targets[i],
                        features, strip, scales[i], factor);
                }
            }
            Kernels.Accelerator.Synchronize(); // the host's crop is reused for the next tile
        }
    }

    /// <summary>A region's guide at each of <paramref name="layers"/> over the whole image, as the device uses
    /// it.</summary>
    private static List<float[]> GuidesAt(GuidePlane pixels, VggWeights weights, IReadOnlyList<string> layers,
        MaskMode mode)
    {
        var guides = RegionGuides.AtLayers(pixels, weights, layers, mode);
        return layers.Select(l => RegionGuides.ToFloat(guides[l])).ToList();
    }

    /// <summary>A tile's region of an image, cut out on the host.</summary>
    private static float[] Region(NetworkImage image, TileGrid grid, Tile tile)
    {
        var window = grid.RegionWindow(tile);
        var data = new float[window.Length];
        var source = image.Shape;
        for (int c = 0; c < 3; c++)
        for (int y = 0; y < window.Height; y++)
        {
            Array.Copy(image.Data, source.Index(c, window.Y + y, window.X), data,
                (c * window.Height + y) * window.Width, window.Width);
        }
        return data;
    }
}
