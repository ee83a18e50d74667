using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Optimization;

/// <summary>
/// The exponential moving average of an optimizer's iterates, with bias correction (SPEC.md,
/// "Averaging"): <c>avg_t = D*avg_{t-1} + (1-D)*x_t</c> from <c>avg_0 = 0</c>, read as
/// <c>avg_t / (1 - D^t)</c>.
/// </summary>
/// <remarks>
/// <para>Glossary: n variables; D the decay in [0, 1); t the number of iterates added. The average
/// lives on the device beside x, (n) floats, and each update is one elementwise pass.</para>
/// <para>Why: Adam's last iterates jitter around the minimum at the scale of its learning rate
/// (grain in the image); their average does not. The weights of the iterates sum to
/// <c>1 - D^t</c>, so dividing by it makes an unbiased weighted mean from the first iterate on:
/// <c>t = 1</c> gives x_1 itself, and a constant sequence averages to that constant. D = 0 gives
/// the last iterate.</para>
/// </remarks>
public sealed class IterateAverage : IDisposable
{
    private readonly VectorOps _vectors;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _average; // (n) avg_t, not bias-corrected

    /// <summary>Allocates the average of n variables, starting at avg_0 = 0.</summary>
    /// <param name="kernels">The loaded kernels; their accelerator holds the average.</param>
    /// <param name="length">n, the number of variables.</param>
    /// <param name="decay">D, in [0, 1).</param>
    public IterateAverage(KernelSet kernels, int length, double decay)
    {
        if (!(decay >= 0 && decay < 1))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "The decay must be in [0, 1).");
        if (length <= 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "The average needs at least one variable.");
        Decay = decay;
        _vectors = kernels.Vectors;
        _average = kernels.Accelerator.Allocate1D<float>(length);
        _vectors.Fill(_average.View, 0f);
    }

    /// <summary>D.</summary>
    public double Decay { get; }

    /// <summary>t: iterates added so far.</summary>
    public int Count { get; private set; }

    /// <summary>Device bytes for n variables.</summary>
    public static long RequiredBytes(int n) => sizeof(float) * (long)n;

    /// <summary>Device bytes it holds (what it allocated).</summary>
    public long DeviceBytes => _average.LengthInBytes;

    /// <summary>Adds iterate x_{t+1} (n elements): <c>avg = D*avg + (1-D)*x</c>.</summary>
    public void Add(ArrayView<float> x)
    {
        Require.Length(x, _average.Length, nameof(x));
        _vectors.LinearCombination(_average.View, (float)Decay, _average.View, (float)(1 - Decay), x, 0f);
        Count++;
    }

    /// <summary>Writes the bias-corrected average <c>avg_t / (1 - D^t)</c> into
    /// <paramref name="destination"/> (n elements).</summary>
    public void WriteTo(ArrayView<float> destination)
    {
        if (Count == 0) throw new InvalidOperationException("The average of no iterates is undefined: add one first.");
        Require.Length(destination, _average.Length, nameof(destination));
        float correction = (float)(1 / Correction(Decay, Count));
        _vectors.LinearCombination(destination, correction, _average.View, 0f, _average.View, 0f);
    }

    /// <summary>The bias-corrected average, read to the host (waits for the device): for an image to
    /// write while the optimizer goes on with x.</summary>
    public float[] Read()
    {
        if (Count == 0) throw new InvalidOperationException("The average of no iterates is undefined: add one first.");
        _average.Accelerator.Synchronize();
        var values = _average.GetAsArray1D();
        float correction = (float)(1 / Correction(Decay, Count));
        for (int i = 0; i < values.Length; i++) values[i] *= correction;
        return values;
    }

    /// <summary><c>1 - D^t</c>, the weight the first t iterates hold in total; computed in double,
    /// where <c>D^t</c> for thousands of steps keeps its precision.</summary>
    private static double Correction(double decay, int t) => 1 - Math.Pow(decay, t);

    /// <inheritdoc/>
    public void Dispose() => _average.Dispose();

    /// <summary>
    /// Reference, in double: the bias-corrected average after each iterate of <paramref name="iterates"/>
    /// (element t-1 of the result is the average of x_1 ... x_t).
    /// </summary>
    public static List<double[]> Reference(IReadOnlyList<double[]> iterates, double decay)
    {
        var results = new List<double[]>();
        double[]? average = null;
        for (int t = 1; t <= iterates.Count; t++)
        {
            var x = iterates[t - 1];
            average ??= new double[x.Length];
            for (int i = 0; i < x.Length; i++) average[i] = decay * average[i] + (1 - decay) * x[i];
            results.Add(Array.ConvertAll(average, a => a / Correction(decay, t)));
        }
        return results;
    }
}
