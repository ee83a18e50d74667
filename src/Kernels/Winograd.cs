using System.Numerics;

namespace IlgpuStyle.Kernels;

// Winograd's minimal filtering, the arithmetic the Winograd kernels of the convolution share
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//   Winograd.cs              the transforms, the tile geometry, the filter transform, the double reference
//   Conv2d.Winograd.cs       kernel 5 (GPU): three kernels, input transform, batched tiled product, output transform
//   Conv2d.Winograd.Cpu.cs   kernel 6 (CPU accelerator): the same in host SIMD code, fused per block of tiles
//
// Glossary (beside Conv2d.cs's): m x m outputs per tile, alpha = m + 2 the tile of input each reads (a 3x3
// kernel), xi = (i, j) one of the alpha^2 points of the transform, T = ceil(OH/m) * ceil(OW/m) tiles.
//   U  (alpha^2, K, C)   U[xi][k][c] = (G w[k,c] G^T)[i][j]            the transformed filter, made once
//   V  (alpha^2, C, T)   V[xi][c][t] = (B^T d[c,t] B)[i][j]            d[c,t]: tile t's alpha x alpha input patch
//   M  (alpha^2, K, T)   M[xi][k][t] = sum_c U[xi][k][c] V[xi][c][t]   alpha^2 independent matrix products
//   out[k, tile t]  = A^T M[., k, t] A                                 m x m outputs (+ bias, ReLU)

/// <summary>The output tile of a Winograd convolution, F(m x m, 3 x 3): m outputs per side.</summary>
public enum WinogradTile
{
    /// <summary>F(2x2, 3x3): 16 multiplies for 4 outputs (36 direct), 2.25x less arithmetic; transforms of 0 and
    /// +-1, exact in float.</summary>
    F2 = 2,

    /// <summary>F(4x4, 3x3): 36 multiplies for 16 outputs (144 direct), 4x less arithmetic; points 0, +-1, +-2,
    /// whose larger coefficients cost some precision (see <see cref="Winograd"/>).</summary>
    F4 = 4,
}

/// <summary>
/// Winograd's minimal filtering for 3x3, stride-1 convolutions: the transform matrices, the tile geometry,
/// the filter transform that <see cref="Conv2d.Prepare"/> runs once per layer, and the whole algorithm in
/// double precision as the reference of the Winograd kernels.
/// </summary>
/// <remarks>
/// <para>One output tile of m x m needs an alpha x alpha patch d of input (alpha = m + 2). With the filter
/// transformed once, <c>U = G w G^T</c>, and the patch transformed, <c>V = B^T d B</c>, the tile is
/// <c>A^T (U .* V) A</c>: alpha^2 multiplies instead of 9 m^2. Summed over the input channels, the
/// elementwise products become alpha^2 independent matrix products <c>M[xi] = U[xi] x V[xi]</c>, (K x C)
/// times (C x T), which is where the time goes and what the kernels block like any other product.</para>
/// <para>Precision: the transforms are exact in exact arithmetic. In float, F(2x2, 3x3)'s coefficients
/// (0, +-1, +-1/2) add almost nothing to a direct convolution's rounding; F(4x4, 3x3)'s (up to 5 in B,
/// 8 in A, 1/24 in G) multiply it by roughly 10 (<c>WinogradTests</c> states the bounds on VGG's real
/// shapes: relative L2 error against the double-precision direct convolution).</para>
/// <para>The input gradient of a 3x3, stride-1 convolution is itself one (<see cref="Conv2dShape.Transposed"/>:
/// the flipped, transposed filter over dOut), so it is the same algorithm with its own transformed filter
/// <c>U' = G flip(w)^T G^T</c>, also made once.</para>
/// </remarks>
public static class Winograd
{
    /// <summary>Whether a Winograd kernel can compute this convolution: a 3x3 kernel, stride 1.</summary>
    public static bool Supports(Conv2dShape shape) =>
        shape.KernelHeight == 3 && shape.KernelWidth == 3 && shape.Stride == 1;

    /// <summary>alpha = m + 2: the side of a tile's input patch, and of its transforms.</summary>
    public static int Alpha(WinogradTile tile) => (int)tile + 2;

    /// <summary>The alpha^2 points of the transform, the number of matrix products.</summary>
    public static int Points(WinogradTile tile) => Alpha(tile) * Alpha(tile);

    /// <summary>Tile rows, <c>ceil(OH / m)</c>.</summary>
    public static int TileRows(Conv2dShape s, WinogradTile tile) => (s.OutHeight + (int)tile - 1) / (int)tile;

    /// <summary>Tile columns, <c>ceil(OW / m)</c>.</summary>
    public static int TileColumns(Conv2dShape s, WinogradTile tile) => (s.OutWidth + (int)tile - 1) / (int)tile;

    /// <summary>Tiles of the output, T.</summary>
    public static int Tiles(Conv2dShape s, WinogradTile tile) => TileRows(s, tile) * TileColumns(s, tile);

    /// <summary>Elements of one transformed filter, <c>alpha^2 K C</c>.</summary>
    public static long FilterLength(Conv2dShape s, WinogradTile tile) =>
        (long)Points(tile) * s.OutChannels * s.InChannels;

    /// <summary>Throws unless a Winograd kernel can compute <paramref name="s"/>.</summary>
    public static void RequireSupported(Conv2dShape s)
    {
        if (!Supports(s))
            throw new ArgumentException($"Winograd's convolution needs a 3x3 kernel and stride 1: {s}.");
    }

    // ---------------------------------------------------------------- the transforms

    /// <summary>B^T (alpha x alpha): the input patch's transform, V = B^T d B.</summary>
    public static double[,] InputMatrix(WinogradTile tile) => tile == WinogradTile.F2
        ? new double[,] { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } }
        : new double[,]
        {
            { 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 },
            { 0, -2, -1, 2, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 },
        };

    /// <summary>G (alpha x 3): the filter's transform, U = G w G^T.</summary>
    public static double[,] FilterMatrix(WinogradTile tile) => tile == WinogradTile.F2
        ? new double[,] { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } }
        : new double[,]
        {
            { 1 / 4.0, 0, 0 }, { -1 / 6.0, -1 / 6.0, -1 / 6.0 }, { -1 / 6.0, 1 / 6.0, -1 / 6.0 },
            { 1 / 24.0, 1 / 12.0, 1 / 6.0 }, { 1 / 24.0, -1 / 12.0, 1 / 6.0 }, { 0, 0, 1 },
        };

    /// <summary>A^T (m x alpha): the output's transform, Y = A^T M A.</summary>
    public static double[,] OutputMatrix(WinogradTile tile) => tile == WinogradTile.F2
        ? new double[,] { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } }
        : new double[,]
        {
            { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 }, { 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 },
        };

    /// <summary>L x R^T for L (p x q), X (q x q), R (p x q): the two-sided transform every step of the algorithm
    /// is (R = L for the input and the output, R = L = G for the filter).</summary>
    private static double[,] TwoSided(double[,] left, double[,] x)
    {
        int p = left.GetLength(0), q = left.GetLength(1);
        var half = new double[p, q];
        for (int i = 0; i < p; i++)
        for (int j = 0; j < q; j++)
        for (int a = 0; a < q; a++)
            half[i, j] += left[i, a] * x[a, j];
        var result = new double[p, p];
        for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++)
        for (int b = 0; b < q; b++)
            result[i, j] += half[i, b] * left[j, b];
        return result;
    }

    // ---------------------------------------------------------------- the filter transform

    /// <summary>
    /// The transformed filter in double precision, <c>U[xi][k][c] = (G w[k,c] G^T)[xi]</c> for the forward pass,
    /// or with <paramref name="inputGradient"/> the input gradient's <c>U'[xi][c][k] = (G flip(w[k,c]) G^T)[xi]</c>
    /// (the product's rows are then the input channels). Every kernel's layout is a reordering of this.
    /// </summary>
    /// <param name="weight">W, (K, C, 3, 3).</param>
    /// <param name="s">The convolution (3x3, stride 1).</param>
    /// <param name="tile">The output tile.</param>
    /// <param name="inputGradient">The input gradient's filter instead of the forward's.</param>
    public static double[] TransformFilter(double[] weight, Conv2dShape s, WinogradTile tile, bool inputGradient)
    {
        RequireSupported(s);
        if (weight.Length != s.WeightLength)
            throw new ArgumentException($"weight has {weight.Length} elements but {s} needs {s.WeightLength}.");
        var g = FilterMatrix(tile);
        int points = Points(tile), alpha = Alpha(tile);
        int rows = inputGradient ? s.InChannels : s.OutChannels, columns = inputGradient ? s.OutChannels
            : s.InChannels;
        var u = new double[(long)points * rows * columns];
        // Each output channel's filters on their own core: a network's build transforms every layer's two
        // filters (2.3 million 3x3 filters to conv5_1), and a coarse-to-fine run builds two networks a scale.
        // Every U is computed alone, the same arithmetic whichever core runs it, in TwoSided's order (into
        // buffers of the core's own rather than two new arrays per filter).
        Parallel.For(0, s.OutChannels, k =>
        {
            var w = new double[9];
            var half = new double[alpha * 3];
            for (int c = 0; c < s.InChannels; c++)
            {
                for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                {
                    double value = weight[s.WeightIndex(k, c, ky, kx)];
                    if (inputGradient) w[(2 - ky) * 3 + 2 - kx] = value;
                    else w[ky * 3 + kx] = value;
                }
                for (int i = 0; i < alpha; i++) // half = G w
                for (int j = 0; j < 3; j++)
                {
                    double sum = 0;
                    for (int a = 0; a < 3; a++) sum += g[i, a] * w[a * 3 + j];
                    half[i * 3 + j] = sum;
                }
                var (row, column) = inputGradient ? (c, k) : (k, c);
                for (int i = 0; i < alpha; i++) // U = half G^T
                for (int j = 0; j < alpha; j++)
                {
                    double sum = 0;
                    for (int b = 0; b < 3; b++) sum += half[i * 3 + b] * g[j, b];
                    u[((long)(i * alpha + j) * rows + row) * columns + column] = sum;
                }
            }
        });
        return u;
    }

    /// <summary>
    /// <see cref="TransformFilter"/>'s U, the same double arithmetic in the same order, rounded once to float and
    /// written straight into a kernel's layout: rows in strips of <paramref name="height"/>,
    /// <c>filter[((xi*strips + row/height)*columns + column)*height + row%height]</c>, rows past the product's as
    /// zeros (kernel 6: <see cref="CpuGemm.Rows"/>; a height of 1 is kernel 5's (alpha^2, rows, columns)). Without
    /// the double array of every U (75 MB for one of conv5_1's filters), on <paramref name="host"/>'s cores: a
    /// network's build transforms 2.9 million 3x3 filters, and a coarse-to-fine run builds two networks a scale.
    /// </summary>
    /// <param name="filter">alpha^2 * strips * height * columns floats.</param>
    /// <param name="weight">W, (K, C, 3, 3).</param>
    /// <param name="s">The convolution (3x3, stride 1).</param>
    /// <param name="tile">The output tile.</param>
    /// <param name="inputGradient">The input gradient's filter instead of the forward's.</param>
    /// <param name="height">Rows per strip.</param>
    /// <param name="host">The cores.</param>
    internal static unsafe void WriteFilter(float* filter, float[] weight, Conv2dShape s, WinogradTile tile,
        bool inputGradient, int height, CpuHost host)
    {
        RequireSupported(s);
        if (weight.Length != s.WeightLength)
            throw new ArgumentException($"weight has {weight.Length} elements but {s} needs {s.WeightLength}.");
        var matrix = FilterMatrix(tile);
        int alpha = Alpha(tile), points = Points(tile);
        var g = new double[alpha * 3];
        for (int i = 0; i < alpha; i++)
        for (int a = 0; a < 3; a++)
            g[i * 3 + a] = matrix[i, a];
        int rows = inputGradient ? s.InChannels : s.OutChannels, columns = inputGradient ? s.OutChannels
            : s.InChannels;
        int strips = (rows + height - 1) / height;
        long pointStride = (long)strips * columns * height;
        // A strip's columns in blocks: each block's U goes to a buffer first, then each point's part of it to that
        // point's plane in one run. The planes lie K*C floats apart, often a multiple of 4096 bytes, so writing each
        // U straight to its alpha^2 places sends them all to one cache set: every line is evicted before the
        // strip's other rows fill it, and the writes, not the arithmetic, cost most of the transform (a
        // coarse-to-fine run makes a layer's filters again when its tile changes between scales). Rows past the
        // product's (the last strip's padding) are zeros: the register tile multiplies them.
        int blockColumns = Math.Max(1, FilterBlock / height), block = blockColumns * height;
        // The arithmetic runs in lanes, one filter a lane, two Vector<double> wide (one Vector<float> of results): each
        // lane's operations are the scalar ones in the same order (a product, then a sum: never fused) and the
        // narrowing rounds as a cast does, so every U is the same to the bit. One filter at a time, the transform took
        // a coarse-to-fine run's start 0.5 s of CPU (2.9 million filters, 162 products each). A row past the
        // product's (a padding row) transforms zeros, into zeros; a lane past the block transforms zeros and is not
        // written.
        int lanes = Vector<float>.Count, wide = Vector<double>.Count;
        var gLanes = Array.ConvertAll(g, v => new Vector<double>(v));
        host.For(strips, (first, end) =>
        {
            Span<double> w = stackalloc double[9 * lanes]; // w[e * lanes + l]: lane l's 3x3 filter, value e
            Span<Vector<double>> half = stackalloc Vector<double>[2 * alpha * 3]; // (low lanes, high lanes) per value
            Span<float> partial = stackalloc float[lanes];
            float* buffer = stackalloc float[points * block];
            for (int strip = first; strip < end; strip++)
            for (int column0 = 0; column0 < columns; column0 += blockColumns)
            {
                int n = Math.Min(blockColumns, columns - column0) * height;
                for (int e0 = 0; e0 < n; e0 += lanes)
                {
                    int count = Math.Min(lanes, n - e0);
                    int column = column0 + e0 / height, row = strip * height + e0 % height;
                    for (int l = 0; l < lanes; l++)
                    {
                        if (l >= count || row >= rows)
                        {
                            for (int e = 0; e < 9; e++) w[e * lanes + l] = 0;
                        }
                        else
                        {
                            var (k, c) = inputGradient ? (column, row) : (row, column);
                            int at = s.WeightIndex(k, c, 0, 0);
                            // The input gradient's filter flipped: w[2-ky][2-kx].
                            for (int e = 0; e < 9; e++) w[(inputGradient ? 8 - e : e) * lanes + l] = weight[at + e];
                        }
                        if (++row == (strip + 1) * height)
                        {
                            row = strip * height;
                            column++;
                        }
                    }
                    for (int i = 0; i < alpha; i++) // half = G w
                    for (int j = 0; j < 3; j++)
                    {
                        Vector<double> low = Vector<double>.Zero, high = Vector<double>.Zero;
                        for (int a = 0; a < 3; a++)
                        {
                            var at = w.Slice((a * 3 + j) * lanes);
                            low += gLanes[i * 3 + a] * new Vector<double>(at);
                            high += gLanes[i * 3 + a] * new Vector<double>(at.Slice(wide));
                        }
                        half[2 * (i * 3 + j)] = low;
                        half[2 * (i * 3 + j) + 1] = high;
                    }
                    for (int i = 0; i < alpha; i++) // U = half G^T
                    for (int j = 0; j < alpha; j++)
                    {
                        Vector<double> low = Vector<double>.Zero, high = Vector<double>.Zero;
                        for (int b = 0; b < 3; b++)
                        {
                            low += half[2 * (i * 3 + b)] * gLanes[j * 3 + b];
                            high += half[2 * (i * 3 + b) + 1] * gLanes[j * 3 + b];
                        }
                        var u = Vector.Narrow(low, high);
                        float* to = buffer + (i * alpha + j) * block + e0;
                        if (count == lanes)
                        {
                            u.Store(to);
                        }
                        else
                        {
                            u.CopyTo(partial);
                            for (int l = 0; l < count; l++) to[l] = partial[l];
                        }
                    }
                }
                float* target = filter + ((long)strip * columns + column0) * height;
                for (int xi = 0; xi < points; xi++)
                {
                    new ReadOnlySpan<float>(buffer + xi * block, n)
                        .CopyTo(new Span<float>(target + xi * pointStride, n));
                }
            }
        });
    }

    /// <summary>Filter values a block of <see cref="WriteFilter"/> buffers per point: 128 floats, 8 cache lines.
    /// </summary>
    private const int FilterBlock = 128;

    // ---------------------------------------------------------------- the reference

    /// <summary>
    /// The Winograd algorithm in double precision and plain loops, as the kernels run it: per output channel and
    /// tile, <c>A^T (sum_c U[k,c] .* B^T d[c,t] B) A</c>, plus the bias, then the ReLU. It equals
    /// <see cref="Conv2d.ForwardReference"/> to rounding (a test holds it there); the float kernels are checked
    /// against the direct reference, and this one shows that the transforms and the tile geometry are right.
    /// </summary>
    public static void ForwardReference(double[] output, double[] input, double[] weight, double[] bias,
        Conv2dShape s, WinogradTile tile, bool fuseRelu = false)
    {
        s.Validate();
        RequireSupported(s);
        Require.Length(output, s.Output.Length, nameof(output));
        Require.Length(input, s.Input.Length, nameof(input));
        Require.Length(weight, s.WeightLength, nameof(weight));
        Require.Length(bias, s.OutChannels, nameof(bias));
        var u = TransformFilter(weight, s, tile, inputGradient: false);
        Run(output, input, u, bias, s, tile, fuseRelu);
    }

    /// <summary>
    /// The input gradient by the same algorithm: <see cref="ForwardReference"/> over dOut with the flipped,
    /// transposed filter and no bias, on <see cref="Conv2dShape.Transposed"/>.
    /// </summary>
    public static void BackwardInputReference(double[] dInput, double[] dOutput, double[] weight, Conv2dShape s,
        WinogradTile tile)
    {
        s.Validate();
        RequireSupported(s);
        Require.Length(dInput, s.Input.Length, nameof(dInput));
        Require.Length(dOutput, s.Output.Length, nameof(dOutput));
        var u = TransformFilter(weight, s, tile, inputGradient: true);
        Run(dInput, dOutput, u, new double[s.InChannels], s.Transposed, tile, fuseRelu: false);
    }

    /// <summary>The algorithm over the transformed filter <paramref name="u"/>, (alpha^2, K, C) for shape s.</summary>
    private static void Run(double[] output, double[] input, double[] u, double[] bias, Conv2dShape s,
        WinogradTile tile, bool fuseRelu)
    {
        int m = (int)tile, alpha = Alpha(tile), points = Points(tile);
        var bt = InputMatrix(tile);
        var at = OutputMatrix(tile);
        int tileRows = TileRows(s, tile), tileColumns = TileColumns(s, tile);
        var patch = new double[alpha, alpha];
        var v = new double[s.InChannels, alpha, alpha];
        var sum = new double[alpha, alpha];
        for (int ty = 0; ty < tileRows; ty++)
        for (int tx = 0; tx < tileColumns; tx++)
        {
            // V for every input channel: the patch starts P rows and columns before the tile's first output.
            for (int c = 0; c < s.InChannels; c++)
            {
                for (int a = 0; a < alpha; a++)
                for (int b = 0; b < alpha; b++)
                {
                    int y = ty * m - s.Padding + a, x = tx * m - s.Padding + b;
                    patch[a, b] = y >= 0 && y < s.Height && x >= 0 && x < s.Width ? input[s.Input.Index(c, y, x)] : 0;
                }
                var transformed = TwoSided(bt, patch);
                for (int a = 0; a < alpha; a++)
                for (int b = 0; b < alpha; b++)
                    v[c, a, b] = transformed[a, b];
            }
            for (int k = 0; k < s.OutChannels; k++)
            {
                Array.Clear(sum);
                for (int xi = 0; xi < points; xi++)
                {
                    double total = 0;
                    for (int c = 0; c < s.InChannels; c++)
                        total += u[((long)xi * s.OutChannels + k) * s.InChannels + c] * v[c, xi / alpha, xi % alpha];
                    sum[xi / alpha, xi % alpha] = total;
                }
                var y = TwoSided(at, sum);
                for (int a = 0; a < m; a++)
                for (int b = 0; b < m; b++)
                {
                    int oy = ty * m + a, ox = tx * m + b;
                    if (oy >= s.OutHeight || ox >= s.OutWidth) continue; // a partial tile at the edge
                    double value = y[a, b] + bias[k];
                    output[s.Output.Index(k, oy, ox)] = fuseRelu ? Math.Max(value, 0) : value;
                }
            }
        }
    }
}
