using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// ReLU, <c>y = max(x, 0)</c>, elementwise on a tensor of any shape (n elements).
/// </summary>
/// <remarks>
/// <para>Backward needs only the forward output: <c>dx = y &gt; 0 ? dy : 0</c> (where x = 0 the
/// subgradient 0 is used, as PyTorch does). Both directions may run in place (output aliasing input).</para>
/// <para>Backward needs only whether <c>y &gt; 0</c>, one bit. Where nothing else reads y after the
/// forward pass, the network keeps just those bits (<see cref="PackMask"/>, 1/32 of the floats) and
/// masks with <see cref="BackwardBits"/>. Bit i of the mask is bit <c>i mod 32</c> of word
/// <c>i / 32</c>.</para>
/// </remarks>
public sealed partial class Relu
{
    private readonly Accelerator _accelerator;
    private readonly bool _hostCode; // run in host code (Relu.Cpu.cs)
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _backward;
    private readonly Action<Index1D, ArrayView<uint>, ArrayView<float>> _packMask;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<uint>> _backwardBits;

    /// <summary>Loads the kernels once for <paramref name="accelerator"/>.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="hostCode">Run in host code (the CPU variant); by default on the CPU accelerator,
    /// where it is many times faster than the kernels. False runs the kernels anywhere.</param>
    public Relu(Accelerator accelerator, bool? hostCode = null)
    {
        _accelerator = accelerator;
        _hostCode = CpuHost.Resolve(accelerator, hostCode);
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ForwardKernel);
        _backward = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BackwardKernel);
        _packMask = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<uint>, ArrayView<float>>(PackMaskKernel);
        _backwardBits = accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<uint>>(BackwardBitsKernel);
    }

    /// <summary>Words of a bit mask over n elements: ceil(n / 32).</summary>
    public static long MaskWords(long n) => (n + 31) / 32;

    /// <summary>output[i] = max(input[i], 0); writes output.</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input)
    {
        Require.Length(input, output.Length, nameof(input));
        if (output.Length > 0) _forward((int)output.Length, output, input);
    }

    /// <summary>dInput[i] = output[i] &gt; 0 ? dOutput[i] : 0; writes dInput.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> output)
    {
        Require.Length(dOutput, dInput.Length, nameof(dOutput));
        Require.Length(output, dInput.Length, nameof(output));
        if (dInput.Length > 0) _backward((int)dInput.Length, dInput, dOutput, output);
    }

    /// <summary>
    /// mask bit i = output[i] &gt; 0, for the n elements of output; writes all of mask (the bits past n are 0).
    /// </summary>
    public void PackMask(ArrayView<uint> mask, ArrayView<float> output)
    {
        Require.Length(mask, MaskWords(output.Length), nameof(mask));
        if (_hostCode) PackMaskCpu(mask, output);
        else if (mask.Length > 0) _packMask((int)mask.Length, mask, output);
    }

    /// <summary>
    /// dInput[i] = mask bit i ? dOutput[i] : 0 (mask from <see cref="PackMask"/>); writes dInput, may run in place.
    /// </summary>
    public void BackwardBits(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<uint> mask)
    {
        Require.Length(dOutput, dInput.Length, nameof(dOutput));
        Require.Length(mask, MaskWords(dInput.Length), nameof(mask));
        if (dInput.Length > 0) _backwardBits((int)dInput.Length, dInput, dOutput, mask);
    }

    /// <summary>One thread per element.</summary>
    public static void ForwardKernel(Index1D i, ArrayView<float> output, ArrayView<float> input) =>
        output[i] = XMath.Max(input[i], 0f);

    /// <summary>One thread per element; the forward output is the mask.</summary>
    public static void BackwardKernel(Index1D i, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<float> output) =>
        dInput[i] = output[i] > 0f ? dOutput[i] : 0f;

    /// <summary>
    /// One thread per 32-bit word: it reads its 32 consecutive outputs and sets a bit for each
    /// positive one. Each word is written whole by one thread, so no atomics are needed; the
    /// reads of a warp fall in 32 consecutive 128-byte lines, which the caches absorb.
    /// </summary>
    public static void PackMaskKernel(Index1D word, ArrayView<uint> mask, ArrayView<float> output)
    {
        int first = word * 32;
        long left = output.Length - first;
        int count = left < 32 ? (int)left : 32;
        uint bits = 0;
        for (int b = 0; b < count; b++)
        {
            if (output[first + b] > 0f) bits |= 1u << b;
        }
        mask[word] = bits;
    }

    /// <summary>One thread per element; bit i of the mask says whether y was positive.</summary>
    public static void BackwardBitsKernel(Index1D i, ArrayView<float> dInput, ArrayView<float> dOutput,
        ArrayView<uint> mask) =>
        dInput[i] = ((mask[i >> 5] >> (i & 31)) & 1u) != 0 ? dOutput[i] : 0f;

    /// <summary>CPU reference of <see cref="PackMask"/>.</summary>
    public static void PackMaskReference(uint[] mask, double[] output)
    {
        Array.Clear(mask);
        for (int i = 0; i < output.Length; i++)
        {
            if (output[i] > 0) mask[i / 32] |= 1u << (i % 32);
        }
    }

    /// <summary>CPU reference of <see cref="BackwardBits"/>.</summary>
    public static void BackwardBitsReference(double[] dInput, double[] dOutput, uint[] mask)
    {
        for (int i = 0; i < dInput.Length; i++)
            dInput[i] = (mask[i / 32] & (1u << (i % 32))) != 0 ? dOutput[i] : 0.0;
    }

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, double[] input)
    {
        for (int i = 0; i < output.Length; i++)
            output[i] = Math.Max(input[i], 0.0);
    }

    /// <summary>CPU reference of <see cref="Backward"/>.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, double[] output)
    {
        for (int i = 0; i < dInput.Length; i++)
            dInput[i] = output[i] > 0 ? dOutput[i] : 0.0;
    }
}
