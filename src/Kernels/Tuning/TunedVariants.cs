namespace IlgpuStyle.Kernels.Tuning;

/// <summary>One operation at one shape: what a tuned choice is kept under (with the device, in the cache).</summary>
/// <param name="Operation">The convolution's direction.</param>
/// <param name="Shape">The convolution's dimensions.</param>
public readonly record struct TuningKey(TunedOperation Operation, Conv2dShape Shape)
{
    /// <summary>The products' reduction length, <c>C*KH*KW</c> forward and <c>K*KH*KW</c> for the input
    /// gradient: how many products each output sums (the error bounds grow with it).</summary>
    public int ReductionLength => Operation == TunedOperation.ConvForward
        ? Shape.InChannels * Shape.KernelHeight * Shape.KernelWidth
        : Shape.OutChannels * Shape.KernelHeight * Shape.KernelWidth;

    /// <summary>Floating-point operations of one launch: both directions cost <c>2*K*C*KH*KW*OH*OW</c>.</summary>
    public double Flop => 2.0 * Shape.MultiplyAdds;

    /// <summary><c>conv forward C64 512x512 K64 3x3 p1 s1</c>.</summary>
    public override string ToString() =>
        $"{(Operation == TunedOperation.ConvForward ? "conv forward" : "conv input gradient")} {Shape}";
}

/// <summary>
/// The measured choices of one device: for each (operation, shape) the tuner timed or read from its cache, the
/// fastest variant whose output was within its bound. An immutable value: <see cref="KernelChoice.WithTuned"/>
/// hands it to the rule, which answers from it first.
/// </summary>
public sealed class TunedVariants
{
    private readonly Dictionary<TuningKey, KernelVariant> _choices;

    /// <summary>The table of <paramref name="choices"/>.</summary>
    public TunedVariants(IReadOnlyDictionary<TuningKey, KernelVariant> choices)
    {
        foreach (var (key, variant) in choices)
        {
            if (variant == KernelVariant.Auto)
                throw new ArgumentException($"{key} is tuned to Auto, which is no variant.", nameof(choices));
        }
        _choices = new Dictionary<TuningKey, KernelVariant>(choices);
    }

    /// <summary>No measured choice: the rule as written.</summary>
    public static TunedVariants Empty { get; } = new(new Dictionary<TuningKey, KernelVariant>());

    /// <summary>Every measured choice.</summary>
    public IReadOnlyDictionary<TuningKey, KernelVariant> Choices => _choices;

    /// <summary>The measured variant of <paramref name="operation"/> at <paramref name="shape"/>, or null.</summary>
    public KernelVariant? Find(TunedOperation operation, Conv2dShape shape) =>
        _choices.TryGetValue(new TuningKey(operation, shape), out var variant) ? variant : null;
}

/// <summary>
/// How far each variant's output may be from the reference variant's (<see cref="KernelChoice.Reference"/>) when
/// the tuner checks it: per element, <c>|out - ref| &lt;= factor * sum |w||x| + 1e-7</c>, where the sum is the
/// same product over the absolute values (the magnitude) and the factor is the variant's own.
/// </summary>
/// <remarks>
/// <para>fp32 variants (one thread per element, tiled, host code): each of the two outputs sums R products in
/// fp32 in its own order, erring by at most about <c>R * 2^-24</c> of the magnitude (a product's rounding adds
/// <c>2^-24</c>), so the two differ by at most <c>(R + 2) * 2^-23</c> of it. Typical errors are ~sqrt(R) times
/// smaller; a wrong index or a missed tile is of the order of the magnitude itself.</para>
/// <para>TF32: rounding both operands to 10 mantissa bits errs by at most <c>2^-10</c> of the magnitude
/// (Tf32Checks.cs), plus the fp32 accumulation of both sides.</para>
/// <para>A variant without a bound here (a new one, until its author states it) is never a candidate.</para>
/// </remarks>
public static class TuningBounds
{
    /// <summary>The absolute slack of every bound, for outputs whose magnitude is near zero.</summary>
    public const double Absolute = 1e-7;

    /// <summary>Whether <paramref name="variant"/> has a stated bound (and so may be tuned to).</summary>
    public static bool Stated(KernelVariant variant) => Factor(variant, 1) is not null;

    /// <summary>The factor of the magnitude that <paramref name="variant"/> may stray by, for a reduction of
    /// <paramref name="reductionLength"/> products; null where none is stated.</summary>
    public static double? Factor(KernelVariant variant, int reductionLength)
    {
        double fp32 = (reductionLength + 2) * Math.ScaleB(1.0, -23);
        return variant switch
        {
            KernelVariant.PerElement or KernelVariant.Tiled or KernelVariant.Cpu => fp32,
            KernelVariant.Tf32 => Math.ScaleB(1.0, -10) + fp32,
            _ => null,
        };
    }
}
