using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: n elements of a tensor of any shape; y = max(x, 0) the ReLU's output, dy its gradient.
//   output : (n)           y[i]
//   mask   : (ceil(n/32))  bit i mod 32 of word i / 32 is y[i] > 0

/// <summary>
/// ReLU, <c>y = max(x, 0)</c>, elementwise: its backward and its bit mask. Its forward has no kernel of
/// its own: every convolution applies it in its epilogue (<see cref="Conv2d.Forward"/>).
/// </summary>
/// <remarks>
/// <para>Backward needs only the forward output: <c>dx = y &gt; 0 ? dy : 0</c> (where x = 0 the
/// subgradient 0 is used, as PyTorch does), and may run in place (dInput aliasing dOutput).</para>
/// <para>Backward needs only whether <c>y &gt; 0</c>, one bit. Where nothing else reads y after the
/// forward pass, the network keeps just those bits (<see cref="PackMask"/>, 1/32 of the floats) and
/// masks with <see cref="BackwardBits"/>. The convolution's input gradient applies either mask itself
/// where its variant can (<see cref="Conv2d.BackwardInput"/>), and calls these launchers where it cannot.</para>
/// <para>Reading order: the CPU references, kernel 1 (one thread per element, or per mask word), kernel 2
/// (the mask in host code, Relu.Cpu.cs), the launchers.</para>
/// </remarks>
public sealed partial class Relu
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _backward;
    private readonly Lazy<Action<Index1D, ArrayView<uint>, ArrayView<float>>> _packMask;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<uint>>> _backwardBits;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public Relu(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BackwardKernel));
        _packMask = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<uint>, ArrayView<float>>(PackMaskKernel));
        _backwardBits = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<uint>>(BackwardBitsKernel));
    }

    /// <summary>Words of a bit mask over n elements: ceil(n / 32).</summary>
    public static long MaskWords(long n) => (n + 31) / 32;

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of the forward pass (fused into the convolution on the device).</summary>
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

    // ---------------------------------------------------------------- kernel 1: one thread per element

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

    // ---------------------------------------------------------------- kernel 2: the mask in host code (Relu.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>dInput[i] = output[i] &gt; 0 ? dOutput[i] : 0; writes dInput, may run in place.</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<float> output)
    {
        Require.Length(dOutput, dInput.Length, nameof(dOutput));
        Require.Length(output, dInput.Length, nameof(output));
        if (dInput.Length > 0) _backward.Value((int)dInput.Length, dInput, dOutput, output);
    }

    /// <summary>
    /// mask bit i = output[i] &gt; 0, for the n elements of output; writes all of mask (the bits past n are 0).
    /// </summary>
    public void PackMask(ArrayView<uint> mask, ArrayView<float> output, KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(mask, MaskWords(output.Length), nameof(mask));
        switch (KernelChoice.Resolve(variant, _choice.Relu()))
        {
            case KernelVariant.PerElement:
                if (mask.Length > 0) _packMask.Value((int)mask.Length, mask, output);
                break;
            case KernelVariant.Cpu: PackMaskCpu(mask, output); break;
            default: throw KernelChoice.NotOffered("ReLU mask", variant);
        }
    }

    /// <summary>
    /// dInput[i] = mask bit i ? dOutput[i] : 0 (mask from <see cref="PackMask"/>); writes dInput, may run in place.
    /// </summary>
    public void BackwardBits(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<uint> mask)
    {
        Require.Length(dOutput, dInput.Length, nameof(dOutput));
        Require.Length(mask, MaskWords(dInput.Length), nameof(mask));
        if (dInput.Length > 0) _backwardBits.Value((int)dInput.Length, dInput, dOutput, mask);
    }
}
