using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The fast CPU convolution: host C# over the CPU accelerator's buffers, a packed, register-tiled
/// matrix product with AVX-512 fused multiply-adds on every core (ILGPU's CPU accelerator runs
/// kernels scalar, see <see cref="CpuHost"/>).
/// </summary>
/// <remarks>
/// <para>The product: as in the tiled GPU kernel, <c>out[M, N] = A[M, R] x B[R, N]</c> with
/// <c>R = C*KH*KW</c>, A the weights and column n of B the R input values pixel n's window reads
/// (im2col). B is never built whole ("implicit" GEMM): each panel of it is gathered when needed.</para>
/// <para>Blocking (BLIS style): A is packed once per call into strips of <see cref="CpuRows"/>
/// output channels, each stored reduction-major (the 8 values one reduction step needs are
/// adjacent). The pixels are cut into panels of <see cref="CpuPixels"/>; a panel of B is gathered
/// <see cref="CpuDepth"/> reduction rows at a time into a small buffer on the core's stack (24 KB:
/// it stays in the 32-48 KB L1 cache while every strip of A streams past it from L2). The
/// micro-kernel keeps an 8 x 32 block of the output in 16 AVX-512 registers (8 channels x 2
/// vectors of 16 pixels) and, per reduction step, loads 2 vectors of B, broadcasts 8 values of A
/// and issues 16 FMAs: 10 loads per 16 FMAs, so the FMA units, not the loads, set the pace, and 16
/// independent accumulators hide the FMA latency (4 cycles, 2 units). Output channels vectorised
/// would need the pixels broadcast instead; vectorising pixels lets the block be stored straight
/// into the CHW output rows. 8 divides every VGG channel count; 32 pixels divide VGG's row widths
/// at 512 x 512 down to relu5_1, so panels rarely straddle rows.</para>
/// <para>Work is split over the cores by panels (and by strips of A too when a small image has
/// fewer panels than 4 per core). The bias initialises the accumulators; the ReLU is applied
/// after the last reduction block, before the block is stored.</para>
/// <para>The input gradient is the same product on the transposed, flipped weights (packed
/// straight from W, no copy is kept): <c>dIn = conv(dOut', W')</c>, where dOut' is dOut spread
/// out by the stride (zeros between) and padded by <c>KH-1-P</c>. The ReLU mask of the forward
/// pass (its kept output, or its bits) is applied as dOut is gathered, so it costs no pass.</para>
/// </remarks>
public sealed partial class Conv2d
{
    /// <summary>Output channels in the CPU micro-kernel's register block.</summary>
    public const int CpuRows = 8;

    /// <summary>Pixels in the CPU micro-kernel's register block (two AVX-512 vectors).</summary>
    public const int CpuPixels = 32;

    /// <summary>Reduction rows per gathered block of B (24 KB of floats with 32 pixels: fits L1).</summary>
    public const int CpuDepth = 192;

    private readonly CpuHost.Scratch _cpuPackedWeights = new();

    /// <summary>output = conv(input, weight) + bias, then ReLU when <paramref name="fuseRelu"/>, in host code (CPU accelerator only).</summary>
    public unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias,
        Conv2dShape shape, bool fuseRelu = false)
    {
        CheckForward(output, input, weight, bias, shape);
        RequireCpu();
        CpuHost.Begin(_accelerator);
        var s = shape;
        var gather = new CpuGather
        {
            Source = CpuHost.Pointer(input), Channels = s.InChannels, Height = s.Height, Width = s.Width,
            GridWidth = s.OutWidth, KernelHeight = s.KernelHeight, KernelWidth = s.KernelWidth,
            Step = s.Stride, Spread = 1, OffsetY = -s.Padding, OffsetX = -s.Padding,
        };
        RunCpuProduct(CpuHost.Pointer(output), CpuHost.Pointer(weight), CpuHost.Pointer(bias), s, transposed: false,
            gather, s.OutChannels, s.OutHeight * s.OutWidth, fuseRelu);
    }

    /// <summary>
    /// dInput = gradient of the convolution with respect to its input, with dOut first masked by the
    /// ReLU that followed the convolution when a mask is given (<paramref name="reluOutput"/>: the
    /// kept ReLU output, dOut passes where it is &gt; 0; or <paramref name="reluBits"/>: its bit
    /// mask, <see cref="Relu.PackMask"/>); in host code (CPU accelerator only). Writes dInput.
    /// </summary>
    public unsafe void BackwardInputCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> weight,
        Conv2dShape shape, ArrayView<float> reluOutput = default, ArrayView<uint> reluBits = default)
    {
        shape.Validate();
        Require.Length(dInput, shape.Input.Length, nameof(dInput));
        Require.Length(dOutput, shape.Output.Length, nameof(dOutput));
        Require.Length(weight, shape.WeightLength, nameof(weight));
        if (reluOutput.Length > 0) Require.Length(reluOutput, shape.Output.Length, nameof(reluOutput));
        if (reluBits.Length > 0) Require.Length(reluBits, Relu.MaskWords(shape.Output.Length), nameof(reluBits));
        if (reluOutput.Length > 0 && reluBits.Length > 0)
            throw new ArgumentException("Give the ReLU mask once: as the kept output or as bits, not both.");
        RequireCpu();
        CpuHost.Begin(_accelerator);
        var s = shape;
        var gather = new CpuGather
        {
            Source = CpuHost.Pointer(dOutput), Channels = s.OutChannels, Height = s.OutHeight, Width = s.OutWidth,
            GridWidth = s.Width, KernelHeight = s.KernelHeight, KernelWidth = s.KernelWidth,
            Step = 1, Spread = s.Stride, OffsetY = s.Padding - s.KernelHeight + 1, OffsetX = s.Padding - s.KernelWidth + 1,
            MaskValues = CpuHost.Pointer(reluOutput), MaskBits = CpuHost.Pointer(reluBits),
        };
        RunCpuProduct(CpuHost.Pointer(dInput), CpuHost.Pointer(weight), null, s, transposed: true,
            gather, s.InChannels, s.Height * s.Width, relu: false);
    }

    /// <summary>Frees the host scratch of the CPU variant (the packed weights).</summary>
    public void Dispose() => _cpuPackedWeights.Dispose();

    private void RequireCpu()
    {
        if (!CpuHost.Supports(_accelerator))
            throw new InvalidOperationException($"The host-code convolution needs the CPU accelerator, not {_accelerator.Name.Trim()}.");
    }

    /// <summary>
    /// Where column n of B comes from: pixel n = (a, b) of a grid <see cref="GridWidth"/> wide, row
    /// r = (channel, i, j) reads the source at virtual position <c>(a*Step + i + OffsetY,
    /// b*Step + j + OffsetX)</c>. The virtual source is the real one spread out by
    /// <see cref="Spread"/> (a real element every Spread positions, zeros between) and zero outside.
    /// </summary>
    private unsafe struct CpuGather
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
            float* source = Source + index;
            int e = 0;
            if (MaskValues == null && MaskBits == null)
            {
                for (; e + 16 <= count; e += 16) Vector512.Store(Vector512.Load(source + e), destination + e);
                for (; e < count; e++) destination[e] = source[e];
            }
            else if (MaskValues != null)
            {
                float* mask = MaskValues + index;
                for (; e + 16 <= count; e += 16)
                {
                    var keep = Vector512.GreaterThan(Vector512.Load(mask + e), Vector512<float>.Zero);
                    Vector512.Store(Vector512.ConditionalSelect(keep, Vector512.Load(source + e), Vector512<float>.Zero), destination + e);
                }
                for (; e < count; e++) destination[e] = mask[e] > 0f ? source[e] : 0f;
            }
            else
            {
                var lanes = Vector512.Create(1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, 8192u, 16384u, 32768u);
                for (; e + 16 <= count; e += 16)
                {
                    var bits = Vector512.Create(Bits16(MaskBits, index + e)) & lanes;
                    var keep = Vector512.Equals(bits, lanes).AsSingle();
                    Vector512.Store(Vector512.ConditionalSelect(keep, Vector512.Load(source + e), Vector512<float>.Zero), destination + e);
                }
                for (; e < count; e++)
                {
                    long i = index + e;
                    destination[e] = ((MaskBits[i >> 5] >> (int)(i & 31)) & 1u) != 0 ? source[e] : 0f;
                }
            }
        }

        /// <summary>Bits i..i+15 of a bit mask (the caller guarantees bit i+15 exists).</summary>
        private static uint Bits16(uint* bits, long i)
        {
            long word = i >> 5;
            int shift = (int)(i & 31);
            uint value = bits[word] >> shift;
            if (shift > 16) value |= bits[word + 1] << (32 - shift);
            return value & 0xFFFF;
        }

        /// <summary>
        /// Gathers reduction rows [r0, r0 + rows) of the panel of pixels [n0, n0 + CpuPixels) (the
        /// pixels past <paramref name="pixels"/> as zeros) into <paramref name="panel"/>, row-major.
        /// The panel's pixels fall in a few runs along grid rows, found once; the reduction index
        /// is walked as (channel, i, j) counters, so the loop divides nothing.
        /// </summary>
        [SkipLocalsInit]
        public readonly void Pack(float* panel, int r0, int rows, int n0, int pixels)
        {
            int* runStart = stackalloc int[CpuPixels]; // the run's first pixel, relative to n0
            int* runA = stackalloc int[CpuPixels];     // its grid row a
            int* runB = stackalloc int[CpuPixels];     // its first grid column b
            int runs = 0, end = Math.Min(n0 + CpuPixels, pixels);
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
                float* destination = panel + row * CpuPixels;
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
                Zero(destination + runStart[runs], CpuPixels - runStart[runs]);
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
    /// <paramref name="transposed"/>), B gathered by <paramref name="gather"/>.
    /// </summary>
    private unsafe void RunCpuProduct(float* output, float* weight, float* bias, Conv2dShape s, bool transposed,
        CpuGather gather, int rows, int pixels, bool relu)
    {
        int depth = gather.Channels * gather.KernelHeight * gather.KernelWidth;
        int strips = (rows + CpuRows - 1) / CpuRows;
        float* packed = _cpuPackedWeights.Get((long)strips * CpuRows * depth);
        CpuHost.For(strips, (first, end) =>
        {
            for (int strip = first; strip < end; strip++) PackWeights(packed, weight, s, transposed, strip, rows, depth);
        });

        // Pixel panels, and strips of A per work item: all of them unless there are too few panels to busy every core.
        int panels = (pixels + CpuPixels - 1) / CpuPixels;
        int wanted = 4 * CpuHost.Threads;
        int stripsPerItem = panels >= wanted ? strips : Math.Max(1, strips * panels / wanted);
        int stripGroups = (strips + stripsPerItem - 1) / stripsPerItem;
        var job = new CpuProduct
        {
            Output = output, Packed = packed, Bias = bias, Gather = gather, Rows = rows, Pixels = pixels,
            Depth = depth, Strips = strips, StripsPerItem = stripsPerItem, Relu = relu,
        };
        CpuHost.For(panels * stripGroups, (first, end) => job.Run(first, end, stripGroups));
    }

    /// <summary>
    /// Packs strip <paramref name="strip"/> of A (rows strip*8 .. strip*8+7, zeros past the last) as
    /// <c>packed[(strip*R + r)*8 + i]</c>. Forward: A[m, r] = W[m, r]. Input gradient: A[c, (k, ky, kx)]
    /// = W[k, c, KH-1-ky, KW-1-kx].
    /// </summary>
    private static unsafe void PackWeights(float* packed, float* weight, Conv2dShape s, bool transposed, int strip,
        int rows, int depth)
    {
        float* destination = packed + (long)strip * depth * CpuRows;
        int window = s.KernelHeight * s.KernelWidth;
        for (int i = 0; i < CpuRows; i++)
        {
            int m = strip * CpuRows + i;
            for (int r = 0; r < depth; r++)
            {
                float value = 0f;
                if (m < rows && !transposed)
                    value = weight[(long)m * depth + r];
                else if (m < rows)
                {
                    int k = r / window, flipped = window - 1 - r % window; // (KH-1-ky)*KW + (KW-1-kx)
                    value = weight[((long)k * s.InChannels + m) * window + flipped];
                }
                destination[r * CpuRows + i] = value;
            }
        }
    }

    /// <summary>The product's operands and the loop over work items (a pixel panel x a group of A strips).</summary>
    private unsafe struct CpuProduct
    {
        public float* Output, Packed, Bias;
        public CpuGather Gather;
        public int Rows, Pixels, Depth, Strips, StripsPerItem;
        public bool Relu;

        [SkipLocalsInit]
        public readonly void Run(int firstItem, int endItem, int stripGroups)
        {
            float* panel = stackalloc float[CpuDepth * CpuPixels];
            float* tile = stackalloc float[CpuRows * CpuPixels];  // an edge block, padded to full size
            float* biasTile = stackalloc float[CpuRows];
            for (int item = firstItem; item < endItem; item++)
            {
                int n0 = item / stripGroups * CpuPixels;
                int firstStrip = item % stripGroups * StripsPerItem;
                int endStrip = Math.Min(Strips, firstStrip + StripsPerItem);
                int width = Math.Min(CpuPixels, Pixels - n0);
                for (int r0 = 0; r0 < Depth; r0 += CpuDepth)
                {
                    int depth = Math.Min(CpuDepth, Depth - r0);
                    Gather.Pack(panel, r0, depth, n0, Pixels);
                    bool first = r0 == 0, last = r0 + depth == Depth;
                    for (int strip = firstStrip; strip < endStrip; strip++)
                    {
                        int m0 = strip * CpuRows;
                        int height = Math.Min(CpuRows, Rows - m0);
                        for (int i = 0; i < CpuRows; i++) biasTile[i] = Bias != null && i < height ? Bias[m0 + i] : 0f;
                        float* a = Packed + ((long)strip * Depth + r0) * CpuRows;
                        float* c = Output + (long)m0 * Pixels + n0;
                        if (height == CpuRows && width == CpuPixels)
                        {
                            MicroKernel(a, panel, depth, c, Pixels, first ? biasTile : null, last && Relu);
                            continue;
                        }
                        // Edge block: through a full-size tile, copying only the real rows and pixels.
                        for (int i = 0; i < height && !first; i++)
                            new Span<float>(c + (long)i * Pixels, width).CopyTo(new Span<float>(tile + i * CpuPixels, width));
                        MicroKernel(a, panel, depth, tile, CpuPixels, first ? biasTile : null, last && Relu);
                        for (int i = 0; i < height; i++)
                            new Span<float>(tile + i * CpuPixels, width).CopyTo(new Span<float>(c + (long)i * Pixels, width));
                    }
                }
            }
        }
    }

    /// <summary>
    /// c[8, 32] (row stride ldc) = (init ? bias broadcast : c) + a[depth, 8]^T x b[depth, 32], then
    /// ReLU when <paramref name="relu"/>. <paramref name="init"/>: the 8 bias values to start from
    /// (first reduction block), or null to continue from c.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MicroKernel(float* a, float* b, int depth, float* c, long ldc, float* init, bool relu)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (init != null)
        {
            c00 = c01 = Vector512.Create(init[0]);
            c10 = c11 = Vector512.Create(init[1]);
            c20 = c21 = Vector512.Create(init[2]);
            c30 = c31 = Vector512.Create(init[3]);
            c40 = c41 = Vector512.Create(init[4]);
            c50 = c51 = Vector512.Create(init[5]);
            c60 = c61 = Vector512.Create(init[6]);
            c70 = c71 = Vector512.Create(init[7]);
        }
        else
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }

        for (int r = 0; r < depth; r++, a += CpuRows, b += CpuPixels)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var w = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(w, b0, c00); c01 = Vector512.FusedMultiplyAdd(w, b1, c01);
            w = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(w, b0, c10); c11 = Vector512.FusedMultiplyAdd(w, b1, c11);
            w = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(w, b0, c20); c21 = Vector512.FusedMultiplyAdd(w, b1, c21);
            w = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(w, b0, c30); c31 = Vector512.FusedMultiplyAdd(w, b1, c31);
            w = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(w, b0, c40); c41 = Vector512.FusedMultiplyAdd(w, b1, c41);
            w = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(w, b0, c50); c51 = Vector512.FusedMultiplyAdd(w, b1, c51);
            w = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(w, b0, c60); c61 = Vector512.FusedMultiplyAdd(w, b1, c61);
            w = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(w, b0, c70); c71 = Vector512.FusedMultiplyAdd(w, b1, c71);
        }

        if (relu)
        {
            var zero = Vector512<float>.Zero;
            c00 = Vector512.Max(c00, zero); c01 = Vector512.Max(c01, zero);
            c10 = Vector512.Max(c10, zero); c11 = Vector512.Max(c11, zero);
            c20 = Vector512.Max(c20, zero); c21 = Vector512.Max(c21, zero);
            c30 = Vector512.Max(c30, zero); c31 = Vector512.Max(c31, zero);
            c40 = Vector512.Max(c40, zero); c41 = Vector512.Max(c41, zero);
            c50 = Vector512.Max(c50, zero); c51 = Vector512.Max(c51, zero);
            c60 = Vector512.Max(c60, zero); c61 = Vector512.Max(c61, zero);
            c70 = Vector512.Max(c70, zero); c71 = Vector512.Max(c71, zero);
        }
        Vector512.Store(c00, c); Vector512.Store(c01, c + 16);
        Vector512.Store(c10, c + ldc); Vector512.Store(c11, c + ldc + 16);
        Vector512.Store(c20, c + 2 * ldc); Vector512.Store(c21, c + 2 * ldc + 16);
        Vector512.Store(c30, c + 3 * ldc); Vector512.Store(c31, c + 3 * ldc + 16);
        Vector512.Store(c40, c + 4 * ldc); Vector512.Store(c41, c + 4 * ldc + 16);
        Vector512.Store(c50, c + 5 * ldc); Vector512.Store(c51, c + 5 * ldc + 16);
        Vector512.Store(c60, c + 6 * ldc); Vector512.Store(c61, c + 6 * ldc + 16);
        Vector512.Store(c70, c + 7 * ldc); Vector512.Store(c71, c + 7 * ldc + 16);
    }
}
