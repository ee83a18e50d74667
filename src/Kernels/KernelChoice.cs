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

    /// <summary>Winograd's convolution on a GPU (3x3, stride 1): input transform, a batched tiled product, output
    /// transform (<see cref="Winograd"/>; needs 256 threads per group for the product).</summary>
    Winograd,

    /// <summary>Winograd's convolution in host code over the CPU accelerator's buffers (3x3, stride 1).</summary>
    CpuWinograd,
}

/// <summary>
/// Which algorithm computes the 3x3 convolutions (<c>--conv-algorithm</c>): the direct product, Winograd's
/// (less arithmetic, a little less precision), or each layer's faster by <see cref="KernelChoice"/>'s rule.
/// </summary>
public enum ConvAlgorithm
{
    /// <summary>Winograd where the rule says it pays for the layer, shape and device; else direct.</summary>
    Auto,

    /// <summary>Every convolution the direct product, exactly as before Winograd existed: the same arithmetic,
    /// bit for bit (the Gram matrix's too, <see cref="KernelChoice.GramAsProduct"/>), and the same memory. What the
    /// parity tests run.</summary>
    Direct,

    /// <summary>Winograd for every convolution it can compute (3x3, stride 1, at least 16 channels each way);
    /// the rest direct.</summary>
    Winograd,
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
/// <item>The 3x3, stride-1 convolutions may run Winograd's algorithm instead (<see cref="ConvAlgorithm"/>,
/// <see cref="Winograd"/>), each direction on its own: never with TF32 or on a GPU without 256-thread groups,
/// never a product with fewer than 16 channels in or out (conv1_1: its 3-channel image makes the transforms
/// cost more than they save). With <see cref="ConvAlgorithm.Winograd"/> every other one does; with
/// <see cref="ConvAlgorithm.Auto"/>, on the CPU, those where <see cref="WinogradPays"/> says it costs less than the
/// direct product, by arithmetic and weight traffic; on a GPU none yet (the GPU kernel is checked, not
/// measured: no GPU was at hand to time it).</item>
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
    /// <param name="algorithm">The user's <c>--conv-algorithm</c>: Winograd where it pays (the default), never, or
    /// wherever it can run.</param>
    public KernelChoice(AcceleratorDescription accelerator, bool tf32 = false, bool tiledOnCpu = false,
        ConvAlgorithm algorithm = ConvAlgorithm.Auto)
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
        Algorithm = algorithm;
    }

    /// <summary>The rule for an accelerator with nothing asked of it.</summary>
    public static KernelChoice For(Accelerator accelerator) => new(AcceleratorDescription.Of(accelerator));

    /// <summary>The accelerator the rule chooses for.</summary>
    public AcceleratorDescription Accelerator { get; }

    /// <summary>Whether the convolutions run on TF32 tensor cores.</summary>
    public bool Tf32 { get; }

    /// <summary>Whether the CPU accelerator runs the GPU's tiled kernels (tests).</summary>
    public bool TiledOnCpu { get; }

    /// <summary>Which algorithm the 3x3 convolutions may run (<c>--conv-algorithm</c>).</summary>
    public ConvAlgorithm Algorithm { get; }

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
    public KernelVariant ConvForward(Conv2dShape shape) => Conv(shape).Forward;

    /// <summary>The convolution's input gradient.</summary>
    public KernelVariant ConvInputGradient(Conv2dShape shape) => Conv(shape).InputGradient;

    /// <summary>
    /// Both directions of a convolution layer: the variants, Winograd's tile where a direction runs it, and
    /// whether the host code's direct product packs its weights once, when the layer is built (any algorithm
    /// but <see cref="ConvAlgorithm.Direct"/>, which keeps the memory of before: packed per call).
    /// </summary>
    public ConvVariants Conv(Conv2dShape shape)
    {
        shape.Validate();
        var family = Tf32 ? KernelVariant.Tf32 : Family;
        var inputGradient = family;
        bool tiled = family is KernelVariant.Tiled or KernelVariant.Tf32;
        if (tiled && !(shape.HasTransposedForm && TiledPays(shape.Transposed)))
            inputGradient = KernelVariant.PerElement;
        var forwardTile = WinogradFor(shape);
        var inputGradientTile = shape.HasTransposedForm ? WinogradFor(shape.Transposed) : null;
        var winograd = family == KernelVariant.Cpu ? KernelVariant.CpuWinograd : KernelVariant.Winograd;
        var rule = new ConvVariants(forwardTile is null ? family : winograd,
            inputGradientTile is null ? inputGradient : winograd, forwardTile ?? default, inputGradientTile ?? default,
            PackedOnce: family == KernelVariant.Cpu && Algorithm != ConvAlgorithm.Direct);
        return TunedOver(shape, rule); // measured here (Tuning/)
    }

    /// <summary>
    /// <paramref name="asked"/> completed by the rule for <paramref name="shape"/> (what <see cref="Conv2d.Prepare"/>
    /// fixes for a layer): nothing asked (default) is the rule's own choice; otherwise each
    /// <see cref="KernelVariant.Auto"/> direction takes the rule's variant, each Winograd direction without a tile
    /// the rule's tile for its product, and the weights are packed once where asked or where the rule packs them
    /// for a layer left to it.
    /// </summary>
    /// <exception cref="ArgumentException">Winograd asked of a product it cannot compute (not 3x3, stride
    /// 1).</exception>
    public ConvVariants Conv(Conv2dShape shape, ConvVariants asked)
    {
        var rule = Conv(shape);
        if (asked == default) return rule;
        var forward = Resolve(asked.Forward, rule.Forward);
        var inputGradient = Resolve(asked.InputGradient, rule.InputGradient);
        WinogradTile Tile(KernelVariant variant, WinogradTile tile, WinogradTile ruleTile, Conv2dShape product)
        {
            if (variant is not (KernelVariant.Winograd or KernelVariant.CpuWinograd)) return default;
            Winograd.RequireSupported(product);
            return tile != default ? tile : ruleTile != default ? ruleTile : TileFor(product);
        }
        bool left = asked.Forward == KernelVariant.Auto && asked.InputGradient == KernelVariant.Auto;
        return new ConvVariants(forward, inputGradient, Tile(forward, asked.ForwardTile, rule.ForwardTile, shape),
            Tile(inputGradient, asked.InputGradientTile, rule.InputGradientTile, shape.Transposed),
            asked.PackedOnce || (left && rule.PackedOnce));
    }

    /// <summary>
    /// The Winograd tile that runs <paramref name="product"/> (a forward convolution, or an input gradient's
    /// <see cref="Conv2dShape.Transposed"/>), or null where the direct product does: see the class's rule.
    /// </summary>
    private WinogradTile? WinogradFor(Conv2dShape product)
    {
        if (Algorithm == ConvAlgorithm.Direct || Tf32 || !Winograd.Supports(product)) return null;
        if (product.InChannels < MinWinogradChannels || product.OutChannels < MinWinogradChannels) return null;
        if (Family == KernelVariant.PerElement) return null;
        var tile = TileFor(product);
        if (Algorithm == ConvAlgorithm.Winograd) return tile;
        return Family == KernelVariant.Cpu && WinogradPays(product, tile) ? tile : null;
    }

    /// <summary>Fewest channels a Winograd product takes, in and out (VGG: every layer but conv1_1's image).</summary>
    public const int MinWinogradChannels = 16;

    /// <summary>
    /// The tile Winograd's algorithm runs <paramref name="product"/> with, F(4x4, 3x3) or F(2x2, 3x3): on the
    /// CPU the cheaper by <see cref="CpuCost"/>; on a GPU F(4x4) where the output has at least 8 rows and
    /// columns (so that its tiles are mostly full), else F(2x2).
    /// </summary>
    public WinogradTile TileFor(Conv2dShape product)
    {
        if (Family != KernelVariant.Cpu)
        {
            return product.OutHeight >= 8 && product.OutWidth >= 8 ? WinogradTile.F4
                : WinogradTile.F2;
        }
        return CpuCost(product, WinogradTile.F4) <= CpuCost(product, WinogradTile.F2)
            ? WinogradTile.F4 : WinogradTile.F2;
    }

    /// <summary>
    /// Whether Winograd's tile costs less than the direct product on the CPU, by <see cref="CpuCost"/>.
    /// </summary>
    private static bool WinogradPays(Conv2dShape product, WinogradTile tile) =>
        CpuCost(product, tile) < CpuCost(product, null);

    // The CPU cost model's constants, in multiply-adds of a register tile per (output channel, input channel) pair:
    // a weight streamed from memory costs about as much as 16 of them (a core issues 16 float multiply-adds a cycle
    // and reads about 1 float a cycle from memory), and each transformed input or output value about 6 per
    // channel of the other side (a gather, a transform's adds, a store; amortised over that side's channels).
    private const double WeightCost = 16, TransformCost = 6;

    /// <summary>
    /// The CPU's cost model of one product per (K, C) pair: the multiply-adds of its register tiles (columns padded to
    /// whole panels, <see cref="CpuGemm.Columns"/>), the filter read from memory once, and for Winograd the
    /// transforms of the input (amortised over K) and of the output (over C). Direct (<paramref name="tile"/> null):
    /// <c>9 (pad(P) + w)</c>; Winograd: <c>alpha^2 (pad(T) (1 + t/K + t/C) + w)</c>. So a deep layer of a small
    /// image, whose few tiles leave the panels mostly empty while its alpha^2/9 times larger filter must still be
    /// read, stays direct; everything with a few panels of tiles goes to Winograd, F(4x4) once its tiles fill them.
    /// </summary>
    internal static double CpuCost(Conv2dShape product, WinogradTile? tile)
    {
        static double Pad(long n) => (double)((n + CpuGemm.Columns - 1) / CpuGemm.Columns) * CpuGemm.Columns;
        if (tile is not { } t) return 9 * (Pad((long)product.OutHeight * product.OutWidth) + WeightCost);
        double points = Winograd.Points(t);
        double transforms = 1 + TransformCost / product.OutChannels + TransformCost / product.InChannels;
        return points * (Pad(Winograd.Tiles(product, t)) * transforms + WeightCost);
    }

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

    /// <summary>
    /// Whether the host code's Gram forward runs as a matrix product (<see cref="CpuGemm"/>, G = (sF) F^T, both
    /// triangles) rather than as blocks of row dot products on and above the diagonal: for short rows (fewer than
    /// <see cref="GramProductPositions"/> positions: relu5_1 and relu4_1 at 64 x 64), where each 4 x 4 block's 16
    /// horizontal sums outweigh its few multiply-adds. Not with <see cref="ConvAlgorithm.Direct"/>, whose
    /// arithmetic stays that of before, bit for bit.
    /// </summary>
    public bool GramAsProduct(GramShape shape) =>
        Algorithm != ConvAlgorithm.Direct && shape.Positions < GramProductPositions;

    /// <summary>Positions below which <see cref="GramAsProduct"/> holds.</summary>
    public const int GramProductPositions = 128;

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

    /// <summary>L2 pooling, both directions.</summary>
    public KernelVariant L2Pool() => Pass;

    /// <summary>The mean squared error, value and gradient.</summary>
    public KernelVariant Mse() => Pass;

    /// <summary>Total variation, value and gradient.</summary>
    public KernelVariant TotalVariation() => Pass;

    /// <summary>The temporal loss of video (Ruder et al.), value and gradient.</summary>
    public KernelVariant TemporalLoss() => Pass;

    /// <summary>Adam's fused step.</summary>
    public KernelVariant Adam() => Pass;

    /// <summary>The optimizers' vector arithmetic and sums.</summary>
    public KernelVariant Vectors() => Pass;

    /// <summary>The enlargement from one scale of a coarse-to-fine run to the next.</summary>
    public KernelVariant Upsample() => Pass;

    /// <summary>The window copies of a tiled evaluation.</summary>
    public KernelVariant Window() => Pass;

    /// <summary>Luminance-only transfer's one channel to three and back.</summary>
    public KernelVariant Replicate() => Pass;

    /// <summary>The guide multiply of the guided Gram matrices.</summary>
    public KernelVariant Guide() => Pass;

    /// <summary>The element steps of the matrix square root (its products are the Gram backward's).</summary>
    public KernelVariant MatrixRoot() => Pass;

    /// <summary>The Wasserstein-2 style loss's moments, value and gradient steps.</summary>
    public KernelVariant Wasserstein() => Pass;

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

/// <summary>The variants one convolution layer runs, as <see cref="KernelChoice.Conv(Conv2dShape)"/> chose
/// them.</summary>
/// <param name="Forward">The forward convolution with its fused ReLU.</param>
/// <param name="InputGradient">The input gradient.</param>
/// <param name="ForwardTile">Winograd's tile where <paramref name="Forward"/> is a Winograd variant (0: the
/// rule's).</param>
/// <param name="InputGradientTile">The same for <paramref name="InputGradient"/>.</param>
/// <param name="PackedOnce">The host code's direct product reads its weights packed once, when the layer is
/// built, rather than packing them on every call.</param>
public readonly record struct ConvVariants(KernelVariant Forward, KernelVariant InputGradient,
    WinogradTile ForwardTile = default, WinogradTile InputGradientTile = default, bool PackedOnce = false)
{
    /// <summary>
    /// Whether the input gradient is a tiled product: it then reads the transposed, flipped weights,
    /// a second copy that <see cref="Conv2d.Prepare"/> makes once (and the memory estimate counts).
    /// </summary>
    public bool TiledInputGradient => InputGradient is KernelVariant.Tiled or KernelVariant.Tf32;
}
