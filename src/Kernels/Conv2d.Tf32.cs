using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 3 of the convolution, with <c>--tf32</c> on NVIDIA GPUs of compute capability 8.0+: what it adds
/// over kernel 2 (<see cref="TiledKernel"/>) is the inner product, done on tensor cores by the warp-level
/// <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c> instead of each thread's 4 x 4 block of FMAs.
/// </summary>
/// <remarks>
/// <para>Same GEMM as the tiled kernel: <c>out[K, P] = W[K, R] x X[R, P]</c>, R = C*KH*KW, P = OH*OW,
/// a group computes a 64 x 64 block of out and walks R 8 rows at a time through shared memory.</para>
/// <para>Warp layout: the 256 threads of a group are 8 warps of 32 (warp = thread / 32, as CUDA
/// forms warps), arranged 2 (channels) x 4 (pixels). Warp (wm, wn) owns the 32 x 16 sub-block at
/// channels 32 wm.., pixels 16 wn..: 2 x 2 tiles of 16 x 8, one <c>m16n8k8</c> each per 8-row step.
/// A = W (16 x 8, row-major), B = X (8 x 8, "col": indexed by (k, n)), C = D = out (16 x 8).</para>
/// <para>Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32), with lane = 4 g + t:
/// A: a0 = (g, t), a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4); B: b0 = (k=t, n=g), b1 = (k=t+4, n=g);
/// C/D: c0 = (g, 2t), c1 = (g, 2t+1), c2 = (g+8, 2t), c3 = (g+8, 2t+1).</para>
/// <para>TF32 keeps float's 8-bit exponent and 10 of its 23 mantissa bits: each input is rounded
/// (<c>cvt.rna.tf32.f32</c>: to nearest, ties away from zero) before the product, which is then exact in
/// fp32 and accumulated in fp32. So each product carries a relative error of at most about 2^-10.</para>
/// <para>Without CUDA (the CPU accelerator, OpenCL) the same kernel runs with the same fragment
/// loads and stores, and only the mma itself is emulated: each lane publishes its fragment registers
/// in a per-warp shared-memory scratch, and after a barrier computes its four D elements by reading
/// A[g, k] from lane 4 g + k % 4 and B[k, n] from lane 4 n + k % 4, exactly where the PTX layout puts
/// them; inputs are rounded to TF32 in software with cvt.rna's rule. The exchange goes through shared
/// memory rather than <c>Warp.Shuffle</c> so that it works for any hardware warp size (the CPU
/// accelerator's warp is whatever it was created with; OpenCL's sub-groups need an extension ILGPU's
/// OpenCL backend may lack): the "warp" here is always 32 consecutive threads of the group.</para>
/// </remarks>
public sealed partial class Conv2d
{
    private const int Tf32Threads = 256;            // 8 warps of 32
    private const int Tf32Stride = TileM + 8;       // shared row stride 72: lanes (g, t) read bank 8t + g, no conflicts
    private const int FragA = 8;                    // A registers per lane per step: 2 m-tiles x 4
    private const int FragB = 4;                    // B registers per lane per step: 2 n-tiles x 2

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, Conv2dShape, TiledFlags, int>? _tf32;

    /// <summary>
    /// The TF32 kernel's dynamic shared memory: the fragment scratch of the emulated mma
    /// (<see cref="Tf32Kernel"/>), 12 KB, where there are no tensor cores; none on CUDA.
    /// </summary>
    private SharedMemoryConfig Tf32Scratch => _accelerator.AcceleratorType == AcceleratorType.Cuda
        ? SharedMemoryConfig.Empty
        : SharedMemoryConfig.RequestDynamic<float>(Tf32Threads * (FragA + FragB));

    private void RequireTf32()
    {
        if (!_description.RunsTf32)
        {
            throw new NotSupportedException(
                $"The TF32 convolution needs {Tf32Threads} threads per group and, on CUDA, compute capability 8.0 " +
                $"or newer; {_description.Name} allows {_description.MaxThreadsPerGroup} threads per group.");
        }
    }

    /// <summary>
    /// Kernel 3 (GPU tensor cores): kernel 2's tiled implicit GEMM with <c>mma.sync</c> m16n8k8 TF32,
    /// described on the remarks above. Group (bx, by) computes output channels
    /// [64 by, 64 by + 64) x pixels [64 bx, 64 bx + 64) with 256 threads (a 1-D group), over slice z of
    /// the reduction (the same split as the tiled kernel, <see cref="Splits"/>).
    /// </summary>
    public static void Tf32Kernel(ArrayView<float> output, ArrayView<float> input, ArrayView<float> mask,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape s, TiledFlags flags, int chunk)
    {
        var tileW = SharedMemory.Allocate<float>(TileK * Tf32Stride); // tileW[kk*72 + m] = W[m0 + m, r0 + kk]
        var tileX = SharedMemory.Allocate<float>(TileK * Tf32Stride); // tileX[kk*72 + n] = X[r0 + kk, n0 + n]

        int thread = Group.IdxX;
        int warp = thread / 32, lane = thread % 32;
        int g = lane / 4, t = lane % 4;             // groupID, threadID_in_group
        int wm = (warp / 4) * 32;                   // the warp's first channel row within the tile
        int wn = (warp % 4) * 16;                   // the warp's first pixel column within the tile
        int n0 = Grid.IdxX * TileN;
        int m0 = Grid.IdxY * TileM;
        int pixels = s.OutHeight * s.OutWidth;
        var (start, count, target, epilogue) = Slice(output, s, flags, chunk);
        var operands = new ConvOperands(weight, input, mask, s, (flags & TiledFlags.MaskInput) != 0, start, count);
        int reduction = operands.Reduction;         // the rows of R this group reduces over

        var d00 = default(Accumulator4); // m-tile 0, n-tile 0
        var d01 = default(Accumulator4);
        var d10 = default(Accumulator4);
        var d11 = default(Accumulator4);
        for (int r0 = 0; r0 < reduction; r0 += TileK)
        {
            // The loads are the tiled kernel's (2 values of each tile per thread), with row stride 72.
            TiledGemm.LoadStep(operands, tileW, tileX, Tf32Stride, r0, m0, n0, thread, Tf32Threads);
            Group.Barrier();

            // Fragments from the tiles (PTX layout above): A of m-tile i = W rows wm + 16 i .. +15,
            // B of n-tile j = X columns wn + 8 j .. +7, both over this step's 8 rows of R.
            int aRow = wm + g, bCol = wn + g;
            float a00 = tileW[t * Tf32Stride + aRow], a01 = tileW[t * Tf32Stride + aRow + 8];
            float a02 = tileW[(t + 4) * Tf32Stride + aRow], a03 = tileW[(t + 4) * Tf32Stride + aRow + 8];
            float a10 = tileW[t * Tf32Stride + aRow + 16], a11 = tileW[t * Tf32Stride + aRow + 24];
            float a12 = tileW[(t + 4) * Tf32Stride + aRow + 16], a13 = tileW[(t + 4) * Tf32Stride + aRow + 24];
            float b00 = tileX[t * Tf32Stride + bCol], b01 = tileX[(t + 4) * Tf32Stride + bCol];
            float b10 = tileX[t * Tf32Stride + bCol + 8], b11 = tileX[(t + 4) * Tf32Stride + bCol + 8];

            if (CudaAsm.IsSupported)
            {
                uint ua00 = ToTf32(a00), ua01 = ToTf32(a01), ua02 = ToTf32(a02), ua03 = ToTf32(a03);
                uint ua10 = ToTf32(a10), ua11 = ToTf32(a11), ua12 = ToTf32(a12), ua13 = ToTf32(a13);
                uint ub00 = ToTf32(b00), ub01 = ToTf32(b01), ub10 = ToTf32(b10), ub11 = ToTf32(b11);
                Mma(ref d00, ua00, ua01, ua02, ua03, ub00, ub01);
                Mma(ref d01, ua00, ua01, ua02, ua03, ub10, ub11);
                Mma(ref d10, ua10, ua11, ua12, ua13, ub00, ub01);
                Mma(ref d11, ua10, ua11, ua12, ua13, ub10, ub11);
            }
            else
            {
                // Publish this lane's registers, exactly as the tensor core would receive them:
                // fragA[(warp*32 + lane)*8 + 4i + reg], fragB[(warp*32 + lane)*4 + 2j + reg]. The 12 KB
                // scratch is dynamic shared memory, requested only where the mma is emulated
                // (Tf32Scratch): a static allocation here would be declared on CUDA too, where the
                // branch is dead, and cost every group 12 KB.
                var scratch = SharedMemory.GetDynamic<float>();
                var fragA = scratch.SubView(0, Tf32Threads * FragA);
                var fragB = scratch.SubView(Tf32Threads * FragA, Tf32Threads * FragB);
                int a = thread * FragA, b = thread * FragB;
                fragA[a] = RoundTf32(a00); fragA[a + 1] = RoundTf32(a01);
                fragA[a + 2] = RoundTf32(a02); fragA[a + 3] = RoundTf32(a03);
                fragA[a + 4] = RoundTf32(a10); fragA[a + 5] = RoundTf32(a11);
                fragA[a + 6] = RoundTf32(a12); fragA[a + 7] = RoundTf32(a13);
                fragB[b] = RoundTf32(b00); fragB[b + 1] = RoundTf32(b01);
                fragB[b + 2] = RoundTf32(b10); fragB[b + 3] = RoundTf32(b11);
                Group.Barrier();
                int warpBase = warp * 32;
                EmulateMma(ref d00, fragA, fragB, warpBase, 0, 0, g, t);
                EmulateMma(ref d01, fragA, fragB, warpBase, 0, 1, g, t);
                EmulateMma(ref d10, fragA, fragB, warpBase, 1, 0, g, t);
                EmulateMma(ref d11, fragA, fragB, warpBase, 1, 1, g, t);
            }
            Group.Barrier(); // the next step overwrites the tiles (and the scratch)
        }

        // Epilogue: bias and ReLU fused; each lane stores its c0..c3 of the four tiles.
        Store(target, bias, s, epilogue, d00, m0 + wm + g, n0 + wn + 2 * t, pixels);
        Store(target, bias, s, epilogue, d01, m0 + wm + g, n0 + wn + 8 + 2 * t, pixels);
        Store(target, bias, s, epilogue, d10, m0 + wm + 16 + g, n0 + wn + 2 * t, pixels);
        Store(target, bias, s, epilogue, d11, m0 + wm + 16 + g, n0 + wn + 8 + 2 * t, pixels);
    }

    /// <summary>D += A x B on the tensor cores: one m16n8k8 TF32 product for the whole warp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mma(ref Accumulator4 d, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        // Ref: read and written (the accumulators are both C and D); Input: read only.
        Ref<float> c0 = d.C0, c1 = d.C1, c2 = d.C2, c3 = d.C3;
        Input<uint> ia0 = a0, ia1 = a1, ia2 = a2, ia3 = a3, ib0 = b0, ib1 = b1;
        CudaAsm.EmitRef(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 " +
            "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref c0, ref c1, ref c2, ref c3, ref ia0, ref ia1, ref ia2, ref ia3, ref ib0, ref ib1);
        d.C0 = c0.Value;
        d.C1 = c1.Value;
        d.C2 = c2.Value;
        d.C3 = c3.Value;
    }

    /// <summary>
    /// A float rounded to TF32 on the GPU (<c>cvt.rna</c>: nearest, ties away from zero), as mma's .b32 operand.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ToTf32(float value)
    {
        CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out uint result, value);
        return result;
    }

    /// <summary>
    /// The mma emulated from the published fragments of warp <paramref name="warpBase"/>/32: this lane's
    /// D elements (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1) of tile (mTile, nTile)
    /// += sum over k of A[row, k] B[k, col].
    /// </summary>
    private static void EmulateMma(ref Accumulator4 d, ArrayView<float> fragA, ArrayView<float> fragB, int warpBase,
        int mTile, int nTile, int g, int t)
    {
        d.C0 += EmulatedDot(fragA, fragB, warpBase, mTile, nTile, g, 2 * t);
        d.C1 += EmulatedDot(fragA, fragB, warpBase, mTile, nTile, g, 2 * t + 1);
        d.C2 += EmulatedDot(fragA, fragB, warpBase, mTile, nTile, g + 8, 2 * t);
        d.C3 += EmulatedDot(fragA, fragB, warpBase, mTile, nTile, g + 8, 2 * t + 1);
    }

    /// <summary>sum_k A[row, k] B[k, col] with A[row, k] held by lane 4 (row % 8) + k % 4 in register
    /// (row / 8) + 2 (k / 4), and B[k, col] by lane 4 col + k % 4 in register k / 4.</summary>
    private static float EmulatedDot(ArrayView<float> fragA, ArrayView<float> fragB, int warpBase, int mTile,
        int nTile, int row, int col)
    {
        float sum = 0f;
        for (int k = 0; k < 8; k++)
        {
            float a = fragA[(warpBase + 4 * (row % 8) + k % 4) * FragA + 4 * mTile + row / 8 + 2 * (k / 4)];
            float b = fragB[(warpBase + 4 * col + k % 4) * FragB + 2 * nTile + k / 4];
            sum += a * b;
        }
        return sum;
    }

    /// <summary>Stores D elements (row, col), (row, col+1), (row+8, col), (row+8, col+1) with bias and ReLU.</summary>
    private static void Store(ArrayView<float> output, ArrayView<float> bias, Conv2dShape s, TiledFlags flags,
        Accumulator4 d, int row, int col, int pixels)
    {
        StoreOne(output, bias, s, flags, d.C0, row, col, pixels);
        StoreOne(output, bias, s, flags, d.C1, row, col + 1, pixels);
        StoreOne(output, bias, s, flags, d.C2, row + 8, col, pixels);
        StoreOne(output, bias, s, flags, d.C3, row + 8, col + 1, pixels);
    }

    private static void StoreOne(ArrayView<float> output, ArrayView<float> bias, Conv2dShape s, TiledFlags flags,
        float value, int k, int p, int pixels)
    {
        if (k >= s.OutChannels || p >= pixels) return;
        if ((flags & TiledFlags.Bias) != 0) value += bias[k];
        if ((flags & TiledFlags.Relu) != 0) value = XMath.Max(value, 0f);
        output[k * pixels + p] = value;
    }

    /// <summary>
    /// <paramref name="value"/> rounded to TF32 (10 mantissa bits) by <c>cvt.rna</c>'s rule: to nearest,
    /// ties away from zero, on the 13 low mantissa bits; infinities and NaN pass unchanged.
    /// </summary>
    public static float RoundTf32(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        if ((bits & 0x7F800000u) == 0x7F800000u) return value;
        // Adding half of the dropped unit to the magnitude bits rounds ties away from zero; a carry
        // into the exponent is the correct result (e.g. up to the next power of two).
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }

    // ---------------------------------------------------------------- its launch

    /// <summary>Launches kernel 3 (256 threads a group) over kernel 2's slices of the reduction.</summary>
    private void LaunchTf32(TiledProduct product, int splits)
    {
        RequireTf32();
        _tf32 ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, TiledFlags, int>(Tf32Kernel);
        LaunchSlices(_tf32, new Index3D(Tf32Threads, 1, 1), Tf32Scratch, product, splits);
    }
}

/// <summary>
/// One lane's four accumulators of an m16n8 tile: c0 = (g, 2t), c1 = (g, 2t+1), c2 = (g+8, 2t), c3 = (g+8, 2t+1).
/// </summary>
internal struct Accumulator4
{
    /// <summary>D[g, 2t].</summary>
    public float C0;

    /// <summary>D[g, 2t + 1].</summary>
    public float C1;

    /// <summary>D[g + 8, 2t].</summary>
    public float C2;

    /// <summary>D[g + 8, 2t + 1].</summary>
    public float C3;
}
