using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Every operation of the project, loaded once for one accelerator. The network and the optimizers
/// take a <see cref="KernelSet"/> instead of loading kernels themselves.
/// </summary>
public sealed class KernelSet : IDisposable
{
    private readonly MemoryBuffer1D<float, ILGPU.Stride1D.Dense>? _splitScratch; // the split products' partials (8 MB), where tiled kernels run

    /// <summary>Loads every kernel for <paramref name="accelerator"/> (which the caller keeps owning).</summary>
    /// <param name="accelerator">Where every kernel runs.</param>
    /// <param name="preferTiled">Use the tiled convolution in the network; by default on every GPU
    /// that allows 256-thread groups, never on the CPU accelerator (where the per-row kernels win).</param>
    /// <param name="useTf32">Run the network's convolutions on TF32 tensor cores (<c>--tf32</c>):
    /// faster on NVIDIA GPUs of compute capability 8.0 and newer, at TF32's precision (about 3e-4 relative).</param>
    public KernelSet(Accelerator accelerator, bool? preferTiled = null, bool useTf32 = false)
    {
        Accelerator = accelerator;
        if (useTf32 && !Conv2d.SupportsTf32(accelerator))
            throw new ArgumentException($"TF32 tensor cores need an NVIDIA GPU of compute capability 8.0 or newer; {accelerator.Name.Trim()} has none.");
        UseTf32 = useTf32;
        PreferTiled = useTf32 || (preferTiled ?? (accelerator.AcceleratorType != AcceleratorType.CPU && Conv2d.SupportsTiled(accelerator)));
        if (PreferTiled && !Conv2d.SupportsTiled(accelerator))
            throw new ArgumentException($"{accelerator.Name.Trim()} allows {accelerator.MaxNumThreadsPerGroup} threads per group; the tiled convolution needs 256.");
        Reduction = new Reduction(accelerator);
        Vectors = new VectorOps(accelerator, Reduction);
        if (Conv2d.SupportsTiled(accelerator)) _splitScratch = accelerator.Allocate1D<float>(TiledGemm.SplitScratchFloats);
        var splitScratch = _splitScratch?.View ?? default;
        Conv = new Conv2d(accelerator, splitScratch);
        Relu = new Relu(accelerator);
        MaxPool = new MaxPool2d(accelerator);
        AvgPool = new AvgPool2d(accelerator);
        Gram = new Gram(accelerator, splitScratch);
        Mse = new MseLoss(accelerator, Reduction);
        TotalVariation = new TotalVariation(accelerator, Reduction);
        Upsample = new Upsample(accelerator);
    }

    /// <summary>Whether the network's convolutions run on TF32 tensor cores (implies <see cref="PreferTiled"/>'s data layout).</summary>
    public bool UseTf32 { get; }

    /// <summary>Whether the network runs its convolutions with the tiled kernels.</summary>
    public bool PreferTiled { get; }

    /// <summary>Whether the network's convolutions run in host code (the CPU accelerator, unless it runs the tiled kernels).</summary>
    public bool HostCode => CpuHost.Supports(Accelerator) && !PreferTiled;

    /// <summary>The accelerator every kernel runs on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Deterministic device sums (used by the losses and the vector reductions).</summary>
    public Reduction Reduction { get; }

    /// <summary>Vector arithmetic for the optimizers.</summary>
    public VectorOps Vectors { get; }

    /// <summary>Convolution with bias (and fused ReLU), and its input gradient.</summary>
    public Conv2d Conv { get; }

    /// <summary>ReLU forward and backward.</summary>
    public Relu Relu { get; }

    /// <summary>2x2 max pooling forward and backward.</summary>
    public MaxPool2d MaxPool { get; }

    /// <summary>2x2 average pooling forward and backward.</summary>
    public AvgPool2d AvgPool { get; }

    /// <summary>Gram matrix forward and backward.</summary>
    public Gram Gram { get; }

    /// <summary>Mean squared error value and gradient.</summary>
    public MseLoss Mse { get; }

    /// <summary>Total-variation value and gradient.</summary>
    public TotalVariation TotalVariation { get; }

    /// <summary>Bilinear and bicubic enlargement, from one scale of a coarse-to-fine run to the next.</summary>
    public Upsample Upsample { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        Reduction.Dispose();
        Conv.Dispose();
        Gram.Dispose();
        _splitScratch?.Dispose();
    }
}
