using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// One element's contribution to a sum: element <c>i</c> of a loss, a dot product or a norm.
/// Implementations are small structs holding the views they read, so that one generic kernel
/// (<see cref="Reduction.PartialSumsKernel{TSummand}"/>) serves every reduction in the project.
/// </summary>
public interface ISummand
{
    /// <summary>The term that element <paramref name="index"/> adds to the sum.</summary>
    float At(int index);
}

/// <summary>How <see cref="Reduction"/> finishes a sum before storing it.</summary>
public enum SumFinish
{
    /// <summary>Store <c>scale * sum</c>.</summary>
    Scale = 0,

    /// <summary>Store <c>scale * sqrt(sum)</c> (an L2 norm).</summary>
    ScaleSqrt = 1,
}

/// <summary>
/// Deterministic sums on the device, written to a one-element device view (a "device scalar") so
/// that nothing is read back to the host until someone asks for it.
/// </summary>
/// <remarks>
/// Why not <c>accelerator.Reduce</c>: it allocates and synchronises on every call and ends in a
/// float atomic add, whose order (and so whose last bits) changes from run to run on a GPU.
/// Instead the sum is taken in fixed passes:
/// <list type="number">
/// <item>P threads each sum the elements <c>p, p+P, p+2P, ...</c> (neighbouring threads read
/// neighbouring elements: coalesced on a GPU) with Kahan compensation, into <c>partials[p]</c>;</item>
/// <item>on a GPU, P partials are folded the same way into 128;</item>
/// <item>one thread adds the remaining partials in order, scales, and stores (or adds) the result.</item>
/// </list>
/// Every pass is an ordinary kernel without barriers, so it runs as it is on the CPU accelerator.
/// The result depends only on P, so it is bitwise repeatable on a given device.
/// </remarks>
public sealed class Reduction : IDisposable
{
    // Second-pass width on a GPU: small enough for one thread to finish quickly.
    private const int FoldedPartials = 128;

    private readonly Accelerator _accelerator;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scratch;
    private readonly int _firstPassWidth;
    private readonly Dictionary<Type, Delegate> _partialKernels = [];
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>>> _fold;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, float, int, SumFinish>> _finish;

    /// <summary>Allocates the scratch space once; every kernel is compiled at its first launch.</summary>
    /// <param name="accelerator">Where the sums run.</param>
    /// <param name="firstPassWidth">Threads of the first pass (P): the rule's
    /// <see cref="KernelChoice.ReductionWidth"/> for the accelerator. Tests set a small one to exercise every
    /// pass on small inputs.</param>
    public Reduction(Accelerator accelerator, int firstPassWidth)
    {
        _accelerator = accelerator;
        _firstPassWidth = firstPassWidth;
        if (_firstPassWidth <= 0)
            throw new ArgumentOutOfRangeException(nameof(firstPassWidth), "The first pass needs at least one thread.");
        _scratch = accelerator.Allocate1D<float>(_firstPassWidth + FoldedPartials);
        _fold = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>>(FoldKernel));
        _finish = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, float, int, SumFinish>(FinishKernel));
    }

    /// <summary>
    /// <c>result[0] = (accumulate ? result[0] : 0) + scale * finish(sum over i &lt; count of summand.At(i))</c>.
    /// </summary>
    /// <param name="result">A one-element device view that receives the sum.</param>
    /// <param name="count">How many elements the summand covers.</param>
    /// <param name="summand">The term per element.</param>
    /// <param name="scale">Multiplies the (finished) sum.</param>
    /// <param name="accumulate">Add to <paramref name="result"/> instead of overwriting it.</param>
    /// <param name="finish">Whether to take the square root of the sum before scaling.</param>
    public void Sum<TSummand>(ArrayView<float> result, int count, TSummand summand, float scale = 1f,
        bool accumulate = false, SumFinish finish = SumFinish.Scale)
        where TSummand : struct, ISummand
    {
        Require.Length(result, 1, nameof(result));
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), "count must not be negative.");

        // Never more first-pass threads than elements (but at least one, so that an empty sum is 0).
        int width = Math.Clamp(count, 1, _firstPassWidth);
        var partials = _scratch.View.SubView(0, width);
        PartialKernel<TSummand>()(width, partials, count, summand);

        if (width > FoldedPartials)
        {
            var folded = _scratch.View.SubView(_firstPassWidth, FoldedPartials);
            _fold.Value(FoldedPartials, folded, partials);
            partials = folded;
        }
        _finish.Value(1, result, partials, scale, accumulate ? 1 : 0, finish);
    }

    private Action<Index1D, ArrayView<float>, int, TSummand> PartialKernel<TSummand>()
        where TSummand : struct, ISummand
    {
        if (!_partialKernels.TryGetValue(typeof(TSummand), out var kernel))
        {
            kernel = _accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int,
                TSummand>(PartialSumsKernel);
            _partialKernels.Add(typeof(TSummand), kernel);
        }
        return (Action<Index1D, ArrayView<float>, int, TSummand>)kernel;
    }

    /// <summary>
    /// Pass 1: thread p sums summand.At(i) for i = p, p+P, p+2P, ... (P = partials.Length) into
    /// partials[p]. Kahan compensation keeps long float sums close to the exact value.
    /// </summary>
    public static void PartialSumsKernel<TSummand>(Index1D p, ArrayView<float> partials, int count, TSummand summand)
        where TSummand : struct, ISummand
    {
        int stride = (int)partials.Length;
        float sum = 0f;
        float compensation = 0f;
        for (int i = p; i < count; i += stride)
        {
            float term = summand.At(i) - compensation;
            float next = sum + term;
            compensation = (next - sum) - term;
            sum = next;
        }
        partials[p] = sum;
    }

    /// <summary>Pass 2: output[p] = sum of input[j] over j ≡ p (mod output.Length), in order of j.</summary>
    public static void FoldKernel(Index1D p, ArrayView<float> output, ArrayView<float> input)
    {
        int stride = (int)output.Length;
        float sum = 0f;
        for (long j = p; j < input.Length; j += stride)
            sum += input[j];
        output[p] = sum;
    }

    /// <summary>Pass 3, one thread: adds the partials in order, finishes, scales, stores or accumulates.</summary>
    public static void FinishKernel(Index1D index, ArrayView<float> result, ArrayView<float> partials,
        float scale, int accumulate, SumFinish finish)
    {
        float sum = 0f;
        for (long j = 0; j < partials.Length; j++)
            sum += partials[j];
        float value = scale * (finish == SumFinish.ScaleSqrt ? MathF.Sqrt(sum) : sum);
        result[0] = accumulate != 0 ? result[0] + value : value;
    }

    /// <inheritdoc/>
    public void Dispose() => _scratch.Dispose();
}
