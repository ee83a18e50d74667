namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    static partial void AddReplicateKernels(List<KernelCheck> checks) =>
        AddReplicate(checks, KernelVariant.PerElement);

    /// <summary>The one-to-three channel map as <paramref name="variant"/> (kernel 1 or the host code): a 5x7
    /// plane with distinct scales and offsets per channel (as torchvision's preprocessing has), one of a single
    /// pixel, and one that spans several cores' ranges.</summary>
    private static void AddReplicate(List<KernelCheck> checks, KernelVariant variant)
    {
        float[] scale = [1.0227f, 0.9457f, 1.1351f];
        float[] offset = [-0.1133f, 0.2791f, -0.0512f];
        foreach (int plane in new[] { 35, 1, 100003 })
        {
            var p = ReplicateParameters.Of(plane, scale, offset);
            string text = $"(1, {plane}) <-> (3, {plane})";
            checks.Add(new("replicate.forward", text, k => OneToOne(k, "replicate.forward", text, seed: 91, plane,
                3 * plane, (expected, input) => ChannelReplicate.ForwardReference(expected, input, p),
                (output, input) => k.Replicate.Forward(output, input, p, variant), Elementwise)));
            checks.Add(new("replicate.backward", text, k => OneToOne(k, "replicate.backward", text, seed: 92,
                3 * plane, plane, (expected, dOutput) => ChannelReplicate.BackwardReference(expected, dOutput, p),
                (dInput, dOutput) => k.Replicate.Backward(dInput, dOutput, p, variant), Sums)));
        }
    }
}
