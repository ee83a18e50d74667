using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network.Tiling;

/// <summary>A rectangle of pixels (or of feature positions): rows <c>Y .. Y+Height-1</c>, columns
/// <c>X .. X+Width-1</c>.</summary>
/// <param name="Y">The first row.</param>
/// <param name="X">The first column.</param>
/// <param name="Height">Rows (0: empty).</param>
/// <param name="Width">Columns (0: empty).</param>
public readonly record struct PixelRect(int Y, int X, int Height, int Width)
{
    /// <summary>One past the last row.</summary>
    public int Bottom => Y + Height;

    /// <summary>One past the last column.</summary>
    public int Right => X + Width;

    /// <summary>Positions in the rectangle.</summary>
    public long Area => (long)Height * Width;

    /// <summary>Whether it holds no position.</summary>
    public bool IsEmpty => Height <= 0 || Width <= 0;

    /// <inheritdoc/>
    public override string ToString() => $"{Width}x{Height} at ({X}, {Y})";
}

/// <summary>One tile of a <see cref="TileGrid"/>.</summary>
/// <param name="Row">The tile's row in the grid, from 0.</param>
/// <param name="Column">The tile's column in the grid, from 0.</param>
/// <param name="Region">The pixels the tile's network sees: its core and the halo around it (every tile of a
/// grid has the same size).</param>
/// <param name="Core">The pixels the tile owns: the cores of a grid partition the image.</param>
public sealed record Tile(int Row, int Column, PixelRect Region, PixelRect Core);

/// <summary>
/// How an image is cut into tiles whose evaluations add up exactly to the whole image's (issue 14):
/// every feature position of every layer a loss reads is owned by exactly one tile, and the tile
/// computes it exactly as the whole image's network would.
/// </summary>
/// <remarks>
/// <para>Geometry. Let the deepest used layer have stride <c>S</c> (1, 2, 4, 8, 16 in blocks 1 to 5,
/// <see cref="VggArchitecture.Stride"/>):
/// its position p covers pixels <c>pS .. pS+S-1</c>. Cores are <see cref="Core"/> pixels (a multiple
/// of S) long, starting at multiples of it; the last core of a row or column runs to the image's
/// edge (a remainder shorter than S joins the core before it). Every region starts at a multiple of
/// S, so each tile's 2x2 poolings pair exactly the pixels the whole image's poolings pair.</para>
/// <para>Exactness. A position p of a layer of stride s reads pixels <c>ps - r .. ps+s-1+r</c>, r
/// its receptive-field radius (each 3x3 convolution adds its input's stride, a pooling nothing).
/// The region is the core widened by the <see cref="Halo"/>, r of the deepest used layer rounded
/// up to S, on each side, and clipped at the image's borders, which keep the network's zero padding
/// as in the whole image. So every value an owned position depends on is computed from real pixels,
/// and its derivative with respect to the tile's pixels is the whole image's.</para>
/// <para>Ownership. At a layer of stride s and extent n (rows or columns of the whole image's
/// activation), a core from pixel a to pixel b owns positions <c>a/s .. b/s - 1</c>, the last core
/// up to n - 1 (the positions that the floor of the poolings leaves): each position exactly once.</para>
/// <para>One shape. All regions have the same size, the largest any tile needs (a region near a border
/// is shifted inward rather than cut), so one network serves every tile: its memory is allocated once,
/// and an evaluation builds nothing. The regions along an axis are <c>L</c> long with
/// <c>L = length (mod S)</c>, so that the last one can end at the image's edge with its start a
/// multiple of S.</para>
/// </remarks>
public sealed class TileGrid
{
    private TileGrid(int height, int width, int stride, int halo, int core, Axis rows, Axis columns)
    {
        Height = height;
        Width = width;
        Stride = stride;
        Halo = halo;
        Core = core;
        _rows = rows;
        _columns = columns;
        var tiles = new List<Tile>();
        for (int i = 0; i < rows.Count; i++)
        for (int j = 0; j < columns.Count; j++)
        {
            tiles.Add(new Tile(i, j,
                new PixelRect(rows.RegionStarts[i], columns.RegionStarts[j], rows.RegionLength, columns.RegionLength),
                new PixelRect(rows.CoreStarts[i], columns.CoreStarts[j],
                    rows.CoreEnd(i) - rows.CoreStarts[i], columns.CoreEnd(j) - columns.CoreStarts[j])));
        }
        Tiles = tiles;
    }

    private readonly Axis _rows;
    private readonly Axis _columns;

    /// <summary>The image's height in pixels.</summary>
    public int Height { get; }

    /// <summary>The image's width in pixels.</summary>
    public int Width { get; }

    /// <summary>The stride of the deepest used layer: regions and cores start at multiples of it.</summary>
    public int Stride { get; }

    /// <summary>Pixels of context on each side of a core (where the image goes on).</summary>
    public int Halo { get; }

    /// <summary>The core's side in pixels, a multiple of <see cref="Stride"/> (the last core of a row or column
    /// may be longer, up to <c>Core + Stride - 1</c>, or shorter).</summary>
    public int Core { get; }

    /// <summary>Tiles from top to bottom.</summary>
    public int Rows => _rows.Count;

    /// <summary>Tiles from left to right.</summary>
    public int Columns => _columns.Count;

    /// <summary>The tiles, row by row.</summary>
    public IReadOnlyList<Tile> Tiles { get; }

    /// <summary>The network input of every tile, <c>(3, region height, region width)</c>: all tiles have this
    /// shape.</summary>
    public ChwShape LargestTile => new(3, _rows.RegionLength, _columns.RegionLength);

    /// <summary>Whether the grid is one tile, the whole image: the objective then runs untiled.</summary>
    public bool IsSingle => Tiles.Count == 1;

    /// <summary>
    /// The grid for an image of <paramref name="height"/> x <paramref name="width"/> pixels whose losses
    /// read <paramref name="usedLayers"/>, with cores of <paramref name="core"/> pixels, rounded down to a
    /// multiple of the stride (and at least the stride). A core that covers an
    /// axis, or whose regions would, leaves that axis in one piece.
    /// </summary>
    /// <exception cref="ArgumentException">No used layer, an unknown one, or a size or core that is not
    /// positive.</exception>
    public static TileGrid For(VggArchitecture architecture, IReadOnlyList<string> usedLayers, int height, int width,
        int core)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"The image must have a positive size, got {width}x{height}.");
        if (core <= 0) throw new ArgumentException($"The tile core must be positive, got {core}.", nameof(core));
        string deepest = architecture.Deepest(usedLayers);
        int stride = architecture.Stride(deepest);
        int halo = HaloFor(architecture, deepest);
        int rounded = Math.Max(stride, core / stride * stride);
        return new TileGrid(height, width, stride, halo, rounded,
            Axis.Cut(height, rounded, halo, stride), Axis.Cut(width, rounded, halo, stride));
    }

    /// <summary>
    /// The pixels of context a tile needs on each side of its core when <paramref name="deepestLayer"/> is the
    /// deepest layer a loss reads: that layer's receptive radius (<see cref="VggArchitecture.ReceptiveRadius"/>),
    /// rounded up to its stride so that regions start where the poolings pair pixels.
    /// </summary>
    public static int HaloFor(VggArchitecture architecture, string deepestLayer)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        return RoundUp(architecture.ReceptiveRadius(deepestLayer), architecture.Stride(deepestLayer));
    }

    /// <summary>
    /// The positions of a layer of stride <paramref name="layerStride"/> (a power of 2 up to
    /// <see cref="Stride"/>) that <paramref name="tile"/> owns, in the whole image's activation; subtract
    /// <c>tile.Region.Y / layerStride</c> and <c>tile.Region.X / layerStride</c> for the tile's own activation.
    /// Empty where the tile's core is narrower than one position of the layer.
    /// </summary>
    public PixelRect Owned(Tile tile, int layerStride)
    {
        ArgumentNullException.ThrowIfNull(tile);
        if (layerStride <= 0 || Stride % layerStride != 0)
            throw new ArgumentException($"A layer of stride {layerStride} is not in a grid of stride {Stride}.");
        var (top, bottom) = _rows.Owned(tile.Row, layerStride);
        var (left, right) = _columns.Owned(tile.Column, layerStride);
        return new PixelRect(top, left, Math.Max(0, bottom - top), Math.Max(0, right - left));
    }

    /// <summary>
    /// <see cref="Owned"/> in the tile's own activation of a layer: the window of the tile's <c>(C, h, w)</c>
    /// activation <paramref name="tileActivation"/> (channels and extent) holding the owned positions.
    /// </summary>
    public WindowShape OwnedWindow(Tile tile, int layerStride, ChwShape tileActivation)
    {
        var owned = Owned(tile, layerStride);
        return new WindowShape(tileActivation, owned.Y - tile.Region.Y / layerStride,
            owned.X - tile.Region.X / layerStride, owned.Height, owned.Width);
    }

    /// <summary>The window of the whole image, <c>(3, Height, Width)</c>, that is the tile's region.</summary>
    public WindowShape RegionWindow(Tile tile)
    {
        ArgumentNullException.ThrowIfNull(tile);
        return new WindowShape(new ChwShape(3, Height, Width), tile.Region.Y, tile.Region.X,
            tile.Region.Height, tile.Region.Width);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Rows}x{Columns} tiles of {LargestTile.Width}x{LargestTile.Height} (core {Core}, halo {Halo}, " +
        $"stride {Stride}) over {Width}x{Height}";

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>How one axis (rows or columns) is cut: where each core and each region starts.</summary>
    private sealed record Axis(int Length, int RegionLength, int[] CoreStarts, int[] RegionStarts)
    {
        public int Count => CoreStarts.Length;

        public int CoreEnd(int i) => i + 1 < Count ? CoreStarts[i + 1] : Length;

        /// <summary>Owned positions [first, end) of core i at a layer of this stride (whole activation).</summary>
        public (int First, int End) Owned(int i, int stride) =>
            (CoreStarts[i] / stride, i + 1 < Count ? CoreStarts[i + 1] / stride : Length / stride);

        public static Axis Cut(int length, int core, int halo, int stride)
        {
            int count = (length + core - 1) / core;
            if (count > 1 && length - (count - 1) * core < stride) count--; // a remainder joins the core before
            var coreStarts = Enumerable.Range(0, count).Select(i => i * core).ToArray();
            // What each tile needs: its core and the halo on each side, clipped at the image's borders.
            var needStarts = coreStarts.Select(start => Math.Max(0, start - halo)).ToArray();
            int needed = Enumerable.Range(0, count)
                .Max(i => Math.Min(length, (i + 1 < count ? coreStarts[i + 1] : length) + halo) - needStarts[i]);
            // The common length: at least what every tile needs, and length (mod stride), so that the last
            // region, ending at the image's edge, starts at a multiple of the stride.
            int regionLength = needed + ((length - needed) % stride + stride) % stride;
            if (count == 1 || regionLength >= length) return new Axis(length, length, [0], [0]);
            var regionStarts = needStarts.Select(start => Math.Min(start, length - regionLength)).ToArray();
            return new Axis(length, regionLength, coreStarts, regionStarts);
        }
    }
}
