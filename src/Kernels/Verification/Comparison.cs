using System.Globalization;
using System.Text;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>How far a kernel's float result may be from the double-precision reference:
/// element i passes when <c>|actual - reference| &lt;= Absolute + Relative * |reference|</c>.</summary>
public readonly record struct Tolerance(double Absolute, double Relative)
{
    /// <summary>
    /// Whether <paramref name="actual"/> is close enough to <paramref name="reference"/> (NaN never is).
    /// </summary>
    public bool Accepts(double actual, double reference) =>
        Math.Abs(actual - reference) <= Absolute + Relative * Math.Abs(reference);
}

/// <summary>The outcome of one kernel-versus-reference check, one row of <c>ilgpu-style verify</c>.</summary>
/// <param name="Kernel">The operation and variant, e.g. <c>conv2d.forward/per-row</c>.</param>
/// <param name="Shape">The shape it ran on.</param>
/// <param name="MaxAbsError">Largest |actual - reference|.</param>
/// <param name="MaxRelError">Largest |actual - reference| / max(|reference|, 1e-6).</param>
/// <param name="Passed">Every element within tolerance.</param>
/// <param name="Detail">For failures: the worst element and the first mismatches, with their indices.</param>
public sealed record CheckResult(string Kernel, string Shape,
    double MaxAbsError, double MaxRelError, bool Passed, string Detail);

/// <summary>Element-by-element comparison of a device result with its CPU reference.</summary>
public static class Comparison
{
    /// <summary>Compares every element; NaN (a poisoned element the kernel never wrote) is a mismatch.</summary>
    public static CheckResult Compare(string kernel, string shape, float[] actual, double[] reference,
        Tolerance tolerance)
    {
        if (actual.Length != reference.Length)
            return new CheckResult(kernel, shape, double.PositiveInfinity, double.PositiveInfinity, false,
                $"length {actual.Length} != reference length {reference.Length}");

        double maxAbs = 0, maxRel = 0, worstExcess = double.NegativeInfinity;
        int worst = -1, mismatches = 0;
        var first = new StringBuilder();
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - reference[i]);
            if (double.IsNaN(error)) error = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, error);
            maxRel = Math.Max(maxRel, error / Math.Max(Math.Abs(reference[i]), 1e-6));
            double excess = error - (tolerance.Absolute + tolerance.Relative * Math.Abs(reference[i]));
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worst = i;
            }
            if (!tolerance.Accepts(actual[i], reference[i]) && mismatches++ < 3)
                first.Append(CultureInfo.InvariantCulture, $" [{i}] {actual[i]:G9} vs {reference[i]:G9};");
        }

        bool passed = mismatches == 0;
        string detail = passed
            ? ""
            : string.Create(CultureInfo.InvariantCulture,
                $"{mismatches} of {actual.Length} outside {tolerance.Absolute:G3} + {tolerance.Relative:G3}*|ref|; " +
                    $"worst [{worst}] {actual[worst]:G9} vs {reference[worst]:G9}; first:{first}");
        return new CheckResult(kernel, shape, maxAbs, maxRel, passed, detail);
    }

    /// <summary>Compares integer results exactly (e.g. max-pooling argmax, ReLU mask bits).</summary>
    public static CheckResult CompareExact<T>(string kernel, string shape, T[] actual, T[] reference)
        where T : IEquatable<T>
    {
        int mismatches = 0, firstIndex = -1;
        for (int i = 0; i < Math.Min(actual.Length, reference.Length); i++)
        {
            if (actual[i].Equals(reference[i])) continue;
            if (mismatches++ == 0) firstIndex = i;
        }
        bool passed = mismatches == 0 && actual.Length == reference.Length;
        string detail = passed ? "" : firstIndex < 0
            ? $"length {actual.Length} != reference length {reference.Length}"
            : $"{mismatches} of {reference.Length} differ; " +
                $"first [{firstIndex}] {actual[firstIndex]} vs {reference[firstIndex]}";
        return new CheckResult(kernel, shape, passed ? 0 : double.PositiveInfinity,
            passed ? 0 : double.PositiveInfinity, passed, detail);
    }

    /// <summary>
    /// Combines the checks of several outputs of one launch (e.g. a value and a gradient) into one row.
    /// </summary>
    public static CheckResult Combine(string kernel, string shape, params CheckResult[] parts) =>
        new(kernel, shape,
            parts.Max(p => p.MaxAbsError),
            parts.Max(p => p.MaxRelError),
            parts.All(p => p.Passed),
            string.Join(" | ", parts.Where(p => !p.Passed).Select(p => $"{p.Kernel}: {p.Detail}")));
}
