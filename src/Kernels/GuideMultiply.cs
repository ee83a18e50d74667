using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: C channels, M = H*W positions, T a guide (one weight per position), p = 1 or 2.
//   features : (C, M)  a (C, H, W) activation viewed as C rows of M values: F[c*M + m]
//   guide    : (M)     T[m], a region's guide at this activation's resolution
//   output   : (C, M)  out[c*M + m] = F[c*M + m] * T[m]^p   (T broadcast over the channels)

/// <summary>
/// A guide multiply: every channel of a feature map times the same per-position weight, the step
/// that makes a Gram matrix "guided" (Gatys et al. 2017, sec. 4: a region's Gram is that of
/// <c>F o T</c>).
/// </summary>
/// <remarks>
/// <para>The multiply is linear and diagonal, so its backward is itself: <c>dF = dOut o T</c>.
/// The guided Gram's backward therefore folds into the plain Gram backward:
/// with <c>G = s (F o T)(F o T)^T</c>, <c>dF = T o (s (dG + dG^T)(F o T)) = s (dG + dG^T)(F o T^2)</c>,
/// so a style tap multiplies by <c>T^2</c> (<c>squared</c>) and hands the result to
/// <see cref="Gram.Backward"/>, which accumulates straight into the activation's gradient. With a
/// guide of ones both products are the features themselves, bit for bit, which is why one
/// all-white mask gives exactly the unguided loss and gradient.</para>
/// <para>Reading order: the CPU references, kernel 1 (one thread per output element, C*M), kernel 2 (host
/// code over ranges of positions, GuideMultiply.Cpu.cs), the launcher. <c>T*T</c> is formed first, then the
/// product with F, in the reference too.</para>
/// </remarks>
public sealed partial class GuideMultiply
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>> _forward;

    /// <summary>The kernel for <paramref name="accelerator"/>, compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public GuideMultiply(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ForwardKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Forward"/>.</summary>
    public static void ForwardReference(double[] output, double[] features, double[] guide, GramShape s, bool squared)
    {
        for (int c = 0; c < s.Channels; c++)
        for (int m = 0; m < s.Positions; m++)
        {
            double factor = squared ? guide[m] * guide[m] : guide[m];
            output[c * s.Positions + m] = features[c * s.Positions + m] * factor;
        }
    }

    /// <summary>
    /// CPU reference of the guided Gram, <c>G = scale (F o T)(F o T)^T</c>, by its definition.
    /// </summary>
    public static void GuidedGramReference(double[] gram, double[] features, double[] guide, GramShape s,
        double scale)
    {
        var guided = new double[s.FeatureLength];
        ForwardReference(guided, features, guide, s, squared: false);
        Gram.ForwardReference(gram, guided, s, scale);
    }

    /// <summary>
    /// CPU reference of the guided Gram's backward by the plain chain rule (not the folded form the
    /// device uses): <c>dH = scale (dG + dG^T) H</c> for <c>H = F o T</c>, then <c>dF (+)= dH o T</c>.
    /// </summary>
    public static void GuidedGramBackwardReference(double[] dFeatures, double[] dGram, double[] features,
        double[] guide, GramShape s, double scale, bool accumulate)
    {
        var guided = new double[s.FeatureLength];
        ForwardReference(guided, features, guide, s, squared: false);
        var dGuided = new double[s.FeatureLength];
        Gram.BackwardReference(dGuided, dGram, guided, s, scale, accumulate: false);
        if (!accumulate) Array.Clear(dFeatures);
        for (int c = 0; c < s.Channels; c++)
        for (int m = 0; m < s.Positions; m++)
            dFeatures[c * s.Positions + m] += dGuided[c * s.Positions + m] * guide[m];
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per element (c, m).</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> features,
        ArrayView<float> guide, int positions, int squared)
    {
        float t = guide[index % positions];
        float factor = squared != 0 ? t * t : t;
        output[index] = features[index] * factor;
    }

    // ---------------------------------------------------------------- kernel 2: host code (GuideMultiply.Cpu.cs)

    // ---------------------------------------------------------------- launcher

    /// <summary>
    /// Writes <c>output = features o guide^p</c> (p = 2 when <paramref name="squared"/>), the guide
    /// broadcast over the channels. <paramref name="output"/> may not alias <paramref name="features"/>.
    /// </summary>
    public void Forward(ArrayView<float> output, ArrayView<float> features, ArrayView<float> guide, GramShape shape,
        bool squared, KernelVariant variant = KernelVariant.Auto)
    {
        shape.Validate();
        Require.Length(output, shape.FeatureLength, nameof(output));
        Require.Length(features, shape.FeatureLength, nameof(features));
        Require.Length(guide, shape.Positions, nameof(guide));
        switch (KernelChoice.Resolve(variant, _choice.Guide()))
        {
            case KernelVariant.PerElement:
                _forward.Value(shape.FeatureLength, output, features, guide, shape.Positions, squared ? 1 : 0);
                break;
            case KernelVariant.Cpu: ForwardCpu(output, features, guide, shape, squared); break;
            default: throw KernelChoice.NotOffered("guide multiply", variant);
        }
    }
}
