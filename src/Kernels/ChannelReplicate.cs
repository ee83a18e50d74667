using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The affine map from one channel to three of each plane: <c>output[c, p] = Scale_c * input[p] + Offset_c</c>
/// for c = 0, 1, 2. How luminance-only transfer feeds its one optimized channel (the luminance) to a
/// network that takes three: a grey pixel has R = G = B = Y, which preprocessing turns into a different
/// affine function of Y in each network channel (caffe subtracts each channel's mean; torchvision also
/// divides by each channel's deviation).
/// </summary>
/// <param name="PlaneLength">H * W, the pixels of one channel.</param>
/// <param name="Scale0">Scale of network channel 0.</param>
/// <param name="Scale1">Scale of network channel 1.</param>
/// <param name="Scale2">Scale of network channel 2.</param>
/// <param name="Offset0">Offset of network channel 0.</param>
/// <param name="Offset1">Offset of network channel 1.</param>
/// <param name="Offset2">Offset of network channel 2.</param>
public readonly record struct ReplicateParameters(int PlaneLength, float Scale0, float Scale1, float Scale2,
    float Offset0, float Offset1, float Offset2)
{
    /// <summary>The parameters of a plane of <paramref name="planeLength"/> pixels.</summary>
    public static ReplicateParameters Of(int planeLength, IReadOnlyList<float> scale, IReadOnlyList<float> offset)
    {
        if (scale.Count != 3 || offset.Count != 3)
            throw new ArgumentException("Three scales and three offsets, one per output channel.");
        return new(planeLength, scale[0], scale[1], scale[2], offset[0], offset[1], offset[2]);
    }

    /// <summary>Scale of channel c.</summary>
    public float Scale(int c) => c == 0 ? Scale0 : c == 1 ? Scale1 : Scale2;

    /// <summary>Offset of channel c.</summary>
    public float Offset(int c) => c == 0 ? Offset0 : c == 1 ? Offset1 : Offset2;
}

/// <summary>
/// <see cref="ReplicateParameters"/>'s map forward, and its adjoint backward:
/// <c>dInput[p] = sum_c Scale_c * dOutput[c, p]</c>, the gradient with respect to the one channel.
/// </summary>
/// <remarks>Glossary: P = H * W pixels. Layout: <c>input[p]</c> (1, H, W); <c>output[c*P + p]</c> (3, H, W).
/// Both directions write (never accumulate) their output. Reading order: the CPU references, kernel 1 (one
/// thread per element), kernel 2 (host code, ChannelReplicate.Cpu.cs), the launchers.</remarks>
public sealed partial class ChannelReplicate
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ReplicateParameters>> _forward;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ReplicateParameters>> _backward;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public ChannelReplicate(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ReplicateParameters>(ForwardKernel));
        _backward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ReplicateParameters>(BackwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>Reference for <see cref="Forward"/>, in double: each channel c of each pixel p.</summary>
    public static void ForwardReference(double[] output, double[] input, ReplicateParameters p)
    {
        Validate(output.Length, input.Length, p, nameof(output), nameof(input));
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < p.PlaneLength; i++)
            output[c * p.PlaneLength + i] = (double)p.Scale(c) * input[i] + p.Offset(c);
    }

    /// <summary>Reference for <see cref="Backward"/>, in double: d/dinput[p] of sum_c,q dOutput[c,q] *
    /// output[c,q] is sum_c Scale_c dOutput[c,p], since output[c,q] depends on input[p] only where q = p.</summary>
    public static void BackwardReference(double[] dInput, double[] dOutput, ReplicateParameters p)
    {
        Validate(dOutput.Length, dInput.Length, p, nameof(dOutput), nameof(dInput));
        for (int i = 0; i < p.PlaneLength; i++)
        {
            double sum = 0;
            for (int c = 0; c < 3; c++) sum += (double)p.Scale(c) * dOutput[c * p.PlaneLength + i];
            dInput[i] = sum;
        }
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per output element (c, p).</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> input,
        ReplicateParameters p)
    {
        int c = index / p.PlaneLength;
        output[index] = p.Scale(c) * input[index - c * p.PlaneLength] + p.Offset(c);
    }

    /// <summary>One thread per pixel p: the three channels' gradients, each times its scale.</summary>
    public static void BackwardKernel(Index1D index, ArrayView<float> dInput, ArrayView<float> dOutput,
        ReplicateParameters p)
    {
        dInput[index] = p.Scale0 * dOutput[index] + p.Scale1 * dOutput[index + p.PlaneLength]
                        + p.Scale2 * dOutput[index + 2 * p.PlaneLength];
    }

    // ---------------------------------------------------------------- kernel 2: host code (ChannelReplicate.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>Writes all of <paramref name="output"/> (3, H, W) from <paramref name="input"/> (1, H, W).</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ReplicateParameters p,
        KernelVariant variant = KernelVariant.Auto)
    {
        Validate(output.Length, input.Length, p, nameof(output), nameof(input));
        if (p.PlaneLength == 0) return;
        switch (KernelChoice.Resolve(variant, _choice.Replicate()))
        {
            case KernelVariant.PerElement: _forward.Value(3 * p.PlaneLength, output, input, p); break;
            case KernelVariant.Cpu: ForwardCpu(output, input, p); break;
            default: throw KernelChoice.NotOffered("channel replication", variant);
        }
    }

    /// <summary>Writes all of <paramref name="dInput"/> (1, H, W) from <paramref name="dOutput"/> (3, H, W).</summary>
    public void Backward(ArrayView<float> dInput, ArrayView<float> dOutput, ReplicateParameters p,
        KernelVariant variant = KernelVariant.Auto)
    {
        Validate(dOutput.Length, dInput.Length, p, nameof(dOutput), nameof(dInput));
        if (p.PlaneLength == 0) return;
        switch (KernelChoice.Resolve(variant, _choice.Replicate()))
        {
            case KernelVariant.PerElement: _backward.Value(p.PlaneLength, dInput, dOutput, p); break;
            case KernelVariant.Cpu: BackwardCpu(dInput, dOutput, p); break;
            default: throw KernelChoice.NotOffered("channel replication", variant);
        }
    }

    private static void Validate(long threeChannels, long oneChannel, ReplicateParameters p, string threeName,
        string oneName)
    {
        if (p.PlaneLength < 0) throw new ArgumentException($"A plane of {p.PlaneLength} pixels.", nameof(p));
        if (threeChannels != 3L * p.PlaneLength)
            throw new ArgumentException($"{threeName} must hold 3 x {p.PlaneLength} values, has {threeChannels}.");
        if (oneChannel != p.PlaneLength)
            throw new ArgumentException($"{oneName} must hold {p.PlaneLength} values, has {oneChannel}.");
    }
}
