using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Which implementation a launcher runs: the one dispatch of every operation. <see cref="Auto"/> asks
/// <see cref="KernelChoice"/>; a launcher refuses a variant its operation does not have.
/// </summary>
public enum KernelVariant
{
    /// <summary>
    /// Whatever <see cref="KernelChoice"/> picks for this accelerator, operation and shape: the same
    /// rule for every operation, and the one the network runs (see that class for the rule).
    /// </summary>
    Auto,

    /// <summary>One thread per output element: the plain GPU kernel (kernel 1 of every operation).</summary>
    PerElement,

    /// <summary>A shared-memory tiled matrix product (GPU; needs 256 threads per group).</summary>
    Tiled,

    /// <summary>The tiled convolution on TF32 tensor cores (<c>--tf32</c>; NVIDIA compute capability 8.0+).</summary>
    Tf32,

    /// <summary>Host code over the CPU accelerator's buffers: SIMD on every core (<see cref="CpuHost"/>).</summary>
    Cpu,
}

/// <summary>
/// What the choice of kernels needs to know about an accelerator. Made from an ILGPU
/// <see cref="ILGPU.Runtime.Accelerator"/>, from a <see cref="Device"/> before any accelerator exists
/// (the memory check of a run), or by hand (tests describe a GPU on a machine without one).
/// </summary>
/// <param name="Type">CPU, CUDA or OpenCL.</param>
/// <param name="MaxThreadsPerGroup">The largest group the accelerator runs.</param>
/// <param name="Tf32TensorCores">An NVIDIA GPU of compute capability 8.0 or newer (<c>mma.sync</c> on TF32).</param>
/// <param name="Name">The device's name, for messages.</param>
public readonly record struct AcceleratorDescription(AcceleratorType Type, int MaxThreadsPerGroup, bool Tf32TensorCores,
    string Name = "")
{
    /// <summary>Threads in a group of the tiled kernels (16 x 16) and of the TF32 kernel (8 warps of 32).</summary>
    public const int TiledGroupThreads = TiledGemm.Threads * TiledGemm.Threads;

    /// <summary>The description of a device, without creating an accelerator for it.</summary>
    public static AcceleratorDescription Of(Device device) => new(device.AcceleratorType, device.MaxNumThreadsPerGroup,
        device is CudaDevice { Architecture: { Major: >= 8 } }, device.Name.Trim());

    /// <summary>The description of an accelerator.</summary>
    public static AcceleratorDescription Of(Accelerator accelerator) => new(accelerator.AcceleratorType,
        accelerator.MaxNumThreadsPerGroup, accelerator is CudaAccelerator { Architecture.Major: >= 8 },
            accelerator.Name.Trim());

    /// <summary>Whether a group of 256 threads fits: the tiled kernels can run.</summary>
    public bool FitsTiledGroups => MaxThreadsPerGroup >= TiledGroupThreads;

    /// <summary>
    /// Whether the TF32 kernel can run: on CUDA it needs tensor cores; elsewhere (the CPU accelerator
    /// in tests, OpenCL) the same kernel emulates TF32's rounding in plain arithmetic, given 256-thread groups.
    /// </summary>
    public bool RunsTf32 => FitsTiledGroups && (Type != AcceleratorType.Cuda || Tf32TensorCores);
}

/// <summary>
/// The one rule that decides which kernel variant runs each operation. The network, the memory
/// estimate, the launchers' <see cref="KernelVariant.Auto"/>, bench and verify all ask it.
/// </summary>
/// <remarks>
/// <para>The rule, from the accelerator first and the shape second:</para>
/// <list type="bullet">
/// <item>The CPU accelerator runs host code everywhere (<see cref="KernelVariant.Cpu"/>): its
/// buffers are host memory, and plain C# with SIMD on every core beats anything ILGPU's CPU
/// accelerator runs, which is scalar, with each simulated thread an OS thread and each group
/// barrier a real one (ILGPU-NOTES.md). Its kernels still run there in the checks.</item>
/// <item>A GPU that fits 256-thread groups runs the tiled matrix products: convolutions both ways and
/// the Gram matrix both ways; with <c>--tf32</c>, the convolutions on TF32 tensor cores instead.
/// One shape is the exception: an input gradient with fewer than 16 channels (conv1_1's, the
/// image) would waste most of a 64-channel tile (<see cref="TiledPays"/>), and one with a
/// stride or padding the transposed product cannot express has no tiled form; both run per element.
/// Every pass over memory (ReLU's mask, pooling, the losses, vector arithmetic, windows) runs one
/// thread per element.</item>
/// <item>Any other GPU runs one thread per element.</item>
/// </list>
/// <para>A new variant is one more branch in <see cref="Family"/> (or in the method of the
/// operation it serves); every caller follows.</para>
/// <para>With <c>--tune</c> the rule is measured instead for the convolutions: a table of the fastest correct
/// variant per shape, timed on this device (KernelChoice.Tuning.cs, <see cref="Tuning.KernelTuner"/>), answers
/// first; a new variant joins the tuning by being one more of <see cref="Candidates"/>.</para>
/// </remarks>
public sealed partial class KernelChoice
{
    // The first pass of a reduction: a GPU wants tens of thousands of threads in flight to reach its
    // memory bandwidth; the CPU accelerator wants one chunk per core or so.
    private const int GpuReductionWidth = 16384;
    private const int CpuReductionWidth = 32;

    /// <summary>
    /// The rule for <paramref name="accelerator"/>. TF32 is validated here, once for every caller.
    /// </summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="tf32">The user's <c>--tf32</c>: the convolutions on TF32 tensor cores.</param>
    /// <param name="tiledOnCpu">Run the GPU's tiled kernels on the CPU accelerator too (tests of the
    /// network as a GPU runs it, on a CPU accelerator whose groups hold 256 threads).</param>
    /// <exception cref="DeviceSelectionException">TF32 asked of an accelerator that cannot run it.</exception>
    /// <exception cref="ArgumentException">Tiled kernels asked of an accelerator whose groups are too
    /// small.</exception>
    public KernelChoice(AcceleratorDescription accelerator, bool tf32 = false, bool tiledOnCpu = false)
    {
        if (tf32 && !accelerator.RunsTf32)
        {
            throw new DeviceSelectionException("--tf32 needs an NVIDIA GPU of compute capability 8.0 or newer " +
                $"(Ampere, Hopper, ...); {accelerator.Name} has no TF32 tensor cores. Leave --tf32 out.");
        }
        if (tiledOnCpu && !accelerator.FitsTiledGroups)
        {
            throw new ArgumentException($"{accelerator.Name} allows {accelerator.MaxThreadsPerGroup} threads per " +
                                        "group; " +
                                        $"the tiled kernels need {AcceleratorDescription.TiledGroupThreads}.",
                                            nameof(tiledOnCpu));
        }
        Accelerator = accelerator;
        Tf32 = tf32;
        TiledOnCpu = tiledOnCpu;
    }

    /// <summary>The rule for an accelerator with nothing asked of it.</summary>
    public static KernelChoice For(Accelerator accelerator) => new(AcceleratorDescription.Of(accelerator));

    /// <summary>The accelerator the rule chooses for.</summary>
    public AcceleratorDescription Accelerator { get; }

    /// <summary>Whether the convolutions run on TF32 tensor cores.</summary>
    public bool Tf32 { get; }

    /// <summary>Whether the CPU accelerator runs the GPU's tiled kernels (tests).</summary>
    public bool TiledOnCpu { get; }

    /// <summary>The kind of kernels this accelerator wants for the matrix products, before any shape is looked
    /// at.</summary>
    private KernelVariant Family =>
        Accelerator.Type == AcceleratorType.CPU && !TiledOnCpu ? KernelVariant.Cpu
        : Accelerator.FitsTiledGroups ? KernelVariant.Tiled
        : KernelVariant.PerElement;

    /// <summary>
    /// The passes over memory: host code where the buffers are host memory (the CPU accelerator, also when
    /// a test runs the tiled products there), one thread per element on a GPU.
    /// </summary>
    private KernelVariant Pass =>
        Accelerator.Type == AcceleratorType.CPU ? KernelVariant.Cpu : KernelVariant.PerElement;

    // ---------------------------------------------------------------- the matrix products

    /// <summary>The forward convolution (with its fused ReLU).</summary>
    public KernelVariant ConvForward(Conv2dShape shape)
    {
        shape.Validate();
        if (Tuned(TunedOperation.ConvForward, shape) is { } tuned) return tuned; // measured here (Tuning/)
        return Tf32 ? KernelVariant.Tf32 : Family;
    }

    /// <summary>The convolution's input gradient.</summary>
    public KernelVariant ConvInputGradient(Conv2dShape shape)
    {
        shape.Validate();
        if (Tuned(TunedOperation.ConvInputGradient, shape) is { } tuned) return tuned; // measured here (Tuning/)
        var family = Tf32 ? KernelVariant.Tf32 : Family;
        bool tiled = family is KernelVariant.Tiled or KernelVariant.Tf32;
        if (tiled && !(shape.HasTransposedForm && TiledPays(shape.Transposed)))
            return KernelVariant.PerElement;
        return family;
    }

    /// <summary>Both directions of a convolution layer.</summary>
    public ConvVariants Conv(Conv2dShape shape) => new(ConvForward(shape), ConvInputGradient(shape));

    /// <summary>
    /// Whether the tiled product pays for a convolution of this shape. A group always computes 64 output
    /// channels; with fewer than 16 it would throw away more than 3/4 of its work. In VGG that is exactly one
    /// product, the input gradient of conv1_1 (3 channels, the image): tiled, it would cost as much as a
    /// 64-channel layer (about 19 GFLOP-equivalent at 512 x 512 instead of 0.9), while the one-thread-per-element
    /// kernel does only the real work.
    /// </summary>
    private static bool TiledPays(Conv2dShape shape) => shape.OutChannels >= 16;

    /// <summary>The Gram matrix, <c>G = s F F^T</c>.</summary>
    public KernelVariant GramForward(GramShape shape)
    {
        shape.Validate();
        return Family;
    }

    /// <summary>The Gram matrix's backward, <c>dF = s (dG + dG^T) F</c>.</summary>
    public KernelVariant GramBackward(GramShape shape)
    {
        shape.Validate();
        return Family;
    }

    // ---------------------------------------------------------------- the passes over memory
    // One rule (Pass) for all of them, asked by each operation on its own so that one can change alone.

    /// <summary>The ReLU's bit mask (<see cref="Kernels.Relu.PackMask"/>).</summary>
    public KernelVariant Relu() => Pass;

    /// <summary>Max pooling, both directions.</summary>
    public KernelVariant MaxPool() => Pass;

    /// <summary>Average pooling, both directions.</summary>
    public KernelVariant AvgPool() => Pass;

    /// <summary>The mean squared error, value and gradient.</summary>
    public KernelVariant Mse() => Pass;

    /// <summary>Total variation, value and gradient.</summary>
    public KernelVariant TotalVariation() => Pass;

    /// <summary>The temporal loss of video (Ruder et al.), value and gradient.</summary>
    public KernelVariant TemporalLoss() => Pass;

    /// <summary>The optimizers' vector arithmetic and sums.</summary>
    public KernelVariant Vectors() => Pass;

    /// <summary>The window copies of a tiled evaluation.</summary>
    public KernelVariant Window() => Pass;

    /// <summary>Luminance-only transfer's one channel to three and back.</summary>
    public KernelVariant Replicate() => Pass;

    /// <summary>The guide multiply of the guided Gram matrices.</summary>
    public KernelVariant Guide() => Pass;

    /// <summary>
    /// Threads of the first pass of <see cref="Reduction"/>'s sums: few on the CPU accelerator,
    /// many on a GPU. By the accelerator alone (a CPU running tiled kernels for a test still sums as a CPU).
    /// </summary>
    public int ReductionWidth => Accelerator.Type == AcceleratorType.CPU ? CpuReductionWidth : GpuReductionWidth;

    /// <summary>
    /// <paramref name="variant"/> itself, or for <see cref="KernelVariant.Auto"/> the rule's choice
    /// <paramref name="auto"/>: what every launcher switches on.
    /// </summary>
    public static KernelVariant Resolve(KernelVariant variant, KernelVariant auto) =>
        variant == KernelVariant.Auto ? auto : variant;

    /// <summary>The error of a launcher asked for a variant its operation does not have.</summary>
    public static ArgumentException NotOffered(string operation, KernelVariant variant) =>
        new($"The {operation} has no {variant} variant.", nameof(variant));

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Accelerator.Type} '{Accelerator.Name}' ({Accelerator.MaxThreadsPerGroup} threads per group" +
        $"{(Tf32 ? ", TF32" : "")}{(TiledOnCpu ? ", tiled on the CPU" : "")})";
}

/// <summary>The variants one convolution layer runs, as <see cref="KernelChoice.Conv"/> chose them.</summary>
/// <param name="Forward">The forward convolution with its fused ReLU.</param>
/// <param name="InputGradient">The input gradient.</param>
public readonly record struct ConvVariants(KernelVariant Forward, KernelVariant InputGradient)
{
    /// <summary>
    /// Whether the input gradient is a tiled product: it then reads the transposed, flipped weights,
    /// a second copy that <see cref="Conv2d.Prepare"/> makes once (and the memory estimate counts).
    /// </summary>
    public bool TiledInputGradient => InputGradient is KernelVariant.Tiled or KernelVariant.Tf32;
}
