namespace IlgpuStyle.Kernels.Verification;

public static partial class KernelChecks
{
    static partial void AddUpsampleKernels(List<KernelCheck> checks) =>
        AddUpsample(checks, KernelVariant.PerElement, []);

    /// <summary>Enlargement as <paramref name="variant"/> (kernel 1 or the host code), bilinear and bicubic, on
    /// awkward shapes and <paramref name="more"/>, and bicubic's clamp.</summary>
    private static void AddUpsample(List<KernelCheck> checks, KernelVariant variant,
        (ChwShape Input, ChwShape Output)[] more)
    {
        (ChwShape Input, ChwShape Output)[] shapes =
        [
            (new(3, 5, 7), new(3, 9, 13)),  // odd sizes, a factor that is not an integer
            (new(2, 4, 4), new(2, 8, 8)),   // exactly 2x: every source coordinate at a quarter pixel
            (new(1, 5, 7), new(1, 5, 11)),  // one direction unchanged (an identity there)
            (new(3, 7, 5), new(3, 10, 7)),  // sqrt(2) apart, portrait, as between two default scales
            (new(1, 1, 1), new(1, 3, 2)),   // one input pixel: every tap is the edge
            .. more,
        ];
        foreach (var (input, output) in shapes)
        {
            string text = $"{input} -> {output}";
            foreach (var filter in new[] { UpsampleFilter.Bilinear, UpsampleFilter.Bicubic })
            {
                string name = $"upsample/{filter.ToString().ToLowerInvariant()}";
                checks.Add(new(name, text, k => UpsampleCheck(k, input, output, filter,
                    float.NegativeInfinity, float.PositiveInfinity, name, text, variant)));
            }
        }
        // The clamp, where bicubic overshoots: random values, clamped inside their own range.
        var (clampIn, clampOut) = shapes[0];
        checks.Add(new("upsample/bicubic+clamp", $"{clampIn} -> {clampOut} [-0.5, 0.5]",
            k => UpsampleCheck(k, clampIn, clampOut, UpsampleFilter.Bicubic, -0.5f, 0.5f,
                "upsample/bicubic+clamp", "clamped", variant)));
    }

    private static CheckResult UpsampleCheck(KernelSet k, ChwShape input, ChwShape output, UpsampleFilter filter,
        float low, float high, string name, string text, KernelVariant variant) =>
        OneToOne(k, name, text, seed: 81, input.Length, output.Length,
            (expected, values) => Upsample.ForwardReference(expected, values, output, input, filter, low, high),
            (result, values) => k.Upsample.Forward(result, values, output, input, filter, low, high, variant), Sums);
}
