using System.Globalization;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of the TF32 tensor-core convolution against the CPU references.</summary>
/// <remarks>
/// Each check compares the result twice:
/// <list type="number">
/// <item>With the exact double reference, within the worst-case TF32 bound, per element:
/// <c>|out - ref| &lt;= 2^-10 * sum_r |w||x| + 1e-6</c>. Rounding each input to 10 mantissa bits
/// (nearest) errs by at most 2^-11 relative, so a product errs by at most 2^-10 (+2^-22); the fp32
/// accumulation adds far less. Bias and ReLU add no error (ReLU is 1-Lipschitz). Random signs make
/// typical errors ~sqrt(R) times smaller (about 3e-4 relative, the figure usually quoted).</item>
/// <item>With the double reference computed on inputs rounded to TF32 on the host
/// (<see cref="Conv2d.RoundTf32"/>), within the float-sum tolerance: what is left is only fp32
/// accumulation, so a wrong fragment index, a missed rounding or a wrong lane fails here even
/// where it would hide inside the loose bound of the first comparison.</item>
/// </list>
/// </remarks>
public static partial class KernelChecks
{
    // The TF32-rounded reference leaves only fp32 accumulation of up to a few hundred products
    // (tensor cores may align addends with truncation, so a little looser than Sums).
    private static readonly Tolerance Tf32Rounded = new(1e-4, 1e-4);

    /// <summary>Kernel 3: kernel 2's tiles on TF32 tensor cores, split reductions.</summary>
    private static readonly FastConvolution Tf32Convolution = new("tf32", KernelVariant.Tf32, RunsTf32, WithinTf32);

    static partial void AddTf32Kernels(List<KernelCheck> checks) => AddFastConvolution(checks, Tf32Convolution);

    /// <summary>The two comparisons of the remarks: the worst-case bound, and the TF32-rounded reference.</summary>
    private static CheckResult WithinTf32(string kernel, string shape, float[] actual, double[] x, double[] w,
        Func<double[], double[], double[]> reference, Func<double[], double[], double[]> magnitude) =>
        Comparison.Combine(kernel, shape,
            WithinTf32Bound(kernel, shape, actual, reference(x, w), magnitude(Absolute(x), Absolute(w))),
            Comparison.Compare(kernel + " vs tf32-rounded reference", shape, actual,
                reference(RoundedToTf32(x), RoundedToTf32(w)), Tf32Rounded));

    private static double[] RoundedToTf32(double[] values) =>
        Array.ConvertAll(values, v => (double)Conv2d.RoundTf32((float)v));

    private static double[] Absolute(double[] values) => Array.ConvertAll(values, Math.Abs);

    /// <summary>
    /// Element i passes when |actual - reference| &lt;= 2^-10 magnitude[i] + 1e-6 (the TF32 worst case,
    /// see the remarks).
    /// </summary>
    private static CheckResult WithinTf32Bound(string kernel, string shape, float[] actual, double[] reference,
        double[] magnitude)
    {
        double maxAbs = 0, maxRel = 0;
        int mismatches = 0, first = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - reference[i]);
            if (double.IsNaN(error)) error = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, error);
            maxRel = Math.Max(maxRel, error / Math.Max(Math.Abs(reference[i]), 1e-6));
            if (error <= Math.ScaleB(magnitude[i], -10) + 1e-6) continue;
            if (mismatches++ == 0) first = i;
        }
        string detail = mismatches == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
            $"{mismatches} of {actual.Length} outside 2^-10 * sum|w||x|; first [{first}] {actual[first]:G9} " +
            $"vs {reference[first]:G9} (bound {Math.ScaleB(magnitude[first], -10) + 1e-6:G3})");
        return new CheckResult(kernel, shape, maxAbs, maxRel, mismatches == 0, detail);
    }
}
