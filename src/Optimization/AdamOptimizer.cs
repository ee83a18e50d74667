using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Optimization;

/// <summary>
/// Adam (Kingma &amp; Ba 2015, Algorithm 1) on the device: one evaluation and one fused update
/// (<see cref="AdamUpdate"/>) per iteration; the host reads only the loss.
/// </summary>
/// <remarks>
/// <para>Glossary: n variables; m and v are the first- and second-moment estimates, (n) each,
/// starting at zero. Iteration t updates x with the gradient at the current point and then
/// evaluates the new point, so the loss it reports is the loss after the update, and the gradient
/// the next iteration needs is already on the device.</para>
/// <para>A coarse-to-fine run continues Adam at the next scale (<see cref="ContinueFrom"/>): the
/// moments are enlarged with the image and Adam's step count t goes on, so the bias corrections
/// do not start over and the first steps at the new scale are as cautious as the last ones at the
/// old scale, instead of moving every pixel by a full learning rate as a fresh start would.</para>
/// </remarks>
public sealed class AdamOptimizer : IOptimizer
{
    private readonly KernelSet _kernels;
    private readonly VectorOps _vectors;
    private readonly AdamUpdate _update;
    private readonly IObjective _objective;
    private readonly AdamOptions _options;
    private readonly ArrayView<float> _x;                            // (n) updated in place, owned by the caller
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _previous; // (n) x before the last update
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gradient; // (n) g at the current x
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _m;        // (n) first moment
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _v;        // (n) second moment
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss;     // (1) f at the current x
    private readonly float[] _host = new float[1];
    private readonly MemoryBuffer[] _buffers;                         // every buffer above, to count and free

    private int _iteration;   // iterations of this optimizer, what MaxIterations counts
    private int _step;        // Adam's t: also counts the steps of the optimizer continued from
    private int _totalEvaluations;
    private bool _started;
    private OptimizerStep _last;

    /// <summary>Allocates the moments and the gradient once.</summary>
    /// <param name="kernels">The loaded kernels; their accelerator holds every buffer.</param>
    /// <param name="objective">The function to minimize; its length must equal x's.</param>
    /// <param name="x">The initial point, updated in place; the caller keeps owning it.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    public AdamOptimizer(KernelSet kernels, IObjective objective, ArrayView<float> x, AdamOptions? options = null)
    {
        _options = options ?? new AdamOptions();
        _options.Validate();
        if (objective.Length <= 0) throw new ArgumentException("The objective has no variables.", nameof(objective));
        Require.Length(x, objective.Length, nameof(x));

        _kernels = kernels;
        _vectors = kernels.Vectors;
        _update = kernels.Adam;
        _objective = objective;
        _x = x;
        var accelerator = kernels.Accelerator;
        _gradient = accelerator.Allocate1D<float>(x.Length);
        _m = accelerator.Allocate1D<float>(x.Length);
        _v = accelerator.Allocate1D<float>(x.Length);
        _loss = accelerator.Allocate1D<float>(1);
        _previous = accelerator.Allocate1D<float>(x.Length);
        _buffers = [_gradient, _m, _v, _loss, _previous];
        _vectors.Fill(_m.View, 0f);
        _vectors.Fill(_v.View, 0f);
    }

    /// <summary>Adam's step count t: the steps taken, including those of the optimizers this one continued.</summary>
    public int StepCount => _step;

    /// <summary>
    /// Takes over the state of <paramref name="previous"/>, which optimized the same kind of image
    /// at a smaller size, before this optimizer's first evaluation: the first moment is enlarged
    /// bicubic (it is a smoothed gradient, signed), the second moment bilinear with a floor at 0 (it
    /// estimates squares, which must stay non-negative; bilinear weights never go negative, the
    /// floor only guards against float noise), and the step count is kept.
    /// </summary>
    /// <param name="previous">The optimizer of the previous scale; only read, the caller disposes it.</param>
    /// <param name="previousShape">Its image's (C, h, w); <c>C*h*w</c> must be its length.</param>
    /// <param name="shape">This optimizer's image's (C, H, W), no smaller in either direction.</param>
    public void ContinueFrom(AdamOptimizer previous, ChwShape previousShape, ChwShape shape)
    {
        if (_started)
            throw new InvalidOperationException("Adam can take over a previous state only before its first step.");
        Require.Length<float>(previous._m.View, previousShape.Length, nameof(previousShape));
        Require.Length<float>(_m.View, shape.Length, nameof(shape));
        var upsample = _kernels.Upsample;
        upsample.Forward(_m.View, previous._m.View, shape, previousShape, UpsampleFilter.Bicubic);
        upsample.Forward(_v.View, previous._v.View, shape, previousShape, UpsampleFilter.Bilinear, low: 0f);
        _step = previous._step;
    }

    /// <summary>Device bytes the optimizer allocates for n variables (x itself not included).</summary>
    public static long RequiredBytes(int n) => sizeof(float) * (4L * n + 1);

    /// <inheritdoc/>
    public OptimizerStep Start()
    {
        if (_started) return _last;
        _started = true;
        float loss = Evaluate();
        var stop = !float.IsFinite(loss) ? StopReason.NonFinite
            : _options.MaxIterations == 0 ? StopReason.MaxIterations
            : StopReason.None;
        _last = new OptimizerStep(0, loss, 1, _totalEvaluations, stop);
        return _last;
    }

    /// <inheritdoc/>
    public OptimizerStep Step()
    {
        if (!_started) Start();
        if (_last.Stopped) return _last;

        _iteration++;
        _step++;
        var parameters = AdamParameters.ForStep(_step, _options.LearningRate, _options.Beta1, _options.Beta2,
            _options.Epsilon);
        _vectors.Copy(_previous.View, _x);
        _update.Update(_x, _m.View, _v.View, _gradient.View, parameters);
        float loss = Evaluate();
        if (!float.IsFinite(loss))
        {
            // Go back to the last point with a finite loss and evaluate there, so that the caller
            // keeps a usable image and the objective's last evaluation is at x again.
            _vectors.Copy(_x, _previous.View);
            loss = Evaluate();
            _last = new OptimizerStep(_iteration, loss, 2, _totalEvaluations, StopReason.NonFinite);
            return _last;
        }
        var stop = _iteration >= _options.MaxIterations ? StopReason.MaxIterations : StopReason.None;
        _last = new OptimizerStep(_iteration, loss, 1, _totalEvaluations, stop);
        return _last;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
    }

    /// <inheritdoc/>
    public long DeviceBytes => _buffers.Sum(b => b.LengthInBytes);

    /// <summary>f and g at the current x; reads f (one float) to the host.</summary>
    private float Evaluate()
    {
        _objective.Evaluate(_x, _gradient.View, _loss.View);
        _loss.View.AsContiguous().CopyToCPU(_host.AsSpan());
        _totalEvaluations++;
        return _host[0];
    }
}
