using ILGPU.Runtime;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    // One Adam step is a handful of float operations per element including a square root and a
    // division; the update itself is about lr in size, so the error is a few ulp of x and of lr.
    private static readonly Tolerance AdamStep = new(1e-6, 1e-5);

    // Elements past n in every buffer: a kernel that writes beyond its view changes them.
    private const int Guard = 5;
    private const float GuardValue = 12345f;

    static partial void AddOptimizerKernels(List<KernelCheck> checks) =>
        AddAdam(checks, KernelVariant.PerElement, []);

    /// <summary>The Adam step as <paramref name="variant"/> (kernel 1 or the host code) on n variables: 1 and 37
    /// (not multiples of any group size or vector width), 1001 (several groups), and <paramref name="more"/>.
    /// </summary>
    private static void AddAdam(List<KernelCheck> checks, KernelVariant variant, int[] more)
    {
        foreach (int n in (int[])[1, 37, 1001, .. more])
        {
            // Step 1 from the zero state (bias corrections largest), and step 7 from a carried state.
            foreach (int t in new[] { 1, 7 })
            {
                string shape = $"n={n} t={t}";
                checks.Add(new("adam.update", shape, k => Adam(k, n, t, shape, variant)));
            }
        }
    }

    private static CheckResult Adam(KernelSet k, int n, int t, string shape, KernelVariant variant)
    {
        var random = new Random(71 + t);
        var x = Uniform(random, n);
        var gradient = Uniform(random, n, -3, 3);
        // Step 1 starts from zero moments; a later step from a plausible history (v >= 0).
        var m = t == 1 ? new double[n] : Uniform(random, n, -0.5, 0.5);
        var v = t == 1 ? new double[n] : Uniform(random, n, 0, 2);
        var p = AdamParameters.ForStep(t, learningRate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8);

        var a = k.Accelerator;
        using var dX = UploadGuarded(a, x);
        using var dM = UploadGuarded(a, m);
        using var dV = UploadGuarded(a, v);
        using var dG = Upload(a, gradient);
        k.Adam.Update(dX.View.SubView(0, n), dM.View.SubView(0, n), dV.View.SubView(0, n), dG.View, p, variant);

        AdamUpdate.UpdateReference(x, m, v, gradient, p);
        return Comparison.Combine("adam.update", shape,
            Comparison.Compare("x", shape, Download(dX), Guarded(x), AdamStep),
            Comparison.Compare("m", shape, Download(dM), Guarded(m), AdamStep),
            Comparison.Compare("v", shape, Download(dV), Guarded(v), AdamStep));
    }

    /// <summary>The values followed by <see cref="Guard"/> sentinels that must survive the launch.</summary>
    private static MemoryBuffer1D<float, ILGPU.Stride1D.Dense> UploadGuarded(Accelerator accelerator,
        double[] values) =>
        Upload(accelerator, Guarded(values));

    private static double[] Guarded(double[] values) =>
        [.. values, .. Enumerable.Repeat((double)GuardValue, Guard)];
}
