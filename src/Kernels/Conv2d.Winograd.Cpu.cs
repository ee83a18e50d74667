using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 6 of the convolution, for the CPU accelerator: Winograd's algorithm (<see cref="Winograd"/>) as host
/// code over the accelerator's buffers, SIMD at the processor's width on every core. What it adds over kernel 4:
/// 2.25x (F(2x2, 3x3)) to 4x (F(4x4, 3x3)) fewer multiply-adds, in the same register tile.
/// </summary>
/// <remarks>
/// <para>The work is cut into blocks of output tiles (whole panels of <see cref="CpuGemm.Columns"/> tiles, as many
/// as keep the block's transformed input in L2). A core takes a block and, for it:</para>
/// <list type="number">
/// <item>transforms its input, <c>V[xi][c][t] = (B^T d[c,t] B)[xi]</c> for every channel, vectorised over the
/// tiles (each lane a tile: the alpha x alpha patches are copied lane by lane out of a window of source rows, then
/// transformed as vectors), into the panel layout the register tile reads, <c>[xi][panel][c][Columns]</c>; the
/// backward pass applies the ReLU's mask to dOut here, as it copies the window;</item>
/// <item>for each of the alpha^2 points and each strip of <see cref="CpuGemm.Rows"/> output channels, multiplies the
/// prepared filter's strip (U, packed once by <see cref="Conv2d.Prepare"/>) by the block's V over all C channels in
/// one pass of <see cref="CpuGemm"/>'s register tile per panel, the accumulators never leaving the registers, and
/// keeps the products of every strip;</item>
/// <item>transforms each strip's products back, <c>A^T M A</c>, vectorised over the tiles, adds the bias, applies
/// the ReLU and stores each tile's m x m outputs (those inside the image).</item>
/// </list>
/// <para>So nothing the size of the image is written beside the output, and U and V are each read once per block
/// (the point outermost: see <c>Multiply</c>). A small image (fewer blocks than the cores want) splits its strips
/// over the cores too; its V is then transformed once, in parallel, into a buffer they share, and where it has
/// strips enough for every core, a core takes a group of strips over every block, so that U (up to 37.7 MB, more
/// than V and the products together on VGG's deep layers) is read once per layer. Each output is computed by one
/// core in a fixed order: the result does not depend on the number of threads.</para>
/// <para>The input gradient is the same algorithm on <see cref="Conv2dShape.Transposed"/> with its own filter
/// U' (the flipped, transposed W, transformed once).</para>
/// </remarks>
public sealed partial class Conv2d
{
    /// <summary>
    /// Floats of a block's transformed input a core keeps (768 KB: with the block's products beside it, about a core's
    /// L2 of 1 MB; at 1.5 MB, conv1_2's forward ran 5-15% and conv2_1's 25% slower). A block holds at least one
    /// panel, so V's of 256 channels and more are larger.
    /// </summary>
    private const long WinogradBlockFloats = 3 << 16;

    /// <summary>At most this many panels of tiles in a block (the products' scratch stays small).</summary>
    private const int WinogradMaxPanels = 8;

    /// <summary>Blocks a shared transformed input may hold before each core transforms its own (16 MB).</summary>
    private const long WinogradSharedFloats = 1 << 22;

    /// <summary>Kernel 6's forward: output = conv(input, W) + bias, ReLU when <paramref name="fuseRelu"/>.</summary>
    private unsafe void ForwardCpuWinograd(ArrayView<float> output, ArrayView<float> input, Conv2dWeights weights,
        bool fuseRelu)
    {
        _host.Begin("convolution");
        RunCpuWinograd(new WinogradJob
        {
            Output = CpuHost.Pointer(output), Source = CpuHost.Pointer(input),
            Filter = CpuHost.Pointer(weights.ForwardFilter), Bias = CpuHost.Pointer(weights.Bias),
            Product = weights.Shape, Tile = weights.Variants.ForwardTile, Relu = fuseRelu,
        });
    }

    /// <summary>
    /// Kernel 6's input gradient: the forward algorithm over dOut with U', dOut masked as it is gathered by the
    /// kept ReLU output (<paramref name="reluOutput"/>) or its bits (<paramref name="reluBits"/>) when one is given.
    /// </summary>
    private unsafe void BackwardInputCpuWinograd(ArrayView<float> dInput, ArrayView<float> dOutput,
        Conv2dWeights weights, ArrayView<float> reluOutput, ArrayView<uint> reluBits)
    {
        _host.Begin("convolution");
        RunCpuWinograd(new WinogradJob
        {
            Output = CpuHost.Pointer(dInput), Source = CpuHost.Pointer(dOutput),
            MaskValues = CpuHost.Pointer(reluOutput), MaskBits = CpuHost.Pointer(reluBits),
            Filter = CpuHost.Pointer(weights.InputGradientFilter), Product = weights.Shape.Transposed,
            Tile = weights.Variants.InputGradientTile,
        });
    }

    /// <summary>
    /// Writes kernel 6's filter: U (<see cref="Winograd.TransformFilter"/>) rounded to float in the register tile's
    /// strips, <c>filter[((xi*strips + strip)*columns + c)*Rows + i]</c> = U[xi][strip*Rows + i][c], rows past the
    /// product's as zeros (<see cref="Winograd.WriteFilter"/>).
    /// </summary>
    private unsafe void PackWinogradFilter(ArrayView<float> filter, float[] weight, Conv2dShape s,
        WinogradTile tile, bool inputGradient)
    {
        _host.Begin("convolution");
        Winograd.WriteFilter(CpuHost.Pointer(filter), weight, s, tile, inputGradient, CpuGemm.Rows, _host);
    }

    /// <summary>One Winograd product in host code: pointers into the CPU accelerator's buffers.</summary>
    private unsafe struct WinogradJob
    {
        public float* Output;     // (K, OH, OW) of Product
        public float* Source;     // (C, H, W) of Product
        public float* MaskValues; // multiply the source by [mask > 0], indexed like it; null: no mask
        public uint* MaskBits;    // multiply the source by bit i; null: no mask
        public float* Filter;     // U packed: [xi][strip][C][Rows]
        public float* Bias;       // (K), or null
        public Conv2dShape Product;
        public WinogradTile Tile;
        public bool Relu;
    }

    private void RunCpuWinograd(WinogradJob job)
    {
        switch (CpuVector.Bits)
        {
            case 512: new CpuWinograd<Vector512<float>>(_host, job).Run(); break;
            case 256: new CpuWinograd<Vector256<float>>(_host, job).Run(); break;
            default: new CpuWinograd<Vector128<float>>(_host, job).Run(); break;
        }
    }

    /// <summary>Kernel 6 at one vector width: the blocking of the remarks, and its three steps.</summary>
    private sealed unsafe class CpuWinograd<TVector>
        where TVector : struct
    {
        private readonly CpuHost _host;
        private readonly WinogradJob _job;
        private readonly Conv2dShape _s;
        private readonly int _m, _alpha, _points, _tileColumns, _tiles, _lanes;
        private readonly int _block, _panels, _blocks, _strips, _stripsPerItem, _stripGroups, _blocksPerItem;
        private readonly bool _shareV;
        private float* _sharedV;

        public CpuWinograd(CpuHost host, WinogradJob job)
        {
            _host = host;
            _job = job;
            _s = job.Product;
            _m = (int)job.Tile;
            _alpha = Winograd.Alpha(job.Tile);
            _points = _alpha * _alpha;
            _tileColumns = Winograd.TileColumns(_s, job.Tile);
            _tiles = Winograd.Tiles(_s, job.Tile);
            _lanes = Simd<TVector>.Count;
            int columns = CpuGemm.Columns;
            int byCache = (int)Math.Clamp(WinogradBlockFloats / ((long)_points * _s.InChannels) / columns, 1,
                WinogradMaxPanels);
            _panels = Math.Min(byCache, (_tiles + columns - 1) / columns);
            _block = _panels * columns;
            _blocks = (_tiles + _block - 1) / _block;
            _strips = CpuGemm.Strips(_s.OutChannels);
            int wanted = 4 * host.Threads;
            _blocksPerItem = 1;
            _stripsPerItem = _blocks >= wanted || host.Threads == 1
                ? _strips : Math.Max(1, _strips * _blocks / wanted);
            _stripGroups = (_strips + _stripsPerItem - 1) / _stripsPerItem;
            _shareV = _stripGroups > 1 && BlockV * _blocks <= WinogradSharedFloats;
            if (_shareV && _strips >= wanted)
            {
                // Few blocks, enough strips: an item is a group of strips over every block, so that U, which can be
                // larger than V and M together (37.7 MB for conv4's F(4x4) filters), is read once per layer.
                _blocksPerItem = _blocks;
                _stripsPerItem = _strips / wanted;
                _stripGroups = (_strips + _stripsPerItem - 1) / _stripsPerItem;
            }
        }

        /// <summary>Floats of one block's V, <c>alpha^2 C block</c>.</summary>
        private long BlockV => (long)_points * _s.InChannels * _block;

        /// <summary>Floats of one strip's products for a block, <c>Rows alpha^2 block</c>.</summary>
        private long StripProducts => (long)CpuGemm.Rows * _points * _block;

        public void Run()
        {
            using var shared = _shareV ? _host.Rent(BlockV * _blocks) : default;
            _sharedV = shared.Pointer;
            if (_shareV)
            {
                // Every block's V once, the channels spread over the cores, before any core multiplies.
                int channels = _s.InChannels;
                _host.For(_blocks * channels, (first, end) =>
                {
                    float* scratch = stackalloc float[2 * _points * _lanes];
                    for (int item = first; item < end; item++)
                    {
                        int block = item / channels, c = item % channels;
                        TransformInput(_sharedV + block * BlockV, block, c, c + 1, scratch);
                    }
                });
            }
            _host.For(_blocks / _blocksPerItem * _stripGroups, RunItems);
        }

        /// <summary>
        /// Work items [first, end): each a group of strips over one block, or over every block when
        /// <see cref="_blocksPerItem"/> says so; the products of all its strips and blocks are kept until the output
        /// transforms.
        /// </summary>
        private void RunItems(int first, int end)
        {
            using var v = _sharedV == null ? _host.Rent(BlockV) : default;
            using var products = _host.Rent(_blocksPerItem * _stripsPerItem * StripProducts);
            float* scratch = stackalloc float[2 * _points * _lanes];
            float* zeros = stackalloc float[CpuGemm.Rows];
            new Span<float>(zeros, CpuGemm.Rows).Clear();
            for (int item = first; item < end; item++)
            {
                int firstBlock = item / _stripGroups * _blocksPerItem, group = item % _stripGroups;
                int endBlock = firstBlock + _blocksPerItem;
                if (_sharedV == null) TransformInput(v.Pointer, firstBlock, 0, _s.InChannels, scratch);
                int firstStrip = group * _stripsPerItem, endStrip = Math.Min(_strips, firstStrip + _stripsPerItem);
                Multiply(v.Pointer, firstBlock, endBlock, firstStrip, endStrip, products.Pointer, zeros);
                float* product = products.Pointer;
                for (int block = firstBlock; block < endBlock; block++)
                for (int strip = firstStrip; strip < endStrip; strip++, product += StripProducts)
                    TransformOutput(product, block, strip, scratch);
            }
        }

        // ------------------------------------------------------------ 1. the input transform

        /// <summary>
        /// V of block <paramref name="block"/> for channels [c0, c1): per channel and vector of tiles, the patches
        /// gathered lane by lane into <paramref name="scratch"/> (alpha^2 vectors), transformed, and stored at
        /// <c>v[((xi*panels + panel)*C + c)*Columns + lane0]</c>.
        /// </summary>
        /// <remarks>
        /// The lanes' tiles fall in runs along tile rows (one run a vector on a wide image). For each run the alpha
        /// source rows its patches read are first copied into a small window, masked and zero-padded there with
        /// vector instructions (<see cref="CpuGather.CopyRow"/>), unless the run lies inside the source and there is
        /// no mask; each patch is then plain copies out of the window (or the source), the same for every tile.
        /// Gathering element by element, a masked patch (the input gradient through a ReLU) tested every element's
        /// bit or value with a branch whose outcome, a ReLU's sign, is a coin toss: it cost several times the
        /// product itself on layers of 64 output channels.
        /// </remarks>
        private void TransformInput(float* v, int block, int c0, int c1, float* scratch)
        {
            float* patch = scratch, half = scratch + _points * _lanes;
            int columns = CpuGemm.Columns, alpha = _alpha, m = _m;
            long pointStride = (long)_panels * _s.InChannels * columns;
            int* origins = stackalloc int[2 * _block];
            int tiles = Origins(block, origins);
            int windowWidth = _lanes * m + alpha - m;
            float* window = stackalloc float[alpha * windowWidth];
            bool unmasked = _job.MaskValues == null && _job.MaskBits == null;
            var rows = new CpuGather
            {
                Source = _job.Source, Channels = _s.InChannels, Height = _s.Height, Width = _s.Width,
                MaskValues = _job.MaskValues, MaskBits = _job.MaskBits,
            };
            for (int c = c0; c < c1; c++)
            {
                for (int t0 = 0; t0 < _block; t0 += _lanes)
                {
                    int e = 0, real = Math.Clamp(tiles - t0, 0, _lanes);
                    while (e < real)
                    {
                        int oy = origins[2 * (t0 + e)], ox = origins[2 * (t0 + e) + 1], count = 1;
                        while (e + count < real && origins[2 * (t0 + e + count)] == oy) count++;
                        int y0 = oy - _s.Padding, x0 = ox - _s.Padding, width = count * m + alpha - m;
                        float* from = window;
                        int stride = windowWidth;
                        if (unmasked && y0 >= 0 && y0 + alpha <= _s.Height && x0 >= 0 && x0 + width <= _s.Width)
                        {
                            // Inside the source and nothing to mask: the patches are read where they are.
                            from = _job.Source + ((long)c * _s.Height + y0) * _s.Width + x0;
                            stride = _s.Width;
                        }
                        else
                        {
                            rows.OffsetX = x0;
                            for (int a = 0; a < alpha; a++) rows.CopyRow(window + a * windowWidth, c, y0 + a, width);
                        }
                        for (int k = 0; k < count; k++)
                        {
                            if (m == 4) PatchF4(from + k * m, stride, patch + e + k);
                            else PatchF2(from + k * m, stride, patch + e + k);
                        }
                        e += count;
                    }
                    for (; e < _lanes; e++) ZeroPatch(patch + e);
                    float* destination = v + ((long)(t0 / columns) * _s.InChannels + c) * columns + t0 % columns;
                    if (m == 4) InputF4(patch, half, destination, pointStride);
                    else InputF2(patch, half, destination, pointStride);
                }
            }
        }

        /// <summary>
        /// The output rows and columns where the block's tiles start (<c>origins[2t]</c>, <c>origins[2t + 1]</c>),
        /// found once per block rather than divided out per tile and channel; returns the block's real tiles.
        /// </summary>
        private int Origins(int block, int* origins)
        {
            int first = block * _block, tiles = Math.Min(_block, _tiles - first);
            int ty = first / _tileColumns, tx = first % _tileColumns;
            for (int t = 0; t < tiles; t++)
            {
                origins[2 * t] = ty * _m;
                origins[2 * t + 1] = tx * _m;
                if (++tx == _tileColumns)
                {
                    tx = 0;
                    ty++;
                }
            }
            return tiles;
        }

        /// <summary>A lane past the last tile: its patch is zeros (and so are its products; nothing is
        /// stored).</summary>
        private void ZeroPatch(float* patch)
        {
            for (int p = 0; p < _points; p++) patch[p * _lanes] = 0f;
        }

        /// <summary>
        /// F(4x4, 3x3)'s 6 x 6 patch from the window or the source (rows <paramref name="stride"/> apart), element
        /// (a, b) to <c>patch[(a*6 + b)*lanes]</c>: one lane of the vectors the transform reads, written out in full.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void PatchF4(float* window, int stride, float* patch)
        {
            int l = _lanes;
            for (int a = 0; a < 6; a++, window += stride, patch += 6 * l)
            {
                patch[0] = window[0]; patch[l] = window[1]; patch[2 * l] = window[2];
                patch[3 * l] = window[3]; patch[4 * l] = window[4]; patch[5 * l] = window[5];
            }
        }

        /// <summary>F(2x2, 3x3)'s 4 x 4 patch, as <see cref="PatchF4"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void PatchF2(float* window, int stride, float* patch)
        {
            int l = _lanes;
            for (int a = 0; a < 4; a++, window += stride, patch += 4 * l)
            {
                patch[0] = window[0]; patch[l] = window[1]; patch[2 * l] = window[2]; patch[3 * l] = window[3];
            }
        }

        // ------------------------------------------------------------ 2. the products

        /// <summary>
        /// For blocks [<paramref name="firstBlock"/>, <paramref name="endBlock"/>) (their V shared, or the one block's
        /// in <paramref name="ownV"/>), strips [<paramref name="firstStrip"/>, <paramref name="endStrip"/>) of output
        /// channels and every point xi: <c>M[i][xi][t] = sum_c U[xi][strip*Rows + i][c] V[xi][c][t]</c>, one register
        /// tile per strip and panel over all C channels, block by block and strip by strip in
        /// <paramref name="products"/> (<see cref="StripProducts"/> floats each).
        /// </summary>
        /// <remarks>
        /// The point is the outermost loop: a strip's U for it (C x Rows floats) stays in the first-level cache while
        /// it multiplies every panel, and the point's panels of V (C x Columns floats each) stay in the core's cache
        /// while every strip multiplies them; U and V are each read once. With the strips outermost, as before, all of
        /// V (alpha^2 C block floats, 1.2-2.4 MB on VGG's layers, more than a core's L2) was read again from the
        /// shared cache for every strip of 8 output channels.
        /// </remarks>
        private void Multiply(float* ownV, int firstBlock, int endBlock, int firstStrip, int endStrip, float* products,
            float* zeros)
        {
            int columns = CpuGemm.Columns, rows = CpuGemm.Rows, channels = _s.InChannels;
            int strips = endStrip - firstStrip;
            long ldc = (long)_points * _block;
            for (int xi = 0; xi < _points; xi++)
            {
                for (int strip = firstStrip; strip < endStrip; strip++)
                {
                    float* a = _job.Filter + ((long)xi * _strips + strip) * channels * rows;
                    for (int block = firstBlock; block < endBlock; block++)
                    {
                        float* v = (_sharedV != null ? _sharedV + block * BlockV : ownV) +
                            (long)xi * _panels * channels * columns;
                        long at = (long)(block - firstBlock) * strips + strip - firstStrip;
                        float* c = products + at * StripProducts + (long)xi * _block;
                        for (int q = 0; q < _panels; q++, v += channels * columns, c += columns)
                            CpuGemm.MicroKernel<TVector>(a, v, channels, c, ldc, zeros, relu: false);
                    }
                }
            }
        }

        // ------------------------------------------------------------ 3. the output transform

        /// <summary>
        /// The strip's outputs for the block: per channel and vector of tiles, the alpha^2 products transformed back,
        /// plus the bias, ReLU'd, and each lane's m x m outputs stored where they fall inside the output.
        /// </summary>
        private void TransformOutput(float* products, int block, int strip, float* scratch)
        {
            int m = _m, lanes = _lanes, outWidth = _s.OutWidth, outHeight = _s.OutHeight;
            float* half = scratch, result = scratch + _points * lanes;
            int* origins = stackalloc int[2 * _block];
            int tiles = Origins(block, origins);
            for (int i = 0; i < CpuGemm.Rows; i++)
            {
                int k = strip * CpuGemm.Rows + i;
                if (k >= _s.OutChannels) break;
                float bias = _job.Bias != null ? _job.Bias[k] : 0f;
                float* plane = _job.Output + (long)k * outHeight * outWidth;
                float* row = products + (long)i * _points * _block;
                for (int t0 = 0; t0 < tiles; t0 += lanes)
                {
                    if (m == 4) OutputF4(row + t0, _block, half, result, bias, _job.Relu);
                    else OutputF2(row + t0, _block, half, result, bias, _job.Relu);
                    int count = Math.Min(lanes, tiles - t0);
                    for (int e = 0; e < count; e++)
                    {
                        int oy0 = origins[2 * (t0 + e)], ox0 = origins[2 * (t0 + e) + 1];
                        float* target = plane + (long)oy0 * outWidth + ox0;
                        float* value = result + e;
                        if (oy0 + m <= outHeight && ox0 + m <= outWidth)
                        {
                            if (m == 4) StoreF4(value, target, outWidth);
                            else StoreF2(value, target, outWidth);
                            continue;
                        }
                        int height = Math.Min(m, outHeight - oy0), width = Math.Min(m, outWidth - ox0);
                        for (int a = 0; a < height; a++, target += outWidth, value += m * lanes)
                        for (int b = 0; b < width; b++)
                            target[b] = value[b * lanes];
                    }
                }
            }
        }

        /// <summary>One lane's 4 x 4 outputs of F(4x4, 3x3) (<c>value[(a*4 + b)*lanes]</c>) to the output rows, written
        /// out in full.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void StoreF4(float* value, float* target, int outWidth)
        {
            int l = _lanes;
            for (int a = 0; a < 4; a++, target += outWidth, value += 4 * l)
            {
                target[0] = value[0]; target[1] = value[l]; target[2] = value[2 * l]; target[3] = value[3 * l];
            }
        }

        /// <summary>One lane's 2 x 2 outputs of F(2x2, 3x3), as <see cref="StoreF4"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void StoreF2(float* value, float* target, int outWidth)
        {
            int l = _lanes;
            target[0] = value[0]; target[1] = value[l];
            target[outWidth] = value[2 * l]; target[outWidth + 1] = value[3 * l];
        }

        // ------------------------------------------------------------ the transforms, on vectors of tiles

        /// <summary>
        /// F(4x4, 3x3)'s input transform: the patch (36 vectors, row-major) to <c>B^T d B</c>, point xi stored at
        /// <c>destination + xi * stride</c>: B^T on each row into <paramref name="half"/>, then on each column.
        /// </summary>
        private void InputF4(float* patch, float* half, float* destination, long stride)
        {
            int l = _lanes;
            for (int a = 0; a < 6; a++) InputRowF4(patch + a * 6 * l, l, half + a * 6 * l, l);
            for (int j = 0; j < 6; j++) InputRowF4(half + j * l, 6 * l, destination + j * stride, 6 * stride);
        }

        /// <summary>
        /// B^T of F(4x4, 3x3) on 6 vectors (at <c>d + b*ds</c>) to 6 (at <c>r + i*rs</c>), Lavin's rows with their
        /// common terms: r0 = 4d0 - 5d2 + d4, r1,2 = (d4 - 4d2) -+ (4d1 - d3), r3,4 = (d4 - d2) -+ 2(d1 - d3),
        /// r5 = 4d1 - 5d3 + d5.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void InputRowF4(float* d, long ds, float* r, long rs)
        {
            var d0 = Simd<TVector>.Load(d); var d1 = Simd<TVector>.Load(d + ds);
            var d2 = Simd<TVector>.Load(d + 2 * ds); var d3 = Simd<TVector>.Load(d + 3 * ds);
            var d4 = Simd<TVector>.Load(d + 4 * ds); var d5 = Simd<TVector>.Load(d + 5 * ds);
            var minus4 = Simd<TVector>.Broadcast(-4f);
            var minus5 = Simd<TVector>.Broadcast(-5f);
            var four = Simd<TVector>.Broadcast(4f);
            var p = Simd<TVector>.MultiplyAdd(minus4, d2, d4);              // d4 - 4 d2
            var q = Simd<TVector>.MultiplyAdd(four, d1, Simd<TVector>.Subtract(Simd<TVector>.Zero, d3)); // 4 d1 - d3
            var u = Simd<TVector>.Subtract(d4, d2);                          // d4 - d2
            var w = Simd<TVector>.Multiply(Simd<TVector>.Subtract(d1, d3), 2f); // 2 (d1 - d3)
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(four, d0, Simd<TVector>.MultiplyAdd(minus5, d2, d4)), r);
            Simd<TVector>.Store(Simd<TVector>.Subtract(p, q), r + rs);
            Simd<TVector>.Store(Simd<TVector>.Add(p, q), r + 2 * rs);
            Simd<TVector>.Store(Simd<TVector>.Subtract(u, w), r + 3 * rs);
            Simd<TVector>.Store(Simd<TVector>.Add(u, w), r + 4 * rs);
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(four, d1, Simd<TVector>.MultiplyAdd(minus5, d3, d5)),
                r + 5 * rs);
        }

        /// <summary>F(2x2, 3x3)'s input transform, as <see cref="InputF4"/> on a 4 x 4 patch.</summary>
        private void InputF2(float* patch, float* half, float* destination, long stride)
        {
            int l = _lanes;
            for (int a = 0; a < 4; a++) InputRowF2(patch + a * 4 * l, l, half + a * 4 * l, l);
            for (int j = 0; j < 4; j++) InputRowF2(half + j * l, 4 * l, destination + j * stride, 4 * stride);
        }

        /// <summary>B^T of F(2x2, 3x3): r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void InputRowF2(float* d, long ds, float* r, long rs)
        {
            var d0 = Simd<TVector>.Load(d); var d1 = Simd<TVector>.Load(d + ds);
            var d2 = Simd<TVector>.Load(d + 2 * ds); var d3 = Simd<TVector>.Load(d + 3 * ds);
            Simd<TVector>.Store(Simd<TVector>.Subtract(d0, d2), r);
            Simd<TVector>.Store(Simd<TVector>.Add(d1, d2), r + rs);
            Simd<TVector>.Store(Simd<TVector>.Subtract(d2, d1), r + 2 * rs);
            Simd<TVector>.Store(Simd<TVector>.Subtract(d1, d3), r + 3 * rs);
        }

        /// <summary>
        /// F(4x4, 3x3)'s output transform: the 36 products (point xi at <c>m + xi * stride</c>) to <c>A^T M A</c>
        /// (16 vectors, row-major, in <paramref name="result"/>), plus <paramref name="bias"/>, ReLU'd when asked.
        /// </summary>
        private void OutputF4(float* m, long stride, float* half, float* result, float bias, bool relu)
        {
            int l = _lanes;
            for (int a = 0; a < 6; a++) OutputRowF4(m + a * 6 * stride, stride, half + a * 4 * l, l);
            for (int j = 0; j < 4; j++) OutputRowF4(half + j * l, 4 * l, result + j * l, 4 * l);
            Finish(result, 16, bias, relu);
        }

        /// <summary>
        /// A^T of F(4x4, 3x3) on 6 vectors to 4: y0 = m0 + (m1 + m2) + (m3 + m4), y1 = (m1 - m2) + 2 (m3 - m4),
        /// y2 = (m1 + m2) + 4 (m3 + m4), y3 = (m1 - m2) + 8 (m3 - m4) + m5.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void OutputRowF4(float* m, long ms, float* y, long ys)
        {
            var m0 = Simd<TVector>.Load(m); var m1 = Simd<TVector>.Load(m + ms);
            var m2 = Simd<TVector>.Load(m + 2 * ms); var m3 = Simd<TVector>.Load(m + 3 * ms);
            var m4 = Simd<TVector>.Load(m + 4 * ms); var m5 = Simd<TVector>.Load(m + 5 * ms);
            var s12 = Simd<TVector>.Add(m1, m2); var d12 = Simd<TVector>.Subtract(m1, m2);
            var s34 = Simd<TVector>.Add(m3, m4); var d34 = Simd<TVector>.Subtract(m3, m4);
            Simd<TVector>.Store(Simd<TVector>.Add(Simd<TVector>.Add(m0, s12), s34), y);
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(Simd<TVector>.Broadcast(2f), d34, d12), y + ys);
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(Simd<TVector>.Broadcast(4f), s34, s12), y + 2 * ys);
            Simd<TVector>.Store(Simd<TVector>.MultiplyAdd(Simd<TVector>.Broadcast(8f), d34,
                Simd<TVector>.Add(d12, m5)), y + 3 * ys);
        }

        /// <summary>F(2x2, 3x3)'s output transform, as <see cref="OutputF4"/> on 16 products to 4 outputs.</summary>
        private void OutputF2(float* m, long stride, float* half, float* result, float bias, bool relu)
        {
            int l = _lanes;
            for (int a = 0; a < 4; a++) OutputRowF2(m + a * 4 * stride, stride, half + a * 2 * l, l);
            for (int j = 0; j < 2; j++) OutputRowF2(half + j * l, 2 * l, result + j * l, 2 * l);
            Finish(result, 4, bias, relu);
        }

        /// <summary>A^T of F(2x2, 3x3): y0 = m0 + m1 + m2, y1 = m1 - m2 - m3.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void OutputRowF2(float* m, long ms, float* y, long ys)
        {
            var m0 = Simd<TVector>.Load(m); var m1 = Simd<TVector>.Load(m + ms);
            var m2 = Simd<TVector>.Load(m + 2 * ms); var m3 = Simd<TVector>.Load(m + 3 * ms);
            Simd<TVector>.Store(Simd<TVector>.Add(Simd<TVector>.Add(m0, m1), m2), y);
            Simd<TVector>.Store(Simd<TVector>.Subtract(Simd<TVector>.Subtract(m1, m2), m3), y + ys);
        }

        /// <summary>The bias added to <paramref name="count"/> result vectors, then the ReLU when asked.</summary>
        private void Finish(float* result, int count, float bias, bool relu)
        {
            var b = Simd<TVector>.Broadcast(bias);
            for (int i = 0; i < count; i++)
            {
                var value = Simd<TVector>.Add(Simd<TVector>.Load(result + i * _lanes), b);
                Simd<TVector>.Store(relu ? Simd<TVector>.Relu(value) : value, result + i * _lanes);
            }
        }
    }
}
