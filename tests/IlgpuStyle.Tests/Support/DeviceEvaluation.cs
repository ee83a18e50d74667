using ILGPU.Runtime;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;

namespace IlgpuStyle.Tests.Support;

/// <summary>One evaluation of a <see cref="IStyleObjective"/> on the device, read back, and how the tests compare a
/// device's result with another (a gradient, or a kernel's output against its double reference).</summary>
internal static class DeviceEvaluation
{
    /// <summary>
    /// Evaluates <paramref name="objective"/> at <paramref name="x"/> into poisoned buffers (a value the objective
    /// does not write shows as NaN): the gradient, the loss terms and the loss scalar.
    /// </summary>
    public static (float[] Gradient, LossBreakdown Losses, float Loss) Of(Accelerator accelerator,
        IStyleObjective objective, NetworkImage x)
    {
        using var input = accelerator.Allocate1D(x.Data);
        using var gradient = TestData.Poisoned(accelerator, x.Data.Length);
        using var loss = TestData.Poisoned(accelerator, 1);
        objective.Evaluate(input.View, gradient.View, loss.View);
        var losses = objective.ReadLosses();
        return (TestData.Download(gradient), losses, TestData.Download(loss)[0]);
    }

    /// <summary><c>|actual - expected| / |expected|</c> in the L2 norm, summed in double.</summary>
    public static double RelativeL2(float[] actual, float[] expected)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            difference += Math.Pow((double)actual[i] - expected[i], 2);
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(difference / norm);
    }

    /// <summary><c>|actual - expected| / |expected|</c> in the L2 norm against a double reference.</summary>
    public static double RelativeL2(float[] actual, double[] expected)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            difference += d * d;
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(difference / norm);
    }
}
