using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// The Gram matrix, read as llm.c's dev/cuda files are, in three files:
//   Gram.cs        glossary and shapes; the CPU reference; kernel 1; the one launcher
//   Gram.Tiled.cs  kernel 2 (GPU, 256-thread groups): both directions as one tiled matrix product
//   Gram.Cpu.cs    kernel 3 (the CPU accelerator): host code, AVX-512 register blocks on every core
// KernelChoice.GramForward/GramBackward pick the variant for Auto; the launchers switch on it.
//
// Glossary: C channels, M = H*W positions, s the normalisation (SPEC.md: s = 1/N, N = C*H*W).
//   features : (C, M)  a (C, H, W) activation viewed as C rows of M values: F[i*M + m]
//   gram     : (C, C)  G[i*C + j] = s * sum_m F[i,m] * F[j,m]   (symmetric)

/// <summary>The dimensions of a Gram matrix: <c>C</c> feature rows of <c>M = H*W</c> positions each.</summary>
public readonly record struct GramShape(int Channels, int Positions)
{
    /// <summary>The Gram view of an activation of shape <paramref name="shape"/>.</summary>
    public static GramShape Of(ChwShape shape) => new(shape.Channels, shape.PlaneLength);

    /// <summary>Elements of the feature matrix, <c>C*M</c>.</summary>
    public int FeatureLength => Channels * Positions;

    /// <summary>Elements of the Gram matrix, <c>C*C</c>.</summary>
    public int GramLength => Channels * Channels;

    /// <summary>Throws unless both dimensions are positive.</summary>
    public void Validate()
    {
        if (Channels <= 0 || Positions <= 0)
            throw new ArgumentException($"A Gram matrix needs positive dimensions, got {Channels}x{Positions}.");
    }
}

/// <summary>
/// The Gram matrix of a feature map, <c>G = s F F^T</c>, and its backward pass.
/// </summary>
/// <remarks>
/// G holds the correlations between channels, which is what "style" means in Gatys et al.
/// Backward: since <c>G_ij = s sum_m F_im F_jm</c>, <c>dL/dF_im = s sum_j (dG_ij + dG_ji) F_jm</c>,
/// i.e. <c>dF = s (dG + dG^T) F</c>. It accumulates into dFeatures when asked (a style tap adds
/// its gradient to the one already flowing down from deeper layers), otherwise writes.
/// </remarks>
public sealed partial class Gram : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly AcceleratorDescription _description; // what the accelerator can run (the launches' checks)
    private readonly KernelChoice _choice;                // what Auto runs
    private readonly CpuHost _host;                       // kernel 3's cores
    private readonly ArrayView<float> _splitScratch;      // the KernelSet's, for kernel 2's split forward
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, GramShape, float>> _forwardPerElement;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GramShape, float,
        int>> _backwardPerElement;

    /// <summary>The Gram kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">Kernel 3's cores.</param>
    /// <param name="splitScratch">Device scratch of <see cref="TiledGemm.SplitScratchFloats"/> floats for the split
    /// tiled forward (empty: it cannot split).</param>
    public Gram(Accelerator accelerator, KernelChoice choice, CpuHost host, ArrayView<float> splitScratch = default)
    {
        _accelerator = accelerator;
        _description = AcceleratorDescription.Of(accelerator);
        _choice = choice;
        _host = host;
        _splitScratch = splitScratch;
        _forwardPerElement = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, GramShape, float>(ForwardPerElementKernel));
        _backwardPerElement = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, GramShape, float, int>(BackwardPerElementKernel));
    }

    // ---------------------------------------------------------------- CPU reference

    /// <summary>CPU reference of <see cref="Forward"/>: the definition, every entry computed.</summary>
    public static void ForwardReference(double[] gram, double[] features, GramShape s, double scale)
    {
        for (int i = 0; i < s.Channels; i++)
        for (int j = 0; j < s.Channels; j++)
        {
            double sum = 0;
            for (int m = 0; m < s.Positions; m++)
                sum += features[i * s.Positions + m] * features[j * s.Positions + m];
            gram[i * s.Channels + j] = scale * sum;
        }
    }

    /// <summary>
    /// CPU reference of <see cref="Backward"/>: each G_ij = s sum_m F_im F_jm sends
    /// dG_ij * s * F_jm to F_im and dG_ij * s * F_im to F_jm.
    /// </summary>
    public static void BackwardReference(double[] dFeatures, double[] dGram, double[] features, GramShape s,
        double scale, bool accumulate)
    {
        if (!accumulate) Array.Clear(dFeatures);
        for (int i = 0; i < s.Channels; i++)
        for (int j = 0; j < s.Channels; j++)
        for (int m = 0; m < s.Positions; m++)
        {
            double g = dGram[i * s.Channels + j] * scale;
            dFeatures[i * s.Positions + m] += g * features[j * s.Positions + m];
            dFeatures[j * s.Positions + m] += g * features[i * s.Positions + m];
        }
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>
    /// Forward, kernel 1: one thread per entry (i, j). Only threads with i &lt;= j compute, and they
    /// write both G_ij and G_ji: the symmetry halves the work.
    /// </summary>
    public static void ForwardPerElementKernel(Index1D index, ArrayView<float> gram, ArrayView<float> features,
        GramShape s, float scale)
    {
        int i = index / s.Channels;
        int j = index % s.Channels;
        if (i > j) return; // (j, i) writes this entry
        float sum = 0f;
        for (int m = 0; m < s.Positions; m++)
            sum += features[i * s.Positions + m] * features[j * s.Positions + m];
        gram[i * s.Channels + j] = scale * sum;
        gram[j * s.Channels + i] = scale * sum;
    }

    /// <summary>Backward, kernel 1: one thread per feature element (i, m).</summary>
    public static void BackwardPerElementKernel(Index1D index, ArrayView<float> dFeatures, ArrayView<float> dGram,
        ArrayView<float> features, GramShape s, float scale, int accumulate)
    {
        int i = index / s.Positions;
        int m = index % s.Positions;
        float sum = 0f;
        for (int j = 0; j < s.Channels; j++)
            sum += (dGram[i * s.Channels + j] + dGram[j * s.Channels + i]) * features[j * s.Positions + m];
        float gradient = scale * sum;
        dFeatures[index] = accumulate != 0 ? dFeatures[index] + gradient : gradient;
    }

    // ---------------------------------------------------------------- kernels 2 and 3: in their files

    // ---------------------------------------------------------------- the launcher

    /// <summary>
    /// gram = scale * F F^T; writes gram. <paramref name="splits"/>: kernel 2's slices of the positions
    /// (0: the per-shape choice, <see cref="Splits"/>).
    /// </summary>
    public void Forward(ArrayView<float> gram, ArrayView<float> features, GramShape shape, float scale,
        KernelVariant variant = KernelVariant.Auto, int splits = 0)
    {
        shape.Validate();
        Require.Length(gram, shape.GramLength, nameof(gram));
        Require.Length(features, shape.FeatureLength, nameof(features));
        switch (KernelChoice.Resolve(variant, _choice.GramForward(shape)))
        {
            case KernelVariant.PerElement:
                _forwardPerElement.Value(shape.GramLength, gram, features, shape, scale);
                break;
            case KernelVariant.Tiled: ForwardTiled(gram, features, shape, scale, splits); break;
            case KernelVariant.Cpu: ForwardCpu(gram, features, shape, scale); break;
            default: throw KernelChoice.NotOffered("Gram matrix", variant);
        }
    }

    /// <summary>
    /// dFeatures (+)= scale * (dGram + dGram^T) F; writes, or accumulates when <paramref name="accumulate"/>.
    /// </summary>
    public void Backward(ArrayView<float> dFeatures, ArrayView<float> dGram, ArrayView<float> features, GramShape shape,
        float scale, bool accumulate, KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate();
        Require.Length(dFeatures, shape.FeatureLength, nameof(dFeatures));
        Require.Length(dGram, shape.GramLength, nameof(dGram));
        Require.Length(features, shape.FeatureLength, nameof(features));
        switch (KernelChoice.Resolve(variant, _choice.GramBackward(shape)))
        {
            case KernelVariant.PerElement:
                _backwardPerElement.Value(shape.FeatureLength, dFeatures, dGram, features, shape, scale,
                    accumulate ? 1 : 0);
                break;
            case KernelVariant.Tiled: BackwardTiled(dFeatures, dGram, features, shape, scale, accumulate); break;
            case KernelVariant.Cpu: BackwardCpu(dFeatures, dGram, features, shape, scale, accumulate); break;
            default: throw KernelChoice.NotOffered("Gram matrix", variant);
        }
    }

    /// <summary>Frees kernel 3's host scratch.</summary>
    public void Dispose() => _cpuPackedFactor.Dispose();
}
