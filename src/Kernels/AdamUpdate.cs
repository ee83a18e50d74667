using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The scalars of one Adam step: the hyper-parameters and the two bias corrections of step t.
/// </summary>
/// <param name="LearningRate">alpha, the step size.</param>
/// <param name="Beta1">Decay of the first-moment (mean) estimate.</param>
/// <param name="Beta2">Decay of the second-moment (uncentred variance) estimate.</param>
/// <param name="Epsilon">Added to the root of the second moment, so that a zero gradient history
/// does not divide by zero.</param>
/// <param name="Correction1"><c>1 - Beta1^t</c> for step t = 1, 2, ...</param>
/// <param name="Correction2"><c>1 - Beta2^t</c>.</param>
public readonly record struct AdamParameters(
    float LearningRate, float Beta1, float Beta2, float Epsilon, float Correction1, float Correction2)
{
    /// <summary>The parameters of step <paramref name="t"/> (1-based); the corrections are computed
    /// in double so that <c>Beta2^t</c> stays accurate for thousands of steps.</summary>
    public static AdamParameters ForStep(int t, double learningRate, double beta1, double beta2, double epsilon)
    {
        if (t < 1) throw new ArgumentOutOfRangeException(nameof(t), "Adam counts steps from 1.");
        return new((float)learningRate, (float)beta1, (float)beta2, (float)epsilon,
            (float)(1 - Math.Pow(beta1, t)), (float)(1 - Math.Pow(beta2, t)));
    }
}

/// <summary>
/// One fused Adam step on n variables (Kingma &amp; Ba 2015, Algorithm 1), in place:
/// <code>
/// m = beta1 m + (1 - beta1) g
/// v = beta2 v + (1 - beta2) g^2
/// x = x - lr * (m / c1) / (sqrt(v / c2) + eps)      c1 = 1 - beta1^t, c2 = 1 - beta2^t
/// </code>
/// </summary>
/// <remarks>
/// Glossary: n variables; every buffer is a flat vector of n floats, element i belongs to x[i].
/// Fusing the three lines reads g, m, v, x once and writes m, v, x once per element, instead of the
/// five or six passes that separate vector operations would take. Epsilon is added to the bias-
/// corrected root, as in the paper's Algorithm 1 and PyTorch (not the paper's "epsilon hat" form).
/// The gradient is only read, so it may be the optimizer's evaluation buffer.
/// Reading order: the launcher, kernel 1 (one thread per variable), the CPU reference; kernel 2 (host code,
/// AdamUpdate.Cpu.cs) is kernel 1's arithmetic in vectors.
/// </remarks>
public sealed partial class AdamUpdate
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        AdamParameters>> _update;

    /// <summary>The kernel for <paramref name="accelerator"/>, compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public AdamUpdate(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _update = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AdamParameters>(UpdateKernel));
    }

    /// <summary>Updates x, m and v in place (each n elements) from the gradient (n elements).</summary>
    /// <param name="x">The variables; overwritten with the new point.</param>
    /// <param name="m">First-moment estimate; zero before step 1; overwritten.</param>
    /// <param name="v">Second-moment estimate; zero before step 1; overwritten.</param>
    /// <param name="gradient">The gradient at the current x; read only.</param>
    /// <param name="parameters">Hyper-parameters and bias corrections of this step.</param>
    /// <param name="variant">Kernel 1 or the host code; Auto: the rule's.</param>
    public void Update(ArrayView<float> x, ArrayView<float> m, ArrayView<float> v, ArrayView<float> gradient,
        AdamParameters parameters, KernelVariant variant = KernelVariant.Auto)
    {
        Require.Length(m, x.Length, nameof(m));
        Require.Length(v, x.Length, nameof(v));
        Require.Length(gradient, x.Length, nameof(gradient));
        if (x.Length == 0) return;
        switch (KernelChoice.Resolve(variant, _choice.Adam()))
        {
            case KernelVariant.PerElement: _update.Value((int)x.Length, x, m, v, gradient, parameters); break;
            case KernelVariant.Cpu: UpdateCpu(x, m, v, gradient, parameters); break;
            default: throw KernelChoice.NotOffered("Adam update", variant);
        }
    }

    /// <summary>One thread per variable: reads g[i], m[i], v[i], x[i] and writes m[i], v[i], x[i].</summary>
    public static void UpdateKernel(Index1D i, ArrayView<float> x, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> gradient, AdamParameters p)
    {
        float g = gradient[i];
        float mi = p.Beta1 * m[i] + (1f - p.Beta1) * g;
        float vi = p.Beta2 * v[i] + (1f - p.Beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        x[i] -= p.LearningRate * (mi / p.Correction1) / (MathF.Sqrt(vi / p.Correction2) + p.Epsilon);
    }

    /// <summary>CPU reference of <see cref="Update"/>, in double, written as the paper's Algorithm 1
    /// (bias-corrected moments named m-hat and v-hat).</summary>
    public static void UpdateReference(double[] x, double[] m, double[] v, double[] gradient, AdamParameters p)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double g = gradient[i];
            m[i] = p.Beta1 * m[i] + (1 - (double)p.Beta1) * g;
            v[i] = p.Beta2 * v[i] + (1 - (double)p.Beta2) * g * g;
            double mHat = m[i] / p.Correction1;
            double vHat = v[i] / p.Correction2;
            x[i] -= p.LearningRate * mHat / (Math.Sqrt(vHat) + p.Epsilon);
        }
    }
}
