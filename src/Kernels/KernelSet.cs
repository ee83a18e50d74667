using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Every operation of the project, loaded once for one accelerator. The network and the optimizers
/// take a <see cref="KernelSet"/> instead of loading kernels themselves.
/// </summary>
public sealed class KernelSet : IDisposable
{
    private readonly MemoryBuffer1D<float, ILGPU.Stride1D.Dense>? _splitScratch; // split products' partials (8 MB)

    /// <summary>
    /// Every operation for <paramref name="accelerator"/> (which the caller keeps owning). No kernel is compiled
    /// here: each is compiled at its first launch. ILGPU takes tens of milliseconds a kernel (half a second for
    /// all of them on the CPU), and a CPU run, whose host code does the work, launches none.
    /// </summary>
    /// <param name="accelerator">Where every kernel runs.</param>
    /// <param name="choice">Which variant runs each operation (with the user's <c>--tf32</c>); by default
    /// the rule for this accelerator with nothing asked.</param>
    /// <param name="threads">Cores the host-code variants use (<c>--threads</c>); by default every core.</param>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than one thread.</exception>
    public KernelSet(Accelerator accelerator, KernelChoice? choice = null, int? threads = null)
    {
        Accelerator = accelerator;
        Choice = choice ?? KernelChoice.For(accelerator);
        Host = new CpuHost(accelerator, threads ?? Environment.ProcessorCount);
        Reduction = new Reduction(accelerator, Choice.ReductionWidth);
        Vectors = new VectorOps(accelerator, Choice, Host, Reduction);
        Adam = new AdamUpdate(accelerator, Choice, Host);
        // The split products' partials, wherever the tiled kernels can run (a test may launch them explicitly).
        if (Choice.Accelerator.FitsTiledGroups)
            _splitScratch = accelerator.Allocate1D<float>(TiledGemm.SplitScratchFloats);
        var splitScratch = _splitScratch?.View ?? default;
        Relu = new Relu(accelerator, Choice, Host);
        Conv = new Conv2d(accelerator, Choice, Host, Relu, splitScratch);
        MaxPool = new MaxPool2d(accelerator, Choice, Host);
        AvgPool = new AvgPool2d(accelerator, Choice, Host);
        L2Pool = new L2Pool2d(accelerator, Choice, Host);
        Gram = new Gram(accelerator, Choice, Host, splitScratch);
        Mse = new MseLoss(accelerator, Choice, Host, Reduction);
        TotalVariation = new TotalVariation(accelerator, Choice, Host, Reduction);
        Temporal = new TemporalLoss(accelerator, Choice, Host, Reduction);
        Upsample = new Upsample(accelerator, Choice, Host);
        Window = new Window(accelerator, Choice, Host);
        Replicate = new ChannelReplicate(accelerator, Choice, Host);
        Guide = new GuideMultiply(accelerator, Choice, Host);
        Root = new MatrixRoot(accelerator, Choice, Host, Gram, Reduction);
        Wasserstein = new Wasserstein(accelerator, Choice, Host);
    }

    /// <summary>
    /// The rule that decides which variant runs each operation (what <see cref="KernelVariant.Auto"/> means).
    /// </summary>
    public KernelChoice Choice { get; }

    /// <summary>The accelerator every kernel runs on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>What the host-code variants share: the cores they use, and their loops.</summary>
    public CpuHost Host { get; }

    /// <summary>Deterministic device sums (used by the losses and the vector reductions).</summary>
    public Reduction Reduction { get; }

    /// <summary>Vector arithmetic for the optimizers.</summary>
    public VectorOps Vectors { get; }

    /// <summary>Adam's fused step.</summary>
    public AdamUpdate Adam { get; }

    /// <summary>Convolution with bias (and its fused ReLU and mask), and its input gradient through the ReLU.</summary>
    public Conv2d Conv { get; }

    /// <summary>ReLU's backward (its forward is fused into the convolution) and its bit mask.</summary>
    public Relu Relu { get; }

    /// <summary>2x2 max pooling forward and backward.</summary>
    public MaxPool2d MaxPool { get; }

    /// <summary>2x2 average pooling forward and backward.</summary>
    public AvgPool2d AvgPool { get; }

    /// <summary>2x2 L2 pooling (each window's root mean square) forward and backward.</summary>
    public L2Pool2d L2Pool { get; }

    /// <summary>Gram matrix forward and backward.</summary>
    public Gram Gram { get; }

    /// <summary>Mean squared error value and gradient.</summary>
    public MseLoss Mse { get; }

    /// <summary>Total-variation value and gradient.</summary>
    public TotalVariation TotalVariation { get; }

    /// <summary>The temporal loss of video, value and gradient.</summary>
    public TemporalLoss Temporal { get; }

    /// <summary>Bilinear and bicubic enlargement, from one scale of a coarse-to-fine run to the next.</summary>
    public Upsample Upsample { get; }

    /// <summary>Copies between a tensor and one window of it (a tiled evaluation's tiles).</summary>
    public Window Window { get; }

    /// <summary>One channel to three and back: luminance-only transfer's input to the network.</summary>
    public ChannelReplicate Replicate { get; }

    /// <summary>Features times a per-position guide: the step of the guided (region) Gram matrices.</summary>
    public GuideMultiply Guide { get; }

    /// <summary>The square root and inverse square root of a symmetric positive definite matrix (Newton-Schulz on
    /// the Gram kernels' products).</summary>
    public MatrixRoot Root { get; }

    /// <summary>The Wasserstein-2 style loss's steps besides its products and roots.</summary>
    public Wasserstein Wasserstein { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        Reduction.Dispose();
        Conv.Dispose();
        Gram.Dispose();
        _splitScratch?.Dispose();
        Host.Dispose();
    }
}
