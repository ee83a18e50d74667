using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    static partial void AddReplicateKernels(List<KernelCheck> checks) => AddReplicate(checks, host: false);

    /// <summary>The one-to-three channel map, as kernels or (<paramref name="host"/>) in host code: a 5x7
    /// plane with distinct scales and offsets per channel (as torchvision's preprocessing has), one of a single
    /// pixel, and one that spans several cores' ranges.</summary>
    private static void AddReplicate(List<KernelCheck> checks, bool host)
    {
        float[] scale = [1.0227f, 0.9457f, 1.1351f];
        float[] offset = [-0.1133f, 0.2791f, -0.0512f];
        foreach (int plane in new[] { 35, 1, 100003 })
        {
            var p = ReplicateParameters.Of(plane, scale, offset);
            string text = $"(1, {plane}) <-> (3, {plane})";
            checks.Add(new("replicate.forward", text, k =>
            {
                var input = Uniform(new Random(91), plane);
                var expected = new double[3 * plane];
                ChannelReplicate.ForwardReference(expected, input, p);
                using var dInput = Upload(k.Accelerator, input);
                using var dOutput = Poisoned(k.Accelerator, 3 * plane);
                new ChannelReplicate(k.Accelerator, host).Forward(dOutput.View, dInput.View, p);
                return Comparison.Compare("replicate.forward", text, Download(dOutput), expected, Elementwise);
            }));
            checks.Add(new("replicate.backward", text, k =>
            {
                var gradient = Uniform(new Random(92), 3 * plane);
                var expected = new double[plane];
                ChannelReplicate.BackwardReference(expected, gradient, p);
                using var dOutput = Upload(k.Accelerator, gradient);
                using var dInput = Poisoned(k.Accelerator, plane);
                new ChannelReplicate(k.Accelerator, host).Backward(dInput.View, dOutput.View, p);
                return Comparison.Compare("replicate.backward", text, Download(dInput), expected, Sums);
            }));
        }
    }
}
