using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The convolution tiled in shared memory, one output per thread: the step between the plain
/// kernel and the fast one, written to be read. The network does not run it.
/// </summary>
/// <remarks>
/// <para>The progression of the forward convolution, each version tested against the same CPU
/// reference (<see cref="ForwardReference"/>): kernel 1 (<see cref="ForwardPerElementKernel"/>) gives
/// each thread one output and reads every input and weight it needs from global memory; kernel 2
/// (<see cref="ForwardPerRowKernel"/>) is its coarse form for the CPU accelerator; kernel 3, this one,
/// has a group share what it loads through shared memory; kernel 4 (<see cref="TiledKernel"/>) also
/// gives each thread a 4 x 4 block of outputs in registers and splits the reduction of deep layers;
/// kernel 5 (<see cref="Tf32Kernel"/>) runs kernel 4's tiles on tensor cores.</para>
/// <para>Why tiles: seen as a matrix product <c>out[K, P] = W[K, R] x X[R, P]</c> (R = C*KH*KW,
/// P = OH*OW, X the "im2col" matrix of <see cref="ConvOperands"/>), every output reads a row of W and a
/// column of X, R values each. Kernel 1 fetches them all from global memory for every output; here a
/// group of 16 x 16 threads computes a 16 x 16 block of out and walks R 16 rows at a time: each thread
/// loads one value of W's 16 x 16 slice and one of X's into shared memory, and after a barrier each
/// reads 16 of each from there. Every value loaded from global memory is thus used by 16 threads.</para>
/// <para>What kernel 4 adds: with one output per thread, each multiply-add still costs two
/// shared-memory reads; with 4 x 4 outputs per thread, 8 reads feed 16 multiply-adds, and a 64 x 64
/// block uses each global load 64 times instead of 16.</para>
/// <para>The input gradient is the same kernel over the transposed, flipped weights
/// (<see cref="TransposeFlip"/>), with the ReLU mask fused into the loads, exactly as for kernel 4.</para>
/// </remarks>
public sealed partial class Conv2d
{
    /// <summary>Side of the shared tile: a group of 16 x 16 threads computes 16 channels x 16 pixels.</summary>
    public const int SharedTile = 16;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, Conv2dShape, TiledFlags>? _sharedTile;

    /// <summary>
    /// Forward with the shared-memory tiled kernel (kernel 3): output = conv(input) + bias, ReLU when
    /// <paramref name="fuseRelu"/>. Needs 256 threads per group, like <see cref="ForwardTiled"/>.
    /// </summary>
    public void ForwardSharedTile(ArrayView<float> output, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, Conv2dShape shape, bool fuseRelu)
    {
        CheckForward(output, input, weight, bias, shape);
        var flags = TiledFlags.Bias | (fuseRelu ? TiledFlags.Relu : TiledFlags.None);
        LaunchSharedTile(output, input, input, weight, bias, shape, flags);
    }

    /// <summary>
    /// dInput with the shared-memory tiled kernel over <paramref name="transposedWeight"/> (from
    /// <see cref="TransposeFlip"/>), dOutput masked by <c>reluOutput &gt; 0</c> when
    /// <paramref name="reluOutput"/> is given. Same contract as <see cref="BackwardInputTiled"/>:
    /// stride 1, a square kernel, padding &lt;= KH-1. Writes dInput.
    /// </summary>
    public void BackwardInputSharedTile(ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> transposedWeight, ArrayView<float> reluOutput, Conv2dShape shape)
    {
        var (mask, flags) =
            CheckTransposedGradient(dInput, dOutput, transposedWeight, reluOutput, shape, "shared-tile");
        LaunchSharedTile(dInput, dOutput, mask, transposedWeight, transposedWeight, TransposedShape(shape), flags);
    }

    private void LaunchSharedTile(ArrayView<float> output, ArrayView<float> input, ArrayView<float> mask,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape shape, TiledFlags flags)
    {
        RequireTiledGroups("shared-tile");
        _sharedTile ??= _accelerator.LoadSharedMemoryLauncher<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Conv2dShape, TiledFlags>(SharedTileKernel);
        int pixels = shape.OutHeight * shape.OutWidth;
        var groups = new Index2D((pixels + SharedTile - 1) / SharedTile,
            (shape.OutChannels + SharedTile - 1) / SharedTile);
        _sharedTile(new KernelConfig(groups, new Index2D(SharedTile, SharedTile)),
            output, input, mask, weight, bias, shape, flags);
    }

    /// <summary>
    /// Forward, kernel 3 (GPU): group (bx, by) computes output channels [16 by, 16 by + 16) x pixels
    /// [16 bx, 16 bx + 16); thread (tx, ty) of it computes channel 16 by + ty at pixel 16 bx + tx.
    /// </summary>
    public static void SharedTileKernel(ArrayView<float> output, ArrayView<float> input, ArrayView<float> mask,
        ArrayView<float> weight, ArrayView<float> bias, Conv2dShape s, TiledFlags flags)
    {
        // tileW[row*16 + kk] = W[k0 + row, r0 + kk] and tileX[kk*16 + column] = X[r0 + kk, p0 + column]:
        // this step's 16 x 16 slices of both operands, shared by the whole group.
        var tileW = SharedMemory.Allocate<float>(SharedTile * SharedTile);
        var tileX = SharedMemory.Allocate<float>(SharedTile * SharedTile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int k0 = Grid.IdxY * SharedTile, p0 = Grid.IdxX * SharedTile;
        int k = k0 + ty, p = p0 + tx; // this thread's output: channel k, pixel p
        int reduction = s.InChannels * s.KernelHeight * s.KernelWidth;
        int pixels = s.OutHeight * s.OutWidth;
        // W as [K, R] and X gathered from the input on the fly (im2col, zero in the padding, masked
        // when the flags ask for the fused ReLU backward).
        var operands = new ConvOperands(weight, input, mask, s, (flags & TiledFlags.MaskInput) != 0, 0, reduction);

        float sum = 0f;
        for (int r0 = 0; r0 < reduction; r0 += SharedTile)
        {
            // Each thread loads one value of each slice: neighbouring threads (tx) read neighbouring
            // r of a row of W and neighbouring pixels of X, so the loads coalesce. Outside the
            // matrices (the last, partial step; groups over the edge) the slices hold zeros, which
            // add nothing, so the loop below needs no bounds test.
            int r = r0 + tx;
            tileW[ty * SharedTile + tx] = k < s.OutChannels && r < reduction ? operands.A(k, r) : 0f;
            r = r0 + ty;
            tileX[ty * SharedTile + tx] = r < reduction && p < pixels ? operands.B(r, p) : 0f;

            // Barrier 1: a thread reads values other threads wrote, so all must have written first.
            Group.Barrier();

            // Row ty of W's slice times column tx of X's: one multiply-add per value read. The 16
            // threads of a row read the same tileW value (a broadcast), and neighbouring threads read
            // neighbouring tileX values (different banks): no shared-memory bank conflicts.
            for (int kk = 0; kk < SharedTile; kk++)
                sum += tileW[ty * SharedTile + kk] * tileX[kk * SharedTile + tx];

            // Barrier 2: the next step overwrites the slices, so all must have finished reading.
            Group.Barrier();
        }

        // Threads past the edge return only now: every thread of the group must reach every barrier.
        if (k >= s.OutChannels || p >= pixels) return;
        if ((flags & TiledFlags.Bias) != 0) sum += bias[k];
        if ((flags & TiledFlags.Relu) != 0) sum = XMath.Max(sum, 0f);
        output[k * pixels + p] = sum;
    }
}
