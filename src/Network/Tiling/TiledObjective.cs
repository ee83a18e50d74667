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
    /// <param name="styleLoss">The style-loss scalar every style layer adds to.</param>
    public TiledObjective(KernelSet kernels, DeviceMemory memory, VggWeights weights, NetworkImage content,
        IReadOnlyList<NetworkImage> styles, IReadOnlyList<float> blend, TilePlan plan, float contentWeight,
        IReadOnlyList<float> styleWeights, Pooling pooling, ArrayView<float> contentLoss, ArrayView<float> styleLoss)
    {
        _kernels = kernels;
        _plan = plan;
        _grid = plan.Grid;
        var architecture = weights.Architecture;

        // Style targets first, each style image through a temporary network freed before the next.
        var styleTargets = plan.StyleGramLengths.Select(n => (ArrayView<float>)memory.Floats(n).View).ToList();
        foreach (var target in styleTargets) kernels.Vectors.Fill(target, 0f);
        for (int k = 0; k < plan.Styles.Count; k++)
            CaptureStyle(memory, weights, styles[k], plan.Styles[k], plan.StyleLayers, pooling, styleTargets, blend[k]);

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
        for (int i = 0; i < plan.StyleLayers.Count; i++)
        {
            string layer = plan.StyleLayers[i];
            var whole = TilePlan.LayerShape(weights, layer, content.Shape.Height, content.Shape.Width);
            _style.Add(new TiledStyleLoss(layer, _context, _network.OutputShape(layer), whole,
                TileGrid.LayerStride(architecture, layer), memory, styleTargets[i], styleLoss, styleWeights[i],
                plan.Normalize ? normIndex++ : -1));
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
    /// Adds <paramref name="blend"/> times the style image's Gram matrices to the targets, tile by tile through a
    /// network freed afterwards (the whole image as one tile when it fits one).
    /// </summary>
    private void CaptureStyle(DeviceMemory memory, VggWeights weights, NetworkImage style, StyleCapturePlan capture,
        IReadOnlyList<string> layers, Pooling pooling, IReadOnlyList<ArrayView<float>> targets, float blend)
    {
        using var scope = memory.Scope();
        var grid = capture.Grid;
        var network = Build(_kernels, memory, weights, grid.LargestTile, layers, pooling);
        var input = memory.Floats(grid.LargestTile.Length);
        var gram = memory.Floats(_plan.GramLength).View;
        var scratch = capture.ScratchLength > 0 ? memory.Floats(capture.ScratchLength).View : default;
        var tape = new Tape();
        foreach (var tile in grid.Tiles)
        {
            input.CopyFromCPU(Region(style, grid, tile));
            tape.Clear();
            network.Forward(input.View, tape);
            for (int i = 0; i < layers.Count; i++)
            {
                var activation = network.Activation(layers[i]);
                var whole = TilePlan.LayerShape(weights, layers[i], style.Shape.Height, style.Shape.Width);
                int stride = TileGrid.LayerStride(weights.Architecture, layers[i]);
                foreach (var strip in TilePlan.Strips(grid, tile, stride, activation.Shape))
                {
                    var features = activation.View;
                    if (!TilePlan.IsWhole(strip))
                    {
                        features = scratch.SubView(0, strip.Length);
                        _kernels.Window.Crop(features, activation.View, strip);
                    }
                    TiledStyleLoss.AddGram(_kernels, gram.SubView(0, whole.Channels * whole.Channels), targets[i],
                        features, strip, 1f / whole.Length, blend);
                }
            }
            _kernels.Accelerator.Synchronize(); // the host's crop is reused for the next tile
        }
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
