using ILGPU.Runtime;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>Running optimizers to the end and moving vectors between host and device.</summary>
internal static class OptimizerTestSupport
{
    /// <summary>Start, then Step until the optimizer stops or <paramref name="maxSteps"/> steps ran;
    /// returns every step, iteration 0 first.</summary>
    public static List<OptimizerStep> Run(IOptimizer optimizer, int maxSteps = int.MaxValue)
    {
        var steps = new List<OptimizerStep> { optimizer.Start() };
        while (!steps[^1].Stopped && steps.Count <= maxSteps) steps.Add(optimizer.Step());
        return steps;
    }

    public static MemoryBuffer1D<float, ILGPU.Stride1D.Dense> Upload(Accelerator accelerator, double[] values) =>
        accelerator.Allocate1D(Array.ConvertAll(values, v => (float)v));

    public static float[] Download(MemoryBuffer1D<float, ILGPU.Stride1D.Dense> buffer)
    {
        buffer.Accelerator.Synchronize();
        return buffer.GetAsArray1D();
    }

    /// <summary>max_i |x_i - target_i|.</summary>
    public static double MaxError(float[] x, double[] target)
    {
        double max = 0;
        for (int i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(x[i] - target[i]));
        return max;
    }

    /// <summary>A readable trace of a run for assertion messages.</summary>
    public static string Describe(List<OptimizerStep> steps) =>
        $"{steps.Count - 1} iterations, stop {steps[^1].Stop}, losses " +
        string.Join(", ",
            steps.Take(6).Select(s => s.Loss.ToString("G4", System.Globalization.CultureInfo.InvariantCulture))) +
        (steps.Count > 6 ? $" ... {steps[^1].Loss:G4}" : "");
}
