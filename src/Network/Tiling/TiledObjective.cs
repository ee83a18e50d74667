using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network.Tiling;

/// <summary>
/// The body of a tiled <see cref="StyleObjective"/>: the loss and gradient of the whole image, computed one
/// tile at a time through one network the size of a tile (<see cref="TilePlan"/> says what it allocates and
/// how an evaluation goes; <see cref="TileGrid"/> why it is exact).
/// </summary>
internal sealed class TiledObjective
{
    private readonly KernelSet _kernels;
    private readonly TilePlan _plan;
    private readonly TileGrid _grid;
    private readonly VggNetwork _network;
    private readonly Tape _tape = new();
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _tileInput; // (3, h, w) the current tile's pixels
    private readonly TileContext _context;
    private readonly List<TiledContentLoss> _content = [];
    private readonly List<TiledStyleLoss> _style = [];
    private readonly List<(int Region, string Layer)> _omitted = [];
    private int _forwarded = -1; // the tile whose forward pass the network holds (-1: none, or spent by backward)

    /// <summary>
    /// Captures the style targets (each style image through its own grid) and the content targets, and builds
    /// the tile network, allocating exactly what <paramref name="plan"/> counts, in its order.
    /// </summary>
    /// <param name="kernels">The kernels.</param>
    /// <param name="memory">Where every buffer is allocated.</param>
    /// <param name="weights">The network's weights.</param>
    /// <param name="content">The content image (whole).</param>
    /// <param name="styles">The style images (whole).</param>
    /// <param name="blend">Each style image's blend weight, normalised.</param>
    /// <param name="plan">The plan.</param>
    /// <param name="contentWeight">w_c.</param>
    /// <param name="styleWeights">w_s times the layer's weight, per style layer of the plan.</param>
    /// <param name="pooling">The pooling.</param>
    /// <param name="contentLoss">The content-loss scalar every content layer adds to.</param>
    /// <param name="styleLosses">The style-loss scalar every style layer adds to: one, or with regions one per
    /// region.</param>
    /// <param name="regions">Null, or one region per style image (<see cref="TilePlan.Regions"/> their layout): a
    /// guided style term per region and layer, with region r's targets the guided Grams of style image r.</param>
    public TiledObjective(KernelSet kernels, DeviceMemory memory, VggWeights weights, NetworkImage content,
        IReadOnlyList<NetworkImage> styles, IReadOnlyList<float> blend, TilePlan plan, float contentWeight,
        IReadOnlyList<float> styleWeights, Pooling pooling, ArrayView<float> contentLoss,
        IReadOnlyList<ArrayView<float>> styleLosses, StyleRegions? regions)
    {
        _kernels = kernels;
        _plan = plan;
        _grid = plan.Grid;
        var architecture = weights.Architecture;
        var layers = plan.StyleLayers;

        // Style targets first, each style image through a temporary network freed before the next: blended into
        // one set, or with regions style image r into region r's set, weighted by its style guide if it has one.
        var styleTargets = Enumerable.Range(0, plan.StyleSets)
            .Select(_ => plan.StyleGramLengths.Select(n => (ArrayView<float>)memory.Floats(n).View).ToList())
            .ToList();
        foreach (var target in styleTargets.SelectMany(t => t)) kernels.Vectors.Fill(target, 0f);
        var styleGuideEmpty = new bool[plan.StyleSets, layers.Count];
        for (int k = 0; k < plan.Styles.Count; k++)
        {
            var guides = regions?.Styles[k] is { } pixels ? GuidesAt(pixels, weights, layers, regions.Mode) : null;
            for (int i = 0; guides is not null && i < layers.Count; i++)
            {
                int channels = weights[architecture.ConvName(layers[i])].OutChannels;
                styleGuideEmpty[k, i] = RegionGuides.GramScale(channels, guides[i]) == 0;
            }
            CaptureStyle(memory, weights, styles[k], plan.Styles[k], layers, pooling,
                styleTargets[regions is null ? 0 : k], regions is null ? blend[k] : 1f, guides);
        }

        var used = plan.ContentLayers.Concat(plan.StyleLayers).ToList();
        var tile = _grid.LargestTile;
        _network = Build(kernels, memory, weights, tile, used, pooling);
        _tileInput = memory.Floats(tile.Length);
        _context = new TileContext(kernels, memory, plan);
        int normIndex = 0;
        for (int i = 0; i < plan.ContentLayers.Count; i++)
        {
            string layer = plan.ContentLayers[i];
            _content.Add(new TiledContentLoss(layer, _context, _network.OutputShape(layer),
                plan.ContentShapes[i], TileGrid.LayerStride(architecture, layer), memory, contentLoss, contentWeight,
                plan.Normalize ? normIndex++ : -1));
        }
        for (int r = 0; r < plan.StyleSets; r++)
        {
            var guides = regions is null ? null : GuidesAt(regions.Content[r], weights, layers, regions.Mode);
            for (int i = 0; i < layers.Count; i++)
            {
                string layer = layers[i];
                var whole = TilePlan.LayerShape(weights, layer, content.Shape.Height, content.Shape.Width);
                var loss = new TiledStyleLoss(layer, _context, _network.OutputShape(layer), whole,
                    TileGrid.LayerStride(architecture, layer), memory, styleTargets[r][i], styleLosses[r],
                    styleWeights[i], plan.Normalize ? normIndex++ : -1, guides?[i]);
                // A term without a Gram to compare is built all the same (the memory depends on shapes alone).
                if (loss.HasMass && !styleGuideEmpty[r, i]) _style.Add(loss);
                else _omitted.Add((r, layer));
            }
        }

        // Content targets: the content image forwarded tile by tile, each tile's owned window kept.
        for (int t = 0; t < _grid.Tiles.Count; t++)
        {
            _tileInput.CopyFromCPU(Region(content, _grid, _grid.Tiles[t]));
            _context.Tile = t;
            _tape.Clear();
            _network.Forward(_tileInput.View, _tape);
            foreach (var loss in _content) loss.CaptureTarget(_network.Activation(loss.Layer));
            kernels.Accelerator.Synchronize(); // the host's crop is reused for the next tile
        }
        foreach (var loss in _content.Concat<TiledLoss>(_style)) _network.AddTap(loss);
        kernels.Accelerator.Synchronize();
    }

    /// <summary>The region terms left out (region index, layer) because a guide is zero everywhere at the layer, in
    /// the content or in the style image.</summary>
    public IReadOnlyList<(int Region, string Layer)> OmittedRegionTerms => _omitted;

    /// <summary>The tile network's layers, in order.</summary>
    public IEnumerable<string> LayerNames => _network.LayerNames;

    /// <summary>
    /// Writes the whole image's gradient of the content and style losses into <paramref name="gradient"/> and
    /// adds the losses to their scalars (<see cref="TilePlan"/>'s passes).
    /// </summary>
    public void Evaluate(ArrayView<float> x, ArrayView<float> gradient, LayerProfiler? profiler)
    {
        profiler?.Mark("clear");
        _kernels.Vectors.Fill(gradient, 0f);
        _forwarded = -1; // x is new
        if (_style.Count > 0)
        {
            foreach (var loss in _style) loss.ClearGram();
            foreach (int t in Order())
            {
                Forward(x, t, profiler);
                profiler?.Mark("tiled style Gram");
                foreach (var loss in _style) loss.AddGram(_network.Activation(loss.Layer));
            }
            profiler?.Mark("tiled style loss");
            foreach (var loss in _style) loss.Finish();
        }
        if (_plan.Normalize)
        {
            _context.ClearNorms();
            foreach (int t in Order())
            {
                Forward(x, t, profiler);
                profiler?.Mark("tiled gradient norms");
                foreach (var loss in _content.Concat<TiledLoss>(_style)) loss.AddNorm(_network.Activation(loss.Layer));
            }
            _context.InvertNorms();
        }
        foreach (int t in Order())
        {
            Forward(x, t, profiler);
            profiler?.Mark("tiled content loss");
            foreach (var loss in _content) loss.AddLoss(_network.Activation(loss.Layer));
            _forwarded = -1; // backward reuses the buffers of the outputs that are not kept
            var tileGradient = _network.BackwardToInput(_tape, profiler);
            profiler?.Mark("tile gradient");
            _kernels.Window.Add(gradient, tileGradient, _grid.RegionWindow(_grid.Tiles[t]));
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
        _kernels.Window.Crop(_tileInput.View, x, _grid.RegionWindow(_grid.Tiles[t]));
        _tape.Clear();
        _network.Forward(_tileInput.View, _tape, profiler);
    }

    /// <summary>
    /// Adds <paramref name="factor"/> times the style image's Gram matrices to the targets, tile by tile through a
    /// network freed afterwards (the whole image as one tile when it fits one); with <paramref name="guides"/> (the
    /// image's style guide at each layer, whole) the guided Grams, each owned strip weighted by its guide in the
    /// crop scratch.
    /// </summary>
    private void CaptureStyle(DeviceMemory memory, VggWeights weights, NetworkImage style, StyleCapturePlan capture,
        IReadOnlyList<string> layers, Pooling pooling, IReadOnlyList<ArrayView<float>> targets, float factor,
        IReadOnlyList<float[]>? guides)
    {
        using var scope = memory.Scope();
        var grid = capture.Grid;
        var network = Build(_kernels, memory, weights, grid.LargestTile, layers, pooling);
        var input = memory.Floats(grid.LargestTile.Length);
        var gram = memory.Floats(_plan.GramLength).View;
        var scratch = capture.ScratchLength > 0 ? memory.Floats(capture.ScratchLength).View : default;
        var shapes = layers.Select(l => TilePlan.LayerShape(weights, l, style.Shape.Height, style.Shape.Width))
            .ToList();
        var strides = layers.Select(l => TileGrid.LayerStride(weights.Architecture, l)).ToList();
        var scales = shapes.Select((whole, i) =>
            guides is null ? Losses.StyleLoss.GramScale(whole) : RegionGuides.GramScale(whole.Channels, guides[i]))
            .ToList();
        // Per layer, tile and strip, the strip's positions of the guide (capture.GuideLength floats in all).
        var guideStrips = guides?.Select((g, i) => TilePlan.StripViews(memory.Upload(TilePlan.InStripOrder(g,
            shapes[i], grid, strides[i], network.OutputShape(layers[i]))).View, grid, strides[i],
            network.OutputShape(layers[i]))).ToList();
        var tape = new Tape();
        for (int t = 0; t < grid.Tiles.Count; t++)
        {
            var tile = grid.Tiles[t];
            input.CopyFromCPU(Region(style, grid, tile));
            tape.Clear();
            network.Forward(input.View, tape);
            for (int i = 0; i < layers.Count; i++)
            {
                var activation = network.Activation(layers[i]);
                var whole = shapes[i];
                int s = 0;
                foreach (var strip in TilePlan.Strips(grid, tile, strides[i], activation.Shape))
                {
                    var features = activation.View;
                    if (guideStrips is not null || !TilePlan.IsWhole(strip))
                    {
                        features = scratch.SubView(0, strip.Length);
                        _kernels.Window.Crop(features, activation.View, strip);
                    }
                    if (guideStrips is not null)
                    {
                        _kernels.Guide.Forward(features, features, guideStrips[i][t][s],
                            new GramShape(whole.Channels, strip.Height * strip.Width), squared: false);
                    }
                    s++;
                    TiledStyleLoss.AddGram(_kernels, gram.SubView(0, whole.Channels * whole.Channels), targets[i],
                        features, strip, scales[i], factor);
                }
            }
            _kernels.Accelerator.Synchronize(); // the host's crop is reused for the next tile
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

    private static VggNetwork Build(KernelSet kernels, DeviceMemory memory, VggWeights weights, ChwShape tile,
        IReadOnlyList<string> used, Pooling pooling)
    {
        try
        {
            return new VggNetwork(kernels, memory, weights, tile.Height, tile.Width,
                weights.Architecture.Deepest(used), pooling, used);
        }
        catch (ArgumentException e)
        {
            throw new StyleSetupException(e.Message);
        }
    }
}
