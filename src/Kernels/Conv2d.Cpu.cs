using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 4 of the convolution, for the CPU accelerator: kernel 2's implicit GEMM as host C# over the
/// accelerator's buffers, a packed, register-tiled matrix product with fused multiply-adds at the processor's
/// vector width on every core (ILGPU's CPU accelerator runs kernels scalar, see <see cref="CpuHost"/>).
/// </summary>
/// <remarks>
/// <para>The product: as in the tiled GPU kernel, <c>out[M, N] = A[M, R] x B[R, N]</c> with
/// <c>R = C*KH*KW</c>, A the weights and column n of B the R input values pixel n's window reads
/// (im2col). B is never built whole ("implicit" GEMM): each panel of it is gathered when needed.</para>
/// <para>The blocking, the register tile and the threads are <see cref="CpuGemm"/>'s; what is the
/// convolution's own is the gather (<see cref="CpuGather"/>): for each panel of pixels (32 with AVX-512) and each
/// reduction row (c, ky, kx) it copies the runs of input that the pixels' windows read, with
/// zeros for the padding (one vector copy per run when the stride is 1). The weights are packed
/// into strips of <see cref="CpuGemm.Rows"/> output channels once per call (a pass over the weights, small beside the
/// product). The bias initialises the accumulators; the ReLU is applied after the last reduction
/// block, before the block is stored.</para>
/// <para>The input gradient is the same product on the transposed, flipped weights (packed
/// straight from W, no copy is kept): <c>dIn = conv(dOut', W')</c>, where dOut' is dOut spread
/// out by the stride (zeros between) and padded by <c>KH-1-P</c>. The ReLU mask of the forward
/// pass (its kept output, or its bits) is applied as dOut is gathered, so it costs no pass.</para>
/// </remarks>
public sealed partial class Conv2d
{
    private readonly CpuHost.Scratch _cpuPackedWeights = new();

    /// <summary>Kernel 4's forward: output = conv(input, W) + bias, ReLU when <paramref name="fuseRelu"/>.</summary>
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, Conv2dWeights weights,
        bool fuseRelu)
    {
        _host.Begin("convolution");
        var s = weights.Shape;
        var gather = new CpuGather
        {
            Source = CpuHost.Pointer(input), Channels = s.InChannels, Height = s.Height, Width = s.Width,
            GridWidth = s.OutWidth, KernelHeight = s.KernelHeight, KernelWidth = s.KernelWidth,
            Step = s.Stride, Spread = 1, OffsetY = -s.Padding, OffsetX = -s.Padding,
        };
        RunCpuProduct(CpuHost.Pointer(output), CpuHost.Pointer(weights.Weight), CpuHost.Pointer(weights.ForwardFilter),
            CpuHost.Pointer(weights.Bias), s, transposed: false, gather, s.OutChannels, s.OutHeight * s.OutWidth,
            fuseRelu);
    }

    /// <summary>
    /// Kernel 4's input gradient, the product over W' packed straight from W, with dOut masked as it is
    /// gathered by the kept ReLU output (<paramref name="reluOutput"/>) or its bits (<paramref name="reluBits"/>)
    /// when one is given.
    /// </summary>
    private unsafe void BackwardInputCpu(ArrayView<float> dInput, ArrayView<float> dOutput, Conv2dWeights weights,
        ArrayView<float> reluOutput, ArrayView<uint> reluBits)
    {
        _host.Begin("convolution");
        var s = weights.Shape;
        var gather = new CpuGather
        {
            Source = CpuHost.Pointer(dOutput), Channels = s.OutChannels, Height = s.OutHeight, Width = s.OutWidth,
            GridWidth = s.Width, KernelHeight = s.KernelHeight, KernelWidth = s.KernelWidth,
            Step = 1, Spread = s.Stride, OffsetY = s.Padding - s.KernelHeight + 1, OffsetX =
                s.Padding - s.KernelWidth + 1,
            MaskValues = CpuHost.Pointer(reluOutput), MaskBits = CpuHost.Pointer(reluBits),
        };
        RunCpuProduct(CpuHost.Pointer(dInput), CpuHost.Pointer(weights.Weight),
            CpuHost.Pointer(weights.InputGradientFilter), null, s, transposed: true, gather, s.InChannels,
            s.Height * s.Width, relu: false);
    }

    /// <summary>
    /// Where column n of B comes from: pixel n = (a, b) of a grid <see cref="GridWidth"/> wide, row
    /// r = (channel, i, j) reads the source at virtual position <c>(a*Step + i + OffsetY,
    /// b*Step + j + OffsetX)</c>. The virtual source is the real one spread out by
    /// <see cref="Spread"/> (a real element every Spread positions, zeros between) and zero outside.
    /// </summary>
    private unsafe struct CpuGather : CpuGemm.IPanelSource
    {
        public float* Source;
        public int Channels, Height, Width; // the real source tensor
        public int GridWidth;
        public int KernelHeight, KernelWidth;
        public int Step, Spread, OffsetY, OffsetX;
        public float* MaskValues; // multiply by [mask > 0], indexed like Source; null: no mask
        public uint* MaskBits;    // multiply by bit i; null: no mask

        /// <summary>The source element at virtual position (vy, vx) of a channel, masked; 0 outside.</summary>
        public readonly float At(int channel, int vy, int vx)
        {
            if (vy < 0 || vx < 0 || vy % Spread != 0 || vx % Spread != 0) return 0f;
            int y = vy / Spread, x = vx / Spread;
            if (y >= Height || x >= Width) return 0f;
            long index = ((long)channel * Height + y) * Width + x;
            if (MaskValues != null && !(MaskValues[index] > 0f)) return 0f;
            if (MaskBits != null && ((MaskBits[index >> 5] >> (int)(index & 31)) & 1u) == 0) return 0f;
            return Source[index];
        }

        /// <summary>
        /// Copies <paramref name="count"/> consecutive source elements of one row starting at
        /// flat index <paramref name="index"/> (all inside the row), masked.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void CopyRun(float* destination, long index, int count)
        {
            switch (CpuVector.Bits)
            {
                case 512: CopyRun<Vector512<float>>(destination, index, count); break;
                case 256: CopyRun<Vector256<float>>(destination, index, count); break;
                default: CopyRun<Vector128<float>>(destination, index, count); break;
            }
        }

        private readonly void CopyRun<TVector>(float* destination, long index, int count)
            where TVector : struct
        {
            float* source = Source + index;
            int e = 0, n = Simd<TVector>.Count;
            if (MaskValues == null && MaskBits == null)
            {
                for (; e + n <= count; e += n) Simd<TVector>.Store(Simd<TVector>.Load(source + e), destination + e);
                for (; e < count; e++) destination[e] = source[e];
            }
            else if (MaskValues != null)
            {
                float* mask = MaskValues + index;
                for (; e + n <= count; e += n)
                {
                    Simd<TVector>.Store(Simd<TVector>.WherePositive(Simd<TVector>.Load(mask + e),
                        Simd<TVector>.Load(source + e)), destination + e);
                }
                for (; e < count; e++) destination[e] = mask[e] > 0f ? source[e] : 0f;
            }
            else
            {
                for (; e + n <= count; e += n)
                {
                    Simd<TVector>.Store(Simd<TVector>.WhereBits(BitsAt(MaskBits, index + e, n),
                        Simd<TVector>.Load(source + e)), destination + e);
                }
                for (; e < count; e++)
                {
                    long i = index + e;
                    destination[e] = ((MaskBits[i >> 5] >> (int)(i & 31)) & 1u) != 0 ? source[e] : 0f;
                }
            }
        }

        /// <summary>
        /// Row <paramref name="vy"/> of a channel as a window reads it (stride 1, no spread): element i is the source
        /// at column i + OffsetX, masked, zero outside the source, for i &lt; <paramref name="count"/>.
        /// </summary>
        public readonly void CopyRow(float* destination, int channel, int vy, int count)
        {
            if (vy < 0 || vy >= Height)
            {
                Zero(destination, count);
                return;
            }
            int left = Math.Clamp(-OffsetX, 0, count), right = Math.Clamp(OffsetX + count - Width, 0, count - left);
            Zero(destination, left);
            CopyRun(destination + left, ((long)channel * Height + vy) * Width + OffsetX + left, count - left - right);
            Zero(destination + count - right, right);
        }

        /// <summary>Bits i..i+n-1 of a bit mask, in bits 0..n-1 (n &lt;= 16; the caller guarantees bit i+n-1
        /// exists, and no word past it is read).</summary>
        private static uint BitsAt(uint* bits, long i, int n)
        {
            long word = i >> 5;
            int shift = (int)(i & 31);
            uint value = bits[word] >> shift;
            if (shift > 32 - n) value |= bits[word + 1] << (32 - shift);
            return value & ((1u << n) - 1);
        }

        /// <summary>
        /// Gathers reduction rows [r0, r0 + rows) of the panel of pixels [n0, n0 + CpuGemm.Columns) (the
        /// pixels past <paramref name="pixels"/> as zeros) into <paramref name="panel"/>, row-major.
        /// The panel's pixels fall in a few runs along grid rows, found once; the reduction index
        /// is walked as (channel, i, j) counters, so the loop divides nothing.
        /// </summary>
        [SkipLocalsInit]
        public readonly void Pack(float* panel, int r0, int rows, int n0, int pixels)
        {
            // Up to Columns runs (an image one pixel wide), plus the end of the last one.
            int* runStart = stackalloc int[CpuGemm.Columns + 1]; // the run's first pixel, relative to n0
            int* runA = stackalloc int[CpuGemm.Columns];     // its grid row a
            int* runB = stackalloc int[CpuGemm.Columns];     // its first grid column b
            int runs = 0, end = Math.Min(n0 + CpuGemm.Columns, pixels);
            for (int n = n0; n < end; runs++)
            {
                runStart[runs] = n - n0;
                runA[runs] = n / GridWidth;
                runB[runs] = n % GridWidth;
                n += Math.Min(end - n, GridWidth - runB[runs]);
            }
            runStart[runs] = end - n0;

            int channel = r0 / (KernelHeight * KernelWidth), i = r0 / KernelWidth % KernelHeight, j = r0 % KernelWidth;
            long plane = (long)Height * Width;
            for (int row = 0; row < rows; row++)
            {
                float* destination = panel + row * CpuGemm.Columns;
                for (int q = 0; q < runs; q++)
                {
                    float* run = destination + runStart[q];
                    int count = runStart[q + 1] - runStart[q];
                    int vy = runA[q] * Step + i + OffsetY, vx = runB[q] * Step + j + OffsetX;
                    if (Spread == 1 && (vy < 0 || vy >= Height))
                        Zero(run, count);
                    else if (Spread == 1 && Step == 1)
                    {
                        // Contiguous in the source: zeros left and right of the image, one copy between.
                        int left = Math.Clamp(-vx, 0, count), right = Math.Clamp(vx + count - Width, 0, count - left);
                        Zero(run, left);
                        CopyRun(run + left, channel * plane + (long)vy * Width + vx + left, count - left - right);
                        Zero(run + count - right, right);
                    }
                    else
                    {
                        for (int e = 0; e < count; e++) run[e] = At(channel, vy, vx + e * Step);
                    }
                }
                Zero(destination + runStart[runs], CpuGemm.Columns - runStart[runs]);
                if (++j == KernelWidth)
                {
                    j = 0;
                    if (++i == KernelHeight)
                    {
                        i = 0;
                        channel++;
                    }
                }
            }
        }

        private static void Zero(float* destination, int count)
        {
            for (int e = 0; e < count; e++) destination[e] = 0f;
        }
    }

    /// <summary>
    /// out[M, N] = A[M, R] x B[R, N] (+ bias, ReLU), A the weights (transposed and flipped when
    /// <paramref name="transposed"/>), packed once by <see cref="Prepare"/> (<paramref name="prepacked"/>) or packed
    /// here, and B gathered by <paramref name="gather"/>.
    /// </summary>
    private unsafe void RunCpuProduct(float* output, float* weight, float* prepacked, float* bias, Conv2dShape s,
        bool transposed, CpuGather gather, int rows, int pixels, bool relu)
    {
        int depth = gather.Channels * gather.KernelHeight * gather.KernelWidth;
        float* packed = prepacked != null ? prepacked : _cpuPackedWeights.Get(CpuGemm.PackedLength(rows, depth));
        if (prepacked == null) PackCpuWeights(packed, weight, s, transposed);
        if (rows <= StencilRows && gather.Step == 1 && gather.Spread == 1)
        {
            RunCpuStencil(output, packed, bias, gather, rows, pixels, relu);
            return;
        }
        var epilogue = relu ? CpuGemm.Epilogue.Relu : CpuGemm.Epilogue.None;
        CpuGemm.Run(_host, new CpuGemm.Product(output, packed, bias, rows, pixels, depth), gather, epilogue);
    }

    // ---------------------------------------------------------------- a product of a few rows: a stencil

    /// <summary>Rows of the products the stencil computes instead of the matrix product (one short strip).</summary>
    private const int StencilRows = 4;

    /// <summary>Vectors of pixels per row of the stencil's register block.</summary>
    private const int StencilVectors = 4;

    /// <summary>
    /// A product of at most <see cref="StencilRows"/> rows (conv1_1's input gradient: the image's 3 channels from
    /// 64), stride 1, computed as a stencil over the image instead of a matrix product: as a product it would fill a
    /// strip of 8 rows with 3, and gather every column of B (R = 576 values a pixel, masked) for 3 uses each. Here
    /// each output row of pixels is computed from the source rows its window reads, copied (masked, zero-padded)
    /// into a ring of KH rows, one new row per output row: per reduction step one broadcast per row and 4 vectors of
    /// shifted pixels, 4 x 4 fused multiply-adds (4 x 3 for 3 rows). Each output is the same chain of fused
    /// multiply-adds, in the same order of the reduction (channel, kernel row, kernel column) from the same start, as
    /// the matrix product's: the same bits.
    /// </summary>
    private unsafe void RunCpuStencil(float* output, float* packed, float* bias, CpuGather g, int rows, int pixels,
        bool relu)
    {
        switch (CpuVector.Bits)
        {
            case 512: RunCpuStencil<Vector512<float>>(output, packed, bias, g, rows, pixels, relu); break;
            case 256: RunCpuStencil<Vector256<float>>(output, packed, bias, g, rows, pixels, relu); break;
            default: RunCpuStencil<Vector128<float>>(output, packed, bias, g, rows, pixels, relu); break;
        }
    }

    private unsafe void RunCpuStencil<TVector>(float* output, float* packed, float* bias, CpuGather g, int rows,
        int pixels, bool relu)
        where TVector : struct
    {
        int lanes = Simd<TVector>.Count, block = StencilVectors * lanes;
        int width = g.GridWidth, height = pixels / width;
        int blocks = (width + block - 1) / block;
        // A source row as the window reads it: column i is source column i + OffsetX, zeros outside the image
        // and past the last block's reach.
        // The KH source rows an output row reads, all channels of each, in a ring of KH slots (source row vy in slot
        // vy mod KH): each next output row copies only the one row it adds.
        int ringWidth = blocks * block + g.KernelWidth - 1;
        long slot = (long)g.Channels * ringWidth;
        _host.For(height, (first, end) =>
        {
            using var ring = _host.Rent(g.KernelHeight * slot);
            float** rowsOf = stackalloc float*[g.KernelHeight];
            for (int y = first; y < end; y++)
            {
                for (int i = 0; i < g.KernelHeight; i++)
                {
                    int vy = y + i + g.OffsetY;
                    rowsOf[i] = ring.Pointer + (vy % g.KernelHeight + g.KernelHeight) % g.KernelHeight * slot;
                    if (y > first && i < g.KernelHeight - 1) continue; // copied for the row above
                    for (int k = 0; k < g.Channels; k++) g.CopyRow(rowsOf[i] + (long)k * ringWidth, k, vy, ringWidth);
                }
                for (int b = 0; b < blocks; b++)
                {
                    StencilBlock<TVector>(rowsOf, ringWidth, g.Channels, g.KernelHeight, g.KernelWidth, packed,
                        CpuGemm.Rows, b * block, bias, relu, output, (long)y * width, pixels, rows,
                        Math.Min(block, width - b * block));
                }
            }
        });
    }

    /// <summary>
    /// One block of <see cref="StencilVectors"/> vectors of an output row, for every row of the product (at most
    /// 4): out[row][offset + x0 + e] = start + sum over (channel, i, j) of A[row][r] * rowsOf[i][channel][x0 + e + j].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void StencilBlock<TVector>(float** rowsOf, int ringWidth, int channels, int kernelHeight,
        int kernelWidth, float* a, int strideA, int x0, float* bias, bool relu, float* output, long offset,
        int pixels, int rows, int count)
        where TVector : struct
    {
        int n = Simd<TVector>.Count;
        TVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        c00 = c01 = c02 = c03 = Simd<TVector>.Broadcast(bias != null ? bias[0] : 0f);
        c10 = c11 = c12 = c13 = Simd<TVector>.Broadcast(bias != null && rows > 1 ? bias[1] : 0f);
        c20 = c21 = c22 = c23 = Simd<TVector>.Broadcast(bias != null && rows > 2 ? bias[2] : 0f);
        c30 = c31 = c32 = c33 = Simd<TVector>.Broadcast(bias != null && rows > 3 ? bias[3] : 0f);
        bool four = rows > 3;
        for (int k = 0; k < channels; k++)
        for (int i = 0; i < kernelHeight; i++)
        {
            float* row = rowsOf[i] + (long)k * ringWidth + x0;
            for (int j = 0; j < kernelWidth; j++, a += strideA)
            {
                var v0 = Simd<TVector>.Load(row + j); var v1 = Simd<TVector>.Load(row + j + n);
                var v2 = Simd<TVector>.Load(row + j + 2 * n); var v3 = Simd<TVector>.Load(row + j + 3 * n);
                var w = Simd<TVector>.Broadcast(a[0]);
                c00 = Simd<TVector>.MultiplyAdd(w, v0, c00); c01 = Simd<TVector>.MultiplyAdd(w, v1, c01);
                c02 = Simd<TVector>.MultiplyAdd(w, v2, c02); c03 = Simd<TVector>.MultiplyAdd(w, v3, c03);
                w = Simd<TVector>.Broadcast(a[1]);
                c10 = Simd<TVector>.MultiplyAdd(w, v0, c10); c11 = Simd<TVector>.MultiplyAdd(w, v1, c11);
                c12 = Simd<TVector>.MultiplyAdd(w, v2, c12); c13 = Simd<TVector>.MultiplyAdd(w, v3, c13);
                w = Simd<TVector>.Broadcast(a[2]);
                c20 = Simd<TVector>.MultiplyAdd(w, v0, c20); c21 = Simd<TVector>.MultiplyAdd(w, v1, c21);
                c22 = Simd<TVector>.MultiplyAdd(w, v2, c22); c23 = Simd<TVector>.MultiplyAdd(w, v3, c23);
                if (!four) continue; // three rows (conv1_1's input gradient: the image's channels) do a quarter less
                w = Simd<TVector>.Broadcast(a[3]);
                c30 = Simd<TVector>.MultiplyAdd(w, v0, c30); c31 = Simd<TVector>.MultiplyAdd(w, v1, c31);
                c32 = Simd<TVector>.MultiplyAdd(w, v2, c32); c33 = Simd<TVector>.MultiplyAdd(w, v3, c33);
            }
        }
        if (relu)
        {
            c00 = Simd<TVector>.Relu(c00); c01 = Simd<TVector>.Relu(c01);
            c02 = Simd<TVector>.Relu(c02); c03 = Simd<TVector>.Relu(c03);
            c10 = Simd<TVector>.Relu(c10); c11 = Simd<TVector>.Relu(c11);
            c12 = Simd<TVector>.Relu(c12); c13 = Simd<TVector>.Relu(c13);
            c20 = Simd<TVector>.Relu(c20); c21 = Simd<TVector>.Relu(c21);
            c22 = Simd<TVector>.Relu(c22); c23 = Simd<TVector>.Relu(c23);
            c30 = Simd<TVector>.Relu(c30); c31 = Simd<TVector>.Relu(c31);
            c32 = Simd<TVector>.Relu(c32); c33 = Simd<TVector>.Relu(c33);
        }
        float* tile = stackalloc float[StencilRows * StencilVectors * 16];
        int stride = StencilVectors * n;
        Simd<TVector>.Store(c00, tile); Simd<TVector>.Store(c01, tile + n);
        Simd<TVector>.Store(c02, tile + 2 * n); Simd<TVector>.Store(c03, tile + 3 * n);
        Simd<TVector>.Store(c10, tile + stride); Simd<TVector>.Store(c11, tile + stride + n);
        Simd<TVector>.Store(c12, tile + stride + 2 * n); Simd<TVector>.Store(c13, tile + stride + 3 * n);
        Simd<TVector>.Store(c20, tile + 2 * stride); Simd<TVector>.Store(c21, tile + 2 * stride + n);
        Simd<TVector>.Store(c22, tile + 2 * stride + 2 * n); Simd<TVector>.Store(c23, tile + 2 * stride + 3 * n);
        Simd<TVector>.Store(c30, tile + 3 * stride); Simd<TVector>.Store(c31, tile + 3 * stride + n);
        Simd<TVector>.Store(c32, tile + 3 * stride + 2 * n); Simd<TVector>.Store(c33, tile + 3 * stride + 3 * n);
        for (int r = 0; r < rows; r++)
        {
            float* target = output + (long)r * pixels + offset + x0;
            new Span<float>(tile + r * stride, count).CopyTo(new Span<float>(target, count));
        }
    }

    /// <summary>A of the forward product (W in strips) or of the input gradient's (W' in strips), on every core.
    /// </summary>
    private unsafe void PackCpuWeights(float* packed, float* weight, Conv2dShape s, bool inputGradient)
    {
        if (inputGradient)
            _host.For(s.OutChannels, (first, end) => PackTransposedWeights(packed, weight, s, first, end));
        else
            _host.For(CpuGemm.Strips(s.OutChannels), (first, end) => PackWeights(packed, weight, s, first, end));
    }

    /// <summary>
    /// Packs strips [first, end) of A = W (K rows of R = C*KH*KW) as <c>packed[(strip*R + r)*8 + i]</c>,
    /// rows past K as zeros.
    /// </summary>
    private static unsafe void PackWeights(float* packed, float* weight, Conv2dShape s, int first, int end)
    {
        int depth = s.InChannels * s.KernelHeight * s.KernelWidth;
        for (int strip = first; strip < end; strip++)
        {
            float* destination = packed + (long)strip * depth * CpuGemm.Rows;
            for (int i = 0; i < CpuGemm.Rows; i++)
            {
                int m = strip * CpuGemm.Rows + i;
                float* row = weight + (long)m * depth;
                for (int r = 0; r < depth; r++) destination[r * CpuGemm.Rows + i] = m < s.OutChannels ? row[r] : 0f;
            }
        }
    }

    /// <summary>
    /// Packs the input gradient's A, <c>A[c, (k, ky, kx)] = W[k, c, KH-1-ky, KW-1-kx]</c> (C rows of
    /// R = K*KH*KW), for the reduction rows of output channels k in [first, end): W is read in
    /// order, and each k writes one short run (KH*KW*8 floats) into every strip. Rows past C are zeros.
    /// </summary>
    private static unsafe void PackTransposedWeights(float* packed, float* weight, Conv2dShape s, int first, int end)
    {
        int window = s.KernelHeight * s.KernelWidth;
        int depth = s.OutChannels * window, strips = CpuGemm.Strips(s.InChannels);
        for (int k = first; k < end; k++)
        {
            for (int c = 0; c < strips * CpuGemm.Rows; c++)
            {
                float* destination = packed + ((long)(
                    c / CpuGemm.Rows) * depth + k * window) * CpuGemm.Rows + c % CpuGemm.Rows;
                float* source = weight + ((long)k * s.InChannels + c) * window;
                for (int t = 0; t < window; t++)
                    destination[(window - 1 - t) * CpuGemm.Rows] = c < s.InChannels ? source[t] : 0f;
            }
        }
    }
}
