using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    /// <summary>
    /// The temporal loss, value and gradient, written and accumulated: kernel 1 on awkward shapes, and the host code
    /// (on the CPU accelerator) on the same shapes and on one that spans several chunks of its sum and several
    /// cores' ranges of pixels.
    /// </summary>
    static partial void AddTemporalKernels(List<KernelCheck> checks)
    {
        ChwShape[] shapes = [new(3, 5, 7), new(1, 4, 9)];
        foreach (var variant in new[] { KernelVariant.PerElement, KernelVariant.Cpu })
        {
            bool host = variant == KernelVariant.Cpu;
            string suffix = host ? "/cpu" : "";
            foreach (var shape in host ? [.. shapes, new(3, 211, 239)] : shapes)
            {
                string text = shape.ToString();
                foreach (bool accumulate in new[] { false, true })
                {
                    string more = accumulate ? "+accumulate" : "";
                    string forward = $"temporal.forward{more}{suffix}", backward = $"temporal.backward{more}{suffix}";
                    KernelCheck Check(string name, Func<KernelSet, CheckResult> run) => host
                        ? Cpu(name, text, run)
                        : new KernelCheck(name, text, run);
                    checks.Add(Check(forward, k => TemporalForward(k, variant, shape, accumulate, forward)));
                    checks.Add(Check(backward, k => TemporalBackward(k, variant, shape, accumulate, backward)));
                }
            }
        }
    }

    /// <summary>Per-pixel weights as the consistency check makes them: mostly 1, with 0s (disocclusions) and a
    /// few fractions, so a kernel that ignores them or reads them per channel fails.</summary>
    private static double[] TemporalWeights(Random random, int plane)
    {
        var weights = Uniform(random, plane, 0, 1);
        for (int m = 0; m < plane; m++) weights[m] = m % 3 == 0 ? 0 : m % 3 == 1 ? 1 : weights[m];
        return weights;
    }

    private static CheckResult TemporalForward(KernelSet k, KernelVariant variant, ChwShape s, bool accumulate,
        string name)
    {
        var random = new Random(61);
        var x = Uniform(random, s.Length);
        var target = Uniform(random, s.Length);
        var weights = TemporalWeights(random, s.PlaneLength);
        const double weight = 7.5, start = -1.25;
        double expected = TemporalLoss.ForwardReference(x, target, weights, s, weight) + (accumulate ? start : 0);

        using var dX = Upload(k.Accelerator, x);
        using var dTarget = Upload(k.Accelerator, target);
        using var dWeights = Upload(k.Accelerator, weights);
        using var loss = accumulate ? Upload(k.Accelerator, [start]) : Poisoned(k.Accelerator, 1);
        k.Temporal.Forward(loss.View, dX.View, dTarget.View, dWeights.View, s, (float)weight, accumulate, variant);
        return Comparison.Compare(name, s.ToString(), Download(loss), [expected], Sums);
    }

    private static CheckResult TemporalBackward(KernelSet k, KernelVariant variant, ChwShape s, bool accumulate,
        string name)
    {
        var random = new Random(62);
        var x = Uniform(random, s.Length);
        var target = Uniform(random, s.Length);
        var weights = TemporalWeights(random, s.PlaneLength);
        var start = Uniform(random, s.Length);
        const double weight = 7.5;
        var expected = (double[])start.Clone();
        TemporalLoss.BackwardReference(expected, x, target, weights, s, weight, accumulate);

        using var dX = Upload(k.Accelerator, x);
        using var dTarget = Upload(k.Accelerator, target);
        using var dWeights = Upload(k.Accelerator, weights);
        using var gradient = accumulate ? Upload(k.Accelerator, start) : Poisoned(k.Accelerator, s.Length);
        k.Temporal.Backward(gradient.View, dX.View, dTarget.View, dWeights.View, s, (float)weight, accumulate,
            variant);
        return Comparison.Compare(name, s.ToString(), Download(gradient), expected, Elementwise);
    }
}
