using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels.Tuning;

/// <summary>What the check of one variant's output found.</summary>
/// <param name="WorstRatio">The largest <c>|out - ref| / bound</c> over the elements (above 1: out of bound;
/// infinite for a NaN); 0 for the reference itself.</param>
/// <param name="Passed">Every element within its bound.</param>
public readonly record struct TrialCheck(double WorstRatio, bool Passed);

/// <summary>
/// One operation at one shape on the device, with its data, as the tuner times and checks it: every candidate
/// runs on the same inputs into the same output, and <see cref="Check"/> compares what the last
/// <see cref="Run"/> left there with the reference variant's output.
/// </summary>
public interface ITuningTrial : IDisposable
{
    /// <summary>The operation and shape.</summary>
    TuningKey Key { get; }

    /// <summary>The variants to time, the reference first.</summary>
    IReadOnlyList<KernelVariant> Candidates { get; }

    /// <summary>Queues one launch of <paramref name="variant"/> (as the network launches it).</summary>
    void Run(KernelVariant variant);

    /// <summary>Waits for the device and checks the output of the last <see cref="Run"/> as
    /// <paramref name="variant"/>'s, within its bound (<see cref="TuningBounds"/>).</summary>
    TrialCheck Check(KernelVariant variant);
}

/// <summary>
/// A convolution's trial: random inputs (normal), He-normal weights and a small bias, on the device. The reference
/// variant's output and the magnitude <c>|b| + sum |w||x|</c> (the reference run again on absolute values) are
/// computed once, on the host side of the check; each candidate's weights are prepared once, as a layer's are.
/// Forward runs with the fused ReLU, the input gradient without a mask (the masks are the same pass or load for
/// every variant, and verify checks them).
/// </summary>
public sealed class ConvTrial : ITuningTrial
{
    private readonly KernelSet _kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _input;      // x forward, dOut for the input gradient
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _output;     // out forward, dIn for the input gradient
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _bias;
    private readonly List<MemoryBuffer1D<float, Stride1D.Dense>> _preparedBuffers = []; // what Prepare asked for
    private readonly Dictionary<KernelVariant, Conv2dWeights> _prepared = [];
    private readonly float[] _reference;
    private readonly float[] _magnitude;

    /// <summary>Uploads the data for <paramref name="key"/> and runs the reference on it.</summary>
    /// <param name="kernels">The device's kernels; its rule (<see cref="KernelSet.Choice"/>) names the candidates.
    /// </param>
    /// <param name="key">The operation and shape.</param>
    /// <param name="seed">The data's random seed.</param>
    public ConvTrial(KernelSet kernels, TuningKey key, int seed = 1)
    {
        var s = key.Shape;
        _kernels = kernels;
        Key = key;
        Candidates = kernels.Choice.Candidates(key.Operation, s);
        bool forward = key.Operation == TunedOperation.ConvForward;
        var random = new Random(seed);
        float[] input = Normal(random, forward ? s.Input.Length : s.Output.Length, 1);
        float[] weight = Normal(random, s.WeightLength, Math.Sqrt(2.0 / (s.InChannels * s.KernelHeight *
                                                                         s.KernelWidth)));
        float[] bias = Enumerable.Range(0, s.OutChannels).Select(_ => (float)(random.NextDouble() * 0.2 - 0.1))
            .ToArray();
        var accelerator = kernels.Accelerator;
        _input = accelerator.Allocate1D(input);
        _output = accelerator.Allocate1D<float>(forward ? s.Output.Length : s.Input.Length);
        _weight = accelerator.Allocate1D(weight);
        _bias = accelerator.Allocate1D(bias);

        var reference = kernels.Choice.Reference;
        _reference = RunOnce(reference);
        // The magnitude: the same product over |x|, |w| and |b| (no ReLU clips it: every term is >= 0).
        _input.CopyFromCPU(Array.ConvertAll(input, Math.Abs));
        _weight.CopyFromCPU(Array.ConvertAll(weight, Math.Abs));
        _bias.CopyFromCPU(Array.ConvertAll(bias, Math.Abs));
        _magnitude = RunOnce(reference);
        _input.CopyFromCPU(input);
        _weight.CopyFromCPU(weight);
        _bias.CopyFromCPU(bias);
        _prepared.Clear(); // prepared again from the real weights (a transposed copy is made from them)
        foreach (var buffer in _preparedBuffers) buffer.Dispose();
        _preparedBuffers.Clear();
        accelerator.Synchronize();
    }

    /// <inheritdoc/>
    public TuningKey Key { get; }

    /// <inheritdoc/>
    public IReadOnlyList<KernelVariant> Candidates { get; }

    /// <summary>Where every candidate writes: the output forward, dIn for the input gradient.</summary>
    public ArrayView1D<float, Stride1D.Dense> Output => _output.View;

    /// <inheritdoc/>
    public void Run(KernelVariant variant)
    {
        var weights = Prepared(variant);
        if (Key.Operation == TunedOperation.ConvForward)
            _kernels.Conv.Forward(_output.View, default, _input.View, weights, fuseRelu: true);
        else
            _kernels.Conv.BackwardInput(_output.View, _input.View, weights);
    }

    /// <inheritdoc/>
    public TrialCheck Check(KernelVariant variant)
    {
        _kernels.Accelerator.Synchronize();
        float[] actual = _output.GetAsArray1D();
        double factor = TuningBounds.Factor(variant, Key.ReductionLength)
            ?? throw new ArgumentException($"{variant} has no stated error bound.", nameof(variant));
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - _reference[i]);
            if (double.IsNaN(error)) error = double.PositiveInfinity;
            worst = Math.Max(worst, error / (factor * _magnitude[i] + TuningBounds.Absolute));
        }
        return new TrialCheck(worst, worst <= 1);
    }

    private float[] RunOnce(KernelVariant variant)
    {
        Run(variant);
        _kernels.Accelerator.Synchronize();
        return _output.GetAsArray1D();
    }

    /// <summary>The layer's weights as <paramref name="variant"/> reads them (the other direction runs the
    /// reference, which reads nothing extra).</summary>
    private Conv2dWeights Prepared(KernelVariant variant)
    {
        if (_prepared.TryGetValue(variant, out var weights)) return weights;
        var reference = _kernels.Choice.Reference;
        var variants = Key.Operation == TunedOperation.ConvForward
            ? new ConvVariants(variant, reference)
            : new ConvVariants(reference, variant);
        // Whatever the variant reads besides W (the tiled input gradient's W'), as much as it asks for.
        weights = _kernels.Conv.Prepare(Key.Shape, _weight.View, _bias.View, n =>
        {
            var buffer = _kernels.Accelerator.Allocate1D<float>(n);
            _preparedBuffers.Add(buffer);
            return buffer.View;
        }, variants);
        _prepared[variant] = weights;
        return weights;
    }

    private static float[] Normal(Random random, int length, double std)
    {
        var data = new float[length];
        for (int i = 0; i < length; i++)
            data[i] = (float)(std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) *
                              Math.Cos(2 * Math.PI * random.NextDouble()));
        return data;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _input.Dispose();
        _output.Dispose();
        _weight.Dispose();
        _bias.Dispose();
        foreach (var buffer in _preparedBuffers) buffer.Dispose();
    }
}
