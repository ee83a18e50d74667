using ILGPU.Runtime;
using IlgpuStyle.Kernels.Tuning;

namespace IlgpuStyle.Kernels;

/// <summary>An operation whose variant <c>--tune</c> measures per shape.</summary>
public enum TunedOperation
{
    /// <summary>The forward convolution with its fused ReLU (<see cref="Conv2d.Forward"/>).</summary>
    ConvForward,

    /// <summary>The convolution's input gradient (<see cref="Conv2d.BackwardInput"/>).</summary>
    ConvInputGradient,
}

// The measured side of the rule: which variants a shape may run (the candidates the tuner times), which one the
// others are checked against, how far each may stray from it, and the table of what the timing chose.
public sealed partial class KernelChoice
{
    private TunedVariants? _tuned; // set once, by WithTuned, on a copy

    /// <summary>The measured choices this rule answers with first (empty: the rule as written).</summary>
    public TunedVariants TunedTable => _tuned ?? TunedVariants.Empty;

    /// <summary>This rule with <paramref name="table"/>'s measured choices answering first.</summary>
    public KernelChoice WithTuned(TunedVariants table) =>
        new(Accelerator, Tf32, TiledOnCpu, Algorithm) { _tuned = table };

    private KernelVariant? Tuned(TunedOperation operation, Conv2dShape shape) => _tuned?.Find(operation, shape);

    /// <summary>
    /// The rule's variants for a layer with the measured ones put in, where the tuner timed its shape. A direction
    /// the rule gives to Winograd keeps it: Winograd is no tuning candidate until <see cref="TuningBounds"/> states
    /// its bound, so a measured direct variant must not replace it (with <c>--tune always</c> on the CPU the only
    /// candidate is the direct host code).
    /// </summary>
    private ConvVariants TunedOver(Conv2dShape shape, ConvVariants rule)
    {
        static bool IsWinograd(KernelVariant v) => v is KernelVariant.Winograd or KernelVariant.CpuWinograd;
        if (!IsWinograd(rule.Forward) && Tuned(TunedOperation.ConvForward, shape) is { } forward)
            rule = rule with { Forward = forward };
        if (!IsWinograd(rule.InputGradient) && Tuned(TunedOperation.ConvInputGradient, shape) is { } inputGradient)
            rule = rule with { InputGradient = inputGradient };
        return rule;
    }

    /// <summary>
    /// The variant every other is checked against when tuning: the host code on the CPU accelerator, one thread per
    /// element on a GPU. Each is the plainest form of its device, and <c>verify</c> holds both to the
    /// double-precision reference.
    /// </summary>
    public KernelVariant Reference =>
        Accelerator.Type == AcceleratorType.CPU ? KernelVariant.Cpu : KernelVariant.PerElement;

    /// <summary>
    /// Every variant that may run <paramref name="operation"/> at <paramref name="shape"/> on this accelerator
    /// with these settings, the reference first: what the tuner times and <c>bench --sweep</c> lists. On a GPU:
    /// one thread per element, the tiled product where 256-thread groups fit (the input gradient only where it has
    /// a transposed form), TF32 only with <c>--tf32</c>. On the CPU accelerator: the host code, and the GPU's
    /// kernels only when a test asks for them (<see cref="TiledOnCpu"/>): there they are scalar and far slower.
    /// A variant without a stated error bound (<see cref="TuningBounds"/>) is never a candidate.
    /// </summary>
    public IReadOnlyList<KernelVariant> Candidates(TunedOperation operation, Conv2dShape shape)
    {
        shape.Validate();
        bool cpu = Accelerator.Type == AcceleratorType.CPU;
        bool tiledForm = operation == TunedOperation.ConvForward || shape.HasTransposedForm;
        bool gpuKernels = !cpu || TiledOnCpu;
        var candidates = new List<KernelVariant> { Reference };
        void Add(KernelVariant variant, bool eligible)
        {
            if (eligible && !candidates.Contains(variant) && TuningBounds.Stated(variant)) candidates.Add(variant);
        }
        Add(KernelVariant.PerElement, gpuKernels);
        Add(KernelVariant.Tiled, gpuKernels && tiledForm && Accelerator.FitsTiledGroups);
        Add(KernelVariant.Tf32, gpuKernels && tiledForm && Tf32 && Accelerator.RunsTf32);
        return candidates;
    }
}
