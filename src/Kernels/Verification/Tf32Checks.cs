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

    static partial void AddTf32Kernels(List<KernelCheck> checks)
    {
        foreach (var shape in TiledForwardShapes)
        {
            foreach (bool relu in new[] { false, true })
            {
                string name = $"conv2d.forward{(relu ? "+relu" : "")}/tf32";
                checks.Add(Tf32(name, shape.ToString(), k => Tf32Forward(k, shape, relu, name)));
            }
        }

        foreach (var shape in TiledBackwardShapes)
        {
            foreach (bool mask in new[] { false, true })
            {
                string name = $"conv2d.backward{(mask ? "+relu-mask" : "")}/tf32";
                checks.Add(Tf32(name, shape.ToString(), k => Tf32Backward(k, shape, mask, name)));
            }
        }

        // The split reduction, as for the tiled kernel.
        foreach (int splits in new[] { 3, 7 })
        {
            var shape = TiledForwardShapes[1];
            checks.Add(Tf32("conv2d.forward+relu/tf32-split", $"{shape} x{splits}",
                k => Tf32Forward(k, shape, true, "conv2d.forward+relu/tf32-split", splits)));
            var back = TiledBackwardShapes[1];
            checks.Add(Tf32("conv2d.backward+relu-mask/tf32-split", $"{back} x{splits}",
                k => Tf32Backward(k, back, true, "conv2d.backward+relu-mask/tf32-split", splits)));
        }
    }

    // The tiled checks' requirement text, so that verify reports both in one "skipped" line (on CUDA
    // RunsTf32 also needs compute capability 8.0, which every GPU this project targets has).
    private static KernelCheck Tf32(string name, string shape, Func<KernelSet, CheckResult> run) =>
        new(name, shape, run)
        {
            Requires = a => AcceleratorDescription.Of(a).RunsTf32,
            RequirementText = TiledRequirement,
        };

    private static CheckResult Tf32Forward(KernelSet k, Conv2dShape s, bool relu, string name, int splits = 0)
    {
        var random = new Random(81);
        var input = Uniform(random, s.Input.Length);
        var weight = Uniform(random, s.WeightLength);
        var bias = Uniform(random, s.OutChannels);
        var expected = new double[s.Output.Length];
        Conv2d.ForwardReference(expected, input, weight, bias, s, relu);
        var rounded = new double[s.Output.Length];
        Conv2d.ForwardReference(rounded, RoundedToTf32(input), RoundedToTf32(weight), bias, s, relu);
        var magnitude = new double[s.Output.Length]; // sum_r |w||x| per output
        Conv2d.ForwardReference(magnitude, Absolute(input), Absolute(weight),
            new double[s.OutChannels], s, fuseRelu: false);

        var a = k.Accelerator;
        using var dInput = Upload(a, input);
        using var dWeight = Upload(a, weight);
        using var dBias = Upload(a, bias);
        using var output = Poisoned(a, s.Output.Length);
        k.Conv.ForwardTf32(output.View, dInput.View, dWeight.View, dBias.View, s, relu, splits);
        var actual = Download(output);
        return Comparison.Combine(name, s.ToString(),
            WithinTf32Bound(name, s.ToString(), actual, expected, magnitude),
            Comparison.Compare(name + " vs tf32-rounded reference", s.ToString(), actual, rounded, Tf32Rounded));
    }

    private static CheckResult Tf32Backward(KernelSet k, Conv2dShape s, bool mask, string name, int splits = 0)
    {
        var random = new Random(82);
        var dOutput = Uniform(random, s.Output.Length);
        var weight = Uniform(random, s.WeightLength);
        var reluOutput = Uniform(random, s.Output.Length);
        Relu.ForwardReference(reluOutput, reluOutput); // a real ReLU output: about half zeros
        var masked = (double[])dOutput.Clone();
        if (mask) Relu.BackwardReference(masked, dOutput, reluOutput);
        var expected = new double[s.Input.Length];
        Conv2d.BackwardInputReference(expected, masked, weight, s);
        var rounded = new double[s.Input.Length];
        Conv2d.BackwardInputReference(rounded, RoundedToTf32(masked), RoundedToTf32(weight), s);
        var magnitude = new double[s.Input.Length];
        Conv2d.BackwardInputReference(magnitude, Absolute(masked), Absolute(weight), s);

        var a = k.Accelerator;
        using var dOut = Upload(a, dOutput);
        using var dWeight = Upload(a, weight);
        using var transposed = Poisoned(a, s.WeightLength);
        using var saved = Upload(a, reluOutput);
        using var dInput = Poisoned(a, s.Input.Length);
        k.Conv.TransposeFlip(transposed.View, dWeight.View, s);
        k.Conv.BackwardInputTf32(dInput.View, dOut.View, transposed.View, mask ? saved.View : default, s, splits);
        var actual = Download(dInput);
        return Comparison.Combine(name, s.ToString(),
            WithinTf32Bound(name, s.ToString(), actual, expected, magnitude),
            Comparison.Compare(name + " vs tf32-rounded reference", s.ToString(), actual, rounded, Tf32Rounded));
    }

    private static double[] RoundedToTf32(double[] values) =>
        Array.ConvertAll(values, v => (double)Conv2d.RoundTf32((float)v));

    private static double[] Absolute(double[] values) => Array.ConvertAll(values, Math.Abs);

    /// <summary>
    /// Element i passes when |actual - reference| &lt;= 2^-10 magnitude[i] + 1e-6 (the TF32 worst case, see the
    /// remarks).
    /// </summary>
    private static CheckResult WithinTf32Bound(string kernel, string shape, float[] actual,
        double[] reference, double[] magnitude)
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
            $"{mismatches} of {actual.Length} outside 2^-10 * sum|w||x|; first [{first}] {actual[first]:G9} vs " +
            $"{reference[first]:G9} (bound {Math.ScaleB(magnitude[first], -10) + 1e-6:G3})");
        return new CheckResult(kernel, shape, maxAbs, maxRel, mismatches == 0, detail);
    }
}
