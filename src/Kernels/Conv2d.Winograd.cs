using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 5 of the convolution, for GPUs with 256-thread groups: Winograd's algorithm (<see cref="Winograd"/>) in
/// three kernels. What it adds over kernel 2: F(4x4, 3x3) does 4x fewer multiply-adds (F(2x2, 3x3) 2.25x), in the
/// same tiled product.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item><see cref="WinogradInputKernel"/>, one thread per (channel, tile): the tile's alpha x alpha patch,
/// transformed, <c>V[xi][c][t] = (B^T d B)[xi]</c> (the ReLU's kept output masks dOut as it is read, for the
/// input gradient). Consecutive threads take consecutive tiles, so the writes are coalesced.</item>
/// <item><see cref="WinogradProductKernel"/>: alpha^2 independent products <c>M[xi] = U[xi] x V[xi]</c>, (K x C)
/// times (C x T), one per z of the grid, each kernel 2's 64 x 64 tiles (<see cref="TiledGemm.Multiply"/>).</item>
/// <item><see cref="WinogradOutputKernel"/>, one thread per (output channel, tile): <c>A^T M A</c>, the bias, the
/// ReLU, the m x m outputs stored.</item>
/// </list>
/// <para>V and M live in a device scratch of <see cref="WinogradScratchFloats"/> floats that a network's layers
/// share (the memory plan counts it); U is made once by <see cref="Prepare"/>. The transforms are written out by
/// hand on small structs of floats (<see cref="Six"/>, <see cref="Four"/>): ILGPU unrolls no loop and has no
/// local arrays, and an array in a kernel would live in local memory.</para>
/// <para>The rule runs this kernel only when asked (<c>--conv-algorithm winograd</c>): it passes every check on
/// the CPU accelerator and the ptxas check (no local memory, no spills), but no GPU was at hand to time it against
/// kernel 2.</para>
/// </remarks>
public sealed partial class Conv2d
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape, int, int>?
        _winogradInput;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>?
        _winogradProduct;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dShape, int, int>?
        _winogradOutput;

    // ---------------------------------------------------------------- kernel 5a: the input transform

    /// <summary>
    /// Kernel 5, step 1: thread (c, t) writes <c>V[(xi*C + c)*T + t]</c> for the alpha^2 points of tile t's patch
    /// of channel c (<paramref name="s"/> the product: for the input gradient, <see cref="Conv2dShape.Transposed"/>
    /// over dOut), masked by <c>mask &gt; 0</c> when <paramref name="masked"/> is 1.
    /// </summary>
    public static void WinogradInputKernel(Index1D index, ArrayView<float> v, ArrayView<float> source,
        ArrayView<float> mask, Conv2dShape s, int tile, int masked)
    {
        int tileColumns = (s.OutWidth + tile - 1) / tile;
        int tiles = (s.OutHeight + tile - 1) / tile * tileColumns;
        int t = index % tiles, c = index / tiles;
        int y0 = t / tileColumns * tile - s.Padding, x0 = t % tileColumns * tile - s.Padding;
        var patch = new Patch(source, mask, masked != 0, s, c, x0);
        long stride = (long)s.InChannels * tiles; // between points xi
        long first = (long)c * tiles + t;
        if (tile == 4)
        {
            var e0 = Six.InputF4(patch.Row6(y0)); var e1 = Six.InputF4(patch.Row6(y0 + 1));
            var e2 = Six.InputF4(patch.Row6(y0 + 2)); var e3 = Six.InputF4(patch.Row6(y0 + 3));
            var e4 = Six.InputF4(patch.Row6(y0 + 4)); var e5 = Six.InputF4(patch.Row6(y0 + 5));
            // Column j of the rows' transforms, transformed: points (i, j), i = 0..5.
            Six.InputF4(new Six(e0.A0, e1.A0, e2.A0, e3.A0, e4.A0, e5.A0)).Store(v, first, 6 * stride, stride, 0);
            Six.InputF4(new Six(e0.A1, e1.A1, e2.A1, e3.A1, e4.A1, e5.A1)).Store(v, first, 6 * stride, stride, 1);
            Six.InputF4(new Six(e0.A2, e1.A2, e2.A2, e3.A2, e4.A2, e5.A2)).Store(v, first, 6 * stride, stride, 2);
            Six.InputF4(new Six(e0.A3, e1.A3, e2.A3, e3.A3, e4.A3, e5.A3)).Store(v, first, 6 * stride, stride, 3);
            Six.InputF4(new Six(e0.A4, e1.A4, e2.A4, e3.A4, e4.A4, e5.A4)).Store(v, first, 6 * stride, stride, 4);
            Six.InputF4(new Six(e0.A5, e1.A5, e2.A5, e3.A5, e4.A5, e5.A5)).Store(v, first, 6 * stride, stride, 5);
        }
        else
        {
            var e0 = Four.InputF2(patch.Row4(y0)); var e1 = Four.InputF2(patch.Row4(y0 + 1));
            var e2 = Four.InputF2(patch.Row4(y0 + 2)); var e3 = Four.InputF2(patch.Row4(y0 + 3));
            Four.InputF2(new Four(e0.A0, e1.A0, e2.A0, e3.A0)).Store(v, first, 4 * stride, stride, 0);
            Four.InputF2(new Four(e0.A1, e1.A1, e2.A1, e3.A1)).Store(v, first, 4 * stride, stride, 1);
            Four.InputF2(new Four(e0.A2, e1.A2, e2.A2, e3.A2)).Store(v, first, 4 * stride, stride, 2);
            Four.InputF2(new Four(e0.A3, e1.A3, e2.A3, e3.A3)).Store(v, first, 4 * stride, stride, 3);
        }
    }

    // ---------------------------------------------------------------- kernel 5b: the products

    /// <summary>
    /// Kernel 5, step 2: group (bx, by, xi) computes <c>M[xi]</c>'s block of output channels [64 by, 64 by + 64) x
    /// tiles [64 bx, 64 bx + 64), <c>M[(xi*K + k)*T + t] = sum_c U[(xi*K + k)*C + c] V[(xi*C + c)*T + t]</c>.
    /// </summary>
    public static void WinogradProductKernel(ArrayView<float> products, ArrayView<float> filter, ArrayView<float> v,
        int rows, int reduction, int tiles)
    {
        var tileA = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        var tileB = SharedMemory.Allocate<float>(TiledGemm.SharedFloats);
        int xi = Grid.IdxZ;
        var operands = new PointOperands(filter.SubView((long)xi * rows * reduction, (long)rows * reduction),
            v.SubView((long)xi * reduction * tiles, (long)reduction * tiles), rows, reduction, tiles);
        int m0 = Grid.IdxY * TiledGemm.Tile, n0 = Grid.IdxX * TiledGemm.Tile;
        var sum = TiledGemm.Multiply(operands, tileA, tileB, m0, n0);
        var target = products.SubView((long)xi * rows * tiles, (long)rows * tiles);
        int kBase = m0 + Group.IdxY * TiledGemm.Micro, tBase = n0 + Group.IdxX * TiledGemm.Micro;
        for (int i = 0; i < TiledGemm.Micro; i++)
        {
            int k = kBase + i;
            if (k >= rows) break;
            for (int j = 0; j < TiledGemm.Micro; j++)
            {
                int t = tBase + j;
                if (t >= tiles) break;
                target[(long)k * tiles + t] = sum.Get(i, j);
            }
        }
    }

    // ---------------------------------------------------------------- kernel 5c: the output transform

    /// <summary>
    /// Kernel 5, step 3: thread (k, t) reads <c>M[(xi*K + k)*T + t]</c> for the alpha^2 points, and writes tile t's
    /// m x m outputs of channel k that fall inside the output: <c>A^T M A</c> + bias[k] (when
    /// <paramref name="flags"/> has <see cref="TiledFlags.Bias"/>), ReLU'd (<see cref="TiledFlags.Relu"/>).
    /// </summary>
    public static void WinogradOutputKernel(Index1D index, ArrayView<float> output, ArrayView<float> products,
        ArrayView<float> bias, Conv2dShape s, int tile, int flags)
    {
        int tileColumns = (s.OutWidth + tile - 1) / tile;
        int tiles = (s.OutHeight + tile - 1) / tile * tileColumns;
        int t = index % tiles, k = index / tiles;
        float b = (flags & (int)TiledFlags.Bias) != 0 ? bias[k] : 0f;
        var store = new TileStore(output, s, k, t / tileColumns * tile, t % tileColumns * tile, b,
            (flags & (int)TiledFlags.Relu) != 0);
        long stride = (long)s.OutChannels * tiles;
        long first = (long)k * tiles + t;
        if (tile == 4)
        {
            var r0 = Six.OutputF4(Six.Load(products, first, stride, 0)); // row a: sum_b A^T[j][b] M[a][b]
            var r1 = Six.OutputF4(Six.Load(products, first, stride, 1));
            var r2 = Six.OutputF4(Six.Load(products, first, stride, 2));
            var r3 = Six.OutputF4(Six.Load(products, first, stride, 3));
            var r4 = Six.OutputF4(Six.Load(products, first, stride, 4));
            var r5 = Six.OutputF4(Six.Load(products, first, stride, 5));
            store.Column(0, Six.OutputF4(new Six(r0.A0, r1.A0, r2.A0, r3.A0, r4.A0, r5.A0)));
            store.Column(1, Six.OutputF4(new Six(r0.A1, r1.A1, r2.A1, r3.A1, r4.A1, r5.A1)));
            store.Column(2, Six.OutputF4(new Six(r0.A2, r1.A2, r2.A2, r3.A2, r4.A2, r5.A2)));
            store.Column(3, Six.OutputF4(new Six(r0.A3, r1.A3, r2.A3, r3.A3, r4.A3, r5.A3)));
        }
        else
        {
            var r0 = Four.OutputF2(Four.Load(products, first, stride, 0));
            var r1 = Four.OutputF2(Four.Load(products, first, stride, 1));
            var r2 = Four.OutputF2(Four.Load(products, first, stride, 2));
            var r3 = Four.OutputF2(Four.Load(products, first, stride, 3));
            store.Column(0, Four.OutputF2(new Four(r0.A0, r1.A0, r2.A0, r3.A0)));
            store.Column(1, Four.OutputF2(new Four(r0.A1, r1.A1, r2.A1, r3.A1)));
        }
    }

    /// <summary>Writes kernel 5's filter: U as <see cref="Winograd.TransformFilter"/> makes it, (alpha^2, rows,
    /// columns), rounded to float (<see cref="Winograd.WriteFilter"/> with strips of one row), made on the host.
    /// </summary>
    private unsafe void UploadWinogradFilter(ArrayView<float> filter, float[] weight, Conv2dShape s,
        WinogradTile tile, bool inputGradient)
    {
        var values = new float[filter.Length];
        fixed (float* u = values) Winograd.WriteFilter(u, weight, s, tile, inputGradient, 1, _host);
        filter.CopyFromCPU(ref values[0], values.Length);
    }

    // ---------------------------------------------------------------- its launch

    /// <summary>
    /// One product kernel 5 computes: <c>Output = conv(Source, filter)</c> over <see cref="Shape"/> (3x3, stride 1),
    /// the source masked by <c>Mask &gt; 0</c> where given, with the epilogue of <see cref="Flags"/>.
    /// </summary>
    private readonly record struct WinogradProduct(ArrayView<float> Output, ArrayView<float> Source,
        ArrayView<float> Mask, ArrayView<float> Filter, ArrayView<float> Bias, ArrayView<float> Scratch,
        Conv2dShape Shape, WinogradTile Tile, TiledFlags Flags)
    {
        public static WinogradProduct Forward(ArrayView<float> output, ArrayView<float> input, Conv2dWeights weights,
            bool fuseRelu) =>
            new(output, input, input, weights.ForwardFilter, weights.Bias, weights.WinogradScratch, weights.Shape,
                weights.Variants.ForwardTile, TiledFlags.Bias | (fuseRelu ? TiledFlags.Relu : TiledFlags.None));

        public static WinogradProduct InputGradient(ArrayView<float> dInput, ArrayView<float> dOutput,
            Conv2dWeights weights, ArrayView<float> reluOutput)
        {
            bool masked = reluOutput.Length > 0;
            return new(dInput, dOutput, masked ? reluOutput : dOutput, weights.InputGradientFilter, weights.Bias,
                weights.WinogradScratch, weights.Shape.Transposed, weights.Variants.InputGradientTile,
                masked ? TiledFlags.MaskInput : TiledFlags.None);
        }
    }

    /// <summary>Launches kernel 5's three steps on the layer's scratch.</summary>
    private void LaunchWinograd(WinogradProduct p)
    {
        RequireTiledGroups("Winograd");
        var s = p.Shape;
        int tile = (int)p.Tile, points = Winograd.Points(p.Tile), tiles = Winograd.Tiles(s, p.Tile);
        long vLength = (long)points * s.InChannels * tiles, mLength = (long)points * s.OutChannels * tiles;
        if (p.Scratch.Length < vLength + mLength)
            throw new ArgumentException($"Kernel 5 needs {vLength + mLength} floats of scratch for {s}.");
        var v = p.Scratch.SubView(0, vLength);
        var products = p.Scratch.SubView(vLength, mLength);
        _winogradInput ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Conv2dShape, int, int>(WinogradInputKernel);
        _winogradProduct ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int>(WinogradProductKernel);
        _winogradOutput ??= _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Conv2dShape, int, int>(WinogradOutputKernel);
        _winogradInput(s.InChannels * tiles, v, p.Source, p.Mask, s, tile,
            (p.Flags & TiledFlags.MaskInput) != 0 ? 1 : 0);
        var grid = new Index3D((tiles + TiledGemm.Tile - 1) / TiledGemm.Tile,
            (s.OutChannels + TiledGemm.Tile - 1) / TiledGemm.Tile, points);
        _winogradProduct(new KernelConfig(grid, new Index3D(TiledGemm.Threads, TiledGemm.Threads, 1)), products,
            p.Filter, v, s.OutChannels, s.InChannels, tiles);
        _winogradOutput(s.OutChannels * tiles, p.Output, products, p.Bias, s, tile, (int)p.Flags);
    }
}

/// <summary>The operands of one of kernel 5's products: A = U[xi] (K x C), B = V[xi] (C x T), both row-major.</summary>
public readonly struct PointOperands(ArrayView<float> u, ArrayView<float> v, int rows, int reduction, int tiles)
    : IGemmOperands
{
    private readonly ArrayView<float> _u = u;
    private readonly ArrayView<float> _v = v;

    /// <inheritdoc/>
    public int Rows { get; } = rows;

    /// <inheritdoc/>
    public int Columns { get; } = tiles;

    /// <inheritdoc/>
    public int Reduction { get; } = reduction;

    /// <inheritdoc/>
    public float A(int row, int r) => _u[(long)row * Reduction + r];

    /// <inheritdoc/>
    public float B(int r, int column) => _v[(long)r * Columns + column];

    /// <inheritdoc/>
    public bool BContiguousInReduction => false; // consecutive tiles are consecutive in V
}

/// <summary>
/// The input rows kernel 5 reads for one patch: channel c of the source from column x0, masked where asked, zero
/// outside the image (the padding).
/// </summary>
internal readonly struct Patch(ArrayView<float> source, ArrayView<float> mask, bool masked, Conv2dShape s, int c,
    int x0)
{
    /// <summary>Source (row y, column x), 0 outside, times [mask &gt; 0] when masked.</summary>
    public float At(int y, int x)
    {
        if (y < 0 || y >= s.Height || x < 0 || x >= s.Width) return 0f;
        long i = ((long)c * s.Height + y) * s.Width + x;
        return masked && mask[i] <= 0f ? 0f : source[i];
    }

    /// <summary>The 6 values of row y from x0.</summary>
    public Six Row6(int y) => new(At(y, x0), At(y, x0 + 1), At(y, x0 + 2), At(y, x0 + 3), At(y, x0 + 4),
        At(y, x0 + 5));

    /// <summary>The 4 values of row y from x0.</summary>
    public Four Row4(int y) => new(At(y, x0), At(y, x0 + 1), At(y, x0 + 2), At(y, x0 + 3));
}

/// <summary>Where kernel 5's output transform stores one tile of channel k: from (oy0, ox0), clipped to the output,
/// with the bias added and the ReLU applied.</summary>
internal readonly struct TileStore(ArrayView<float> output, Conv2dShape s, int k, int oy0, int ox0, float bias,
    bool relu)
{
    private void Store(int a, int b, float value)
    {
        int oy = oy0 + a, ox = ox0 + b;
        if (oy >= s.OutHeight || ox >= s.OutWidth) return;
        value += bias;
        if (relu) value = XMath.Max(value, 0f);
        output[((long)k * s.OutHeight + oy) * s.OutWidth + ox] = value;
    }

    /// <summary>Column j of an F(4x4) tile: rows 0..3.</summary>
    public void Column(int j, Four y)
    {
        Store(0, j, y.A0);
        Store(1, j, y.A1);
        Store(2, j, y.A2);
        Store(3, j, y.A3);
    }

    /// <summary>Column j of an F(2x2) tile: rows 0..1.</summary>
    public void Column(int j, Two y)
    {
        Store(0, j, y.A0);
        Store(1, j, y.A1);
    }
}

/// <summary>Six floats kept in registers: a row or column of an F(4x4, 3x3) transform.</summary>
internal readonly struct Six(float a0, float a1, float a2, float a3, float a4, float a5)
{
    public float A0 { get; } = a0;
    public float A1 { get; } = a1;
    public float A2 { get; } = a2;
    public float A3 { get; } = a3;
    public float A4 { get; } = a4;
    public float A5 { get; } = a5;

    /// <summary>B^T d (Lavin's rows, with their common terms; as kernel 6's).</summary>
    public static Six InputF4(Six d)
    {
        float p = d.A4 - 4f * d.A2, q = 4f * d.A1 - d.A3, u = d.A4 - d.A2, w = 2f * (d.A1 - d.A3);
        return new(4f * d.A0 - 5f * d.A2 + d.A4, p - q, p + q, u - w, u + w, 4f * d.A1 - 5f * d.A3 + d.A5);
    }

    /// <summary>A^T m: four outputs from six products.</summary>
    public static Four OutputF4(Six m)
    {
        float s12 = m.A1 + m.A2, d12 = m.A1 - m.A2, s34 = m.A3 + m.A4, d34 = m.A3 - m.A4;
        return new(m.A0 + s12 + s34, d12 + 2f * d34, s12 + 4f * s34, d12 + 8f * d34 + m.A5);
    }

    /// <summary>Points (a, 0..5) of M: <c>products[first + (6a + b) * stride]</c>.</summary>
    public static Six Load(ArrayView<float> products, long first, long stride, int a)
    {
        long p = first + 6L * a * stride;
        return new(products[p], products[p + stride], products[p + 2 * stride], products[p + 3 * stride],
            products[p + 4 * stride], products[p + 5 * stride]);
    }

    /// <summary>Stores the column j of points (i, j), i = 0..5: <c>v[first + (6i + j) * stride]</c>, i.e. element i
    /// at <c>first + i * rowStride + j * stride</c>.</summary>
    public void Store(ArrayView<float> v, long first, long rowStride, long stride, int j)
    {
        long p = first + j * stride;
        v[p] = A0;
        v[p + rowStride] = A1;
        v[p + 2 * rowStride] = A2;
        v[p + 3 * rowStride] = A3;
        v[p + 4 * rowStride] = A4;
        v[p + 5 * rowStride] = A5;
    }
}

/// <summary>Four floats kept in registers: a row or column of an F(2x2, 3x3) transform, or of F(4x4)'s output.
/// </summary>
internal readonly struct Four(float a0, float a1, float a2, float a3)
{
    public float A0 { get; } = a0;
    public float A1 { get; } = a1;
    public float A2 { get; } = a2;
    public float A3 { get; } = a3;

    /// <summary>B^T d of F(2x2, 3x3).</summary>
    public static Four InputF2(Four d) => new(d.A0 - d.A2, d.A1 + d.A2, d.A2 - d.A1, d.A1 - d.A3);

    /// <summary>A^T m of F(2x2, 3x3): two outputs from four products.</summary>
    public static Two OutputF2(Four m) => new(m.A0 + m.A1 + m.A2, m.A1 - m.A2 - m.A3);

    /// <summary>Points (a, 0..3) of M: <c>products[first + (4a + b) * stride]</c>.</summary>
    public static Four Load(ArrayView<float> products, long first, long stride, int a)
    {
        long p = first + 4L * a * stride;
        return new(products[p], products[p + stride], products[p + 2 * stride], products[p + 3 * stride]);
    }

    /// <summary>Stores column j of points (i, j), i = 0..3, as <see cref="Six.Store"/>.</summary>
    public void Store(ArrayView<float> v, long first, long rowStride, long stride, int j)
    {
        long p = first + j * stride;
        v[p] = A0;
        v[p + rowStride] = A1;
        v[p + 2 * rowStride] = A2;
        v[p + 3 * rowStride] = A3;
    }
}

/// <summary>Two floats: a column of an F(2x2, 3x3) output tile.</summary>
internal readonly struct Two(float a0, float a1)
{
    public float A0 { get; } = a0;
    public float A1 { get; } = a1;
}
