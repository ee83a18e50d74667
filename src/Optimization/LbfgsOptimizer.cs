using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Optimization;

/// <summary>
/// Limited-memory BFGS (Nocedal &amp; Wright, "Numerical Optimization", 2nd ed., Algorithm 7.5)
/// with every vector on the device, including the history of curvature pairs.
/// </summary>
/// <remarks>
/// <para>Glossary: n variables; m = <see cref="LbfgsOptions.HistorySize"/>; k pairs currently held
/// (k &lt;= m). Pair i is <c>s_i = x_{i+1} - x_i</c> and <c>y_i = g_{i+1} - g_i</c>, stored as slot
/// i of two (m, n) row-major buffers; slots are used as a ring, oldest pair first.</para>
/// <para>What the host reads: the slope g·d of each new direction (is it downhill?), the loss and
/// the slope after each evaluation (the line search needs both), four scalars after each
/// iteration (y·s, y·y, |g|_1, |s|_1), and the dot products below, each group in one small copy.</para>
/// <para>The two-loop recursion costs the same number of launches and host reads whatever the
/// history holds ("vector-free" L-BFGS, Chen et al. 2014): every vector it forms is a combination
/// of the stored s_i, y_i and g, so it runs on the host on their dot products alone, in double
/// precision, and yields the direction's coefficients. The host keeps the dot products of every
/// stored pair with every other (s·s, s·y, y·y); a new pair adds one row of each (4 batched
/// <see cref="VectorOps.Dots"/> and one read), and each direction needs g against every s and y
/// (2 batched dots and one read). The direction is then one combination of g, the s and the y
/// (<see cref="VectorOps.CombineRows"/>). Per iteration: about 16 launches and 2 host reads
/// beside the line search's, for any history size; the arithmetic is still O(m n), in passes
/// over the history that each read it once.</para>
/// <para>The structure follows torch's <c>optim.lbfgs</c>, which jcjohnson/neural-style uses:
/// same first step, same tolerances, same fixed-step mode. Unlike torch, a direction that is not a
/// descent direction resets the history instead of ending the run.</para>
/// </remarks>
public sealed class LbfgsOptimizer : IOptimizer
{
    // A pair whose y·s is not above this is skipped: BFGS needs y·s > 0 to keep the inverse
    // Hessian approximation positive definite (N&W eq. 6.7). torch's optim.lbfgs uses 1e-10 too.
    private const float CurvatureThreshold = 1e-10f;

    // Slots of the device scalar block. Each run of slots read together is contiguous, so that
    // one small copy brings it to the host.
    private const int LossSlot = 0;        // f(x), written by the objective   | read after each evaluation
    private const int SlopeSlot = 1;       // g·d                               |
    private const int CurvatureSlot = 2;   // y·s                                  | read after each iteration
    private const int YySlot = 3;          // y·y                                  |
    private const int GradientL1Slot = 4;  // |g|_1                                |
    private const int StepL1Slot = 5;      // |s|_1                                |
    private const int ScalarCount = 6;

    // Blocks of m floats in the batched dot products' buffer.
    // The rows of S against (s_new, y_new, g), then the rows of Y against the same three.
    private const int SWithNewS = 0, SWithNewY = 1, SWithGradient = 2, YWithNewS = 3, YWithNewY = 4, YWithGradient = 5;
    private const int DotBlockCount = 6;

    private readonly VectorOps _vectors;
    private readonly IObjective _objective;
    private readonly LbfgsOptions _options;
    private readonly ArrayView<float> _x;           // (n) the variables, owned by the caller, updated in place
    private readonly int _n;
    private readonly int _m;

    private readonly MemoryBuffer1D<float, Stride1D.Dense> _gradient;     // (n) g at the current x
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _startX;       // (n) x at the start of the iteration
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _startGradient; // (n) g there
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _direction;    // (n) d; after a step, staging for y
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _q;            // (n) staging for s after a step
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _s;            // (m, n) s of slot i at [i*n, (i+1)*n)
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _y;            // (m, n) y likewise
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dots;         // (6m) batched dot products, blocks above
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dotScratch;   // the batched dots' partial sums
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _coefficients; // (2m) the direction's s and y coefficients
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scalars;      // (ScalarCount) see the slots above
    private readonly float[] _host = new float[ScalarCount];             // host copies of the slots read
    private readonly MemoryBuffer[] _buffers;                              // every buffer above, to count and free

    // The host side of the two-loop recursion, by ring slot (m x m row-major for the matrices).
    private readonly float[] _hostDots;      // (6m) host copy of _dots
    private readonly double[] _ss, _sy, _yy; // s_i·s_j, s_i·y_j, y_i·y_j
    private readonly double[] _sCoefficient, _yCoefficient, _alphaHost; // (m) the recursion's vector and alphas
    private readonly float[] _coefficientsHost; // (2m) s coefficients, then y coefficients
    private bool _gradientDotsFresh;            // _hostDots holds g·s_j and g·y_j for the current g
    private readonly Func<double, LinePoint> _line;

    private int _oldest;          // ring slot of the oldest pair
    private int _count;           // k, pairs held
    private int _iteration;
    private int _totalEvaluations;
    private float _loss;          // f at the current x
    private bool _started;
    private OptimizerStep _last;

    /// <summary>
    /// Allocates every device buffer the run needs (see <see cref="RequiredBytes"/>); no step
    /// allocates. Nothing is evaluated until <see cref="Start"/> or <see cref="Step"/>.
    /// </summary>
    /// <param name="kernels">The loaded kernels; their accelerator holds every buffer.</param>
    /// <param name="objective">The function to minimize; its length must equal x's.</param>
    /// <param name="x">The initial point, updated in place; the caller keeps owning it.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    public LbfgsOptimizer(KernelSet kernels, IObjective objective, ArrayView<float> x, LbfgsOptions? options = null)
    {
        _options = options ?? new LbfgsOptions();
        _options.Validate();
        if (objective.Length <= 0) throw new ArgumentException("The objective has no variables.", nameof(objective));
        Require.Length(x, objective.Length, nameof(x));

        _vectors = kernels.Vectors;
        _objective = objective;
        _x = x;
        _n = objective.Length;
        _m = _options.HistorySize;

        var accelerator = kernels.Accelerator;
        _gradient = accelerator.Allocate1D<float>(_n);
        _startX = accelerator.Allocate1D<float>(_n);
        _startGradient = accelerator.Allocate1D<float>(_n);
        _direction = accelerator.Allocate1D<float>(_n);
        _q = accelerator.Allocate1D<float>(_n);
        _s = accelerator.Allocate1D<float>((long)_m * _n);
        _y = accelerator.Allocate1D<float>((long)_m * _n);
        _dots = accelerator.Allocate1D<float>(DotBlockCount * _m);
        _dotScratch = accelerator.Allocate1D<float>(VectorOps.DotsScratchLength(_m));
        _coefficients = accelerator.Allocate1D<float>(2 * _m);
        _scalars = accelerator.Allocate1D<float>(ScalarCount);
        _buffers = [_gradient, _startX, _startGradient, _direction, _q, _s, _y, _dots, _dotScratch, _coefficients,
            _scalars];
        _hostDots = new float[DotBlockCount * _m];
        _ss = new double[_m * _m];
        _sy = new double[_m * _m];
        _yy = new double[_m * _m];
        _sCoefficient = new double[_m];
        _yCoefficient = new double[_m];
        _alphaHost = new double[_m];
        _coefficientsHost = new float[2 * _m];
        _line = EvaluateAlongDirection;
    }

    /// <summary>Device bytes the optimizer allocates for n variables (x itself not included), so a
    /// caller can check the device's memory before starting.</summary>
    public static long RequiredBytes(int n, int historySize) =>
        sizeof(float) * ((5L + 2L * historySize) * n + (DotBlockCount + 2L) * historySize +
                         VectorOps.DotsScratchLength(historySize) + ScalarCount);

    /// <summary>Curvature pairs currently held (k).</summary>
    public int HistoryCount => _count;

    /// <summary>How many times a non-descent direction or a failed line search emptied the history.</summary>
    public int HistoryResets { get; private set; }

    /// <inheritdoc/>
    public OptimizerStep Start()
    {
        if (_started) return _last;
        _started = true;

        _objective.Evaluate(_x, _gradient.View, Scalar(LossSlot));
        _vectors.L1Norm(Scalar(GradientL1Slot), _gradient.View);
        Read(LossSlot, 1);
        Read(GradientL1Slot, 1);
        _totalEvaluations = 1;
        _loss = _host[LossSlot];

        float gradientL1 = _host[GradientL1Slot];
        var stop = !float.IsFinite(_loss) || !float.IsFinite(gradientL1) ? StopReason.NonFinite
            : gradientL1 <= _options.GradientTolerance ? StopReason.GradientTolerance
            : _options.MaxIterations == 0 ? StopReason.MaxIterations
            : StopReason.None;
        _last = new OptimizerStep(0, _loss, 1, 1, stop);
        return _last;
    }

    /// <inheritdoc/>
    public OptimizerStep Step()
    {
        if (!_started) Start();
        if (_last.Stopped) return _last;

        _iteration++;
        int before = _totalEvaluations;
        float previousLoss = _loss;
        float gradientL1 = _host[GradientL1Slot];
        _vectors.Copy(_startX.View, _x);
        _vectors.Copy(_startGradient.View, _gradient.View);

        // At most two passes: the L-BFGS direction, then steepest descent if that direction was
        // unusable (not downhill, or no acceptable step along it).
        LineSearchResult search;
        while (true)
        {
            ComputeDirection();
            _vectors.Dot(Scalar(SlopeSlot), _gradient.View, _direction.View);
            Read(SlopeSlot, 1);
            float slope = _host[SlopeSlot];
            if (!float.IsFinite(slope)) return Finish(before, StopReason.NonFinite);
            if (slope >= 0)
            {
                // d = -H g with H positive definite is always downhill; rounding (or a corrupted
                // pair) can break that. Forget the history: -g is downhill unless g = 0.
                if (_count > 0)
                {
                    ResetHistory();
                    continue;
                }
                return Finish(before, StopReason.GradientTolerance);
            }

            // -g has the gradient's scale, not the variables': torch scales the first step by
            // min(1, 1/|g|_1), and so do we on every steepest-descent step.
            double step = _options.LearningRate * (_count == 0 ? Math.Min(1.0, 1.0 / gradientL1) : 1.0);
            search = Search(new LinePoint(0, _loss, slope), step);
            if (search.Found) break;

            // No acceptable step: go back to the start of the iteration.
            _vectors.Copy(_x, _startX.View);
            _vectors.Copy(_gradient.View, _startGradient.View);
            if (_count > 0)
            {
                ResetHistory();
                continue;
            }
            // Not even along -g: x is a minimum to float precision (or the objective is broken).
            // Evaluate once more so that the objective's last evaluation is at x again.
            _line(0);
            return Finish(before, StopReason.LineSearchFailed);
        }

        // Only the fixed step can land on a NaN loss (the searches reject such points); a NaN
        // gradient can follow any step. Either way go back to the last finite point.
        if (!float.IsFinite((float)search.Point.Loss)) return RestoreStart(before);
        UpdateHistory();
        gradientL1 = _host[GradientL1Slot];
        if (!float.IsFinite(gradientL1)) return RestoreStart(before);

        _loss = (float)search.Point.Loss;
        var stop = _iteration >= _options.MaxIterations ? StopReason.MaxIterations
            : gradientL1 <= _options.GradientTolerance ? StopReason.GradientTolerance
            : Math.Abs(_loss - previousLoss) < _options.ChangeTolerance || _host[StepL1Slot] <= _options.ChangeTolerance
                ? StopReason.ChangeTolerance
            : StopReason.None;
        return Finish(before, stop);
    }

    /// <summary>
    /// Test hook: stores (s, y) as the newest pair without the y·s &gt; 0 check, to provoke a
    /// non-descent direction (e.g. y = -s makes H = -I). Not for use in a run.
    /// </summary>
    internal void InjectCurvaturePair(float[] s, float[] y)
    {
        Require.Length(s, _n, nameof(s));
        Require.Length(y, _n, nameof(y));
        _q.View.CopyFromCPU(s);
        _direction.View.CopyFromCPU(y);
        _vectors.Dot(Scalar(CurvatureSlot), _direction.View, _q.View);
        _vectors.Dot(Scalar(YySlot), _direction.View, _direction.View);
        StorePair();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
    }

    /// <inheritdoc/>
    public long DeviceBytes => _buffers.Sum(b => b.LengthInBytes);

    // ------------------------------------------------------------------ the two-loop recursion

    /// <summary>
    /// d = -H g by the two-loop recursion (Nocedal &amp; Wright Algorithm 7.4), newest pair first in
    /// the first loop and oldest first in the second. Starting from q = -g instead of g gives -H g
    /// directly (the recursion is linear in q), as torch does. With no pairs, d = -g.
    /// </summary>
    /// <remarks>
    /// q and r are never formed: they are kept as coefficients of g and of the stored s_j and y_j
    /// (starting from q = -g), and every dot product the recursion needs is a combination of the
    /// known dot products (s_i·q = sum_j cs_j s_i·s_j + cy_j s_i·y_j + cg s_i·g). Slots [0, k) are
    /// the stored pairs: the ring starts at slot 0 until it is full.
    /// </remarks>
    private void ComputeDirection()
    {
        var d = _direction.View;
        if (_count == 0)
        {
            _vectors.LinearCombination(d, -1f, _gradient.View, 0f, d, 0f);
            return;
        }
        int k = _count, m = _m;
        if (!_gradientDotsFresh)
        {
            // The pair stored last did not bring g's dot products along (it was refused, or g moved since).
            _vectors.Dots(DotBlocks(SWithGradient, 1), m, _s.View, k, new DotVectors(_gradient.View), _dotScratch.View);
            _vectors.Dots(DotBlocks(YWithGradient, 1), m, _y.View, k, new DotVectors(_gradient.View), _dotScratch.View);
            _dots.View.AsContiguous().CopyToCPU(_hostDots.AsSpan());
            _gradientDotsFresh = true;
        }

        Array.Clear(_sCoefficient);
        Array.Clear(_yCoefficient);
        double g = -1;

        // First loop, i = k-1 ... 0: alpha_i = rho_i s_i·q; q = q - alpha_i y_i.
        for (int j = k - 1; j >= 0; j--)
        {
            int i = Slot(j);
            double sq = g * _hostDots[SWithGradient * m + i];
            for (int l = 0; l < k; l++) sq += _sCoefficient[l] * _ss[i * m + l] + _yCoefficient[l] * _sy[i * m + l];
            _alphaHost[i] = sq / _sy[i * m + i];
            _yCoefficient[i] -= _alphaHost[i];
        }

        // r = H0 q with H0 = gamma I, gamma = s·y / y·y of the newest pair (eq. 7.20).
        int newest = Slot(k - 1);
        double gamma = _sy[newest * m + newest] / _yy[newest * m + newest];
        g *= gamma;
        for (int l = 0; l < k; l++)
        {
            _sCoefficient[l] *= gamma;
            _yCoefficient[l] *= gamma;
        }

        // Second loop, i = 0 ... k-1: beta = rho_i y_i·r; r = r + (alpha_i - beta) s_i.
        for (int j = 0; j < k; j++)
        {
            int i = Slot(j);
            double yr = g * _hostDots[YWithGradient * m + i];
            for (int l = 0; l < k; l++) yr += _sCoefficient[l] * _sy[l * m + i] + _yCoefficient[l] * _yy[i * m + l];
            _sCoefficient[i] += _alphaHost[i] - yr / _sy[i * m + i];
        }

        for (int l = 0; l < k; l++)
        {
            _coefficientsHost[l] = (float)_sCoefficient[l];
            _coefficientsHost[m + l] = (float)_yCoefficient[l];
        }
        _coefficients.View.CopyFromCPU(_coefficientsHost);
        _vectors.LinearCombination(d, (float)g, _gradient.View, 0f, d, 0f);
        _vectors.CombineRows(d, _s.View, _coefficients.View.SubView(0, m), k, accumulate: true);
        _vectors.CombineRows(d, _y.View, _coefficients.View.SubView(m, m), k, accumulate: true);
    }

    /// <summary>
    /// After a step: forms s = x - x_start and y = g - g_start (staged in q and d, which the next
    /// direction overwrites anyway), reads y·s and the norms the stopping tests need, and keeps the
    /// pair only if y·s shows positive curvature.
    /// </summary>
    private void UpdateHistory()
    {
        var s = _q.View;
        var y = _direction.View;
        _vectors.Subtract(s, _x, _startX.View);
        _vectors.Subtract(y, _gradient.View, _startGradient.View);
        _vectors.Dot(Scalar(CurvatureSlot), y, s);
        _vectors.Dot(Scalar(YySlot), y, y);
        _vectors.L1Norm(Scalar(GradientL1Slot), _gradient.View);
        _vectors.L1Norm(Scalar(StepL1Slot), s);
        Read(CurvatureSlot, 4);
        float curvature = _host[CurvatureSlot];
        if (float.IsFinite(curvature) && curvature > CurvatureThreshold && float.IsFinite(_host[YySlot])) StorePair();
    }

    /// <summary>Stores the staged pair (s in q, y in d; y·s and y·y in their slots) as the newest,
    /// overwriting the oldest when the history is full; its dot products with the stored pairs (and
    /// g's) go to the host matrices the two-loop recursion reads.</summary>
    private void StorePair()
    {
        int slot;
        if (_count < _m)
        {
            slot = (_oldest + _count) % _m;
            _count++;
        }
        else
        {
            slot = _oldest;
            _oldest = (_oldest + 1) % _m;
        }
        _vectors.Copy(S(slot), _q.View);
        _vectors.Copy(Y(slot), _direction.View);

        // The new pair's dot products with every stored pair (itself included): one row and one
        // column of each host matrix. Slots [0, k) hold the pairs (see ComputeDirection).
        int k = _count, m = _m;
        // g (the gradient the next direction starts from) rides along: one pass over S, one over Y.
        var vectors = new DotVectors(S(slot), Y(slot), _gradient.View);
        _vectors.Dots(DotBlocks(SWithNewS, 3), m, _s.View, k, vectors, _dotScratch.View);
        _vectors.Dots(DotBlocks(YWithNewS, 3), m, _y.View, k, vectors, _dotScratch.View);
        _dots.View.AsContiguous().CopyToCPU(_hostDots.AsSpan());
        _gradientDotsFresh = true;
        for (int j = 0; j < k; j++)
        {
            _ss[slot * m + j] = _ss[j * m + slot] = _hostDots[SWithNewS * m + j];
            _sy[j * m + slot] = _hostDots[SWithNewY * m + j]; // s_j·y_new
            _sy[slot * m + j] = _hostDots[YWithNewS * m + j]; // s_new·y_j
            _yy[slot * m + j] = _yy[j * m + slot] = _hostDots[YWithNewY * m + j];
        }
    }

    private void ResetHistory()
    {
        _count = 0;
        _oldest = 0;
        _gradientDotsFresh = false;
        HistoryResets++;
    }

    // ------------------------------------------------------------------ line search

    private LineSearchResult Search(LinePoint start, double step) => _options.LineSearch switch
    {
        LineSearchKind.Armijo => LineSearch.Armijo(
            _line, start, step, _options.SufficientDecrease, _options.MaxLineSearchEvaluations),
        LineSearchKind.StrongWolfe => LineSearch.StrongWolfe(_line, start, step, _options.SufficientDecrease,
            _options.Curvature, _options.MaxLineSearchEvaluations),
        // Fixed step: take it whatever the loss does (torch's lineSearch = nil).
        _ => new LineSearchResult(true, _line(step), 1),
    };

    /// <summary>phi(t): sets x = x_start + t d, evaluates f and g there, and reads f and g·d.</summary>
    private LinePoint EvaluateAlongDirection(double t)
    {
        _vectors.LinearCombination(_x, 1f, _startX.View, (float)t, _direction.View, 0f);
        _objective.Evaluate(_x, _gradient.View, Scalar(LossSlot));
        _gradientDotsFresh = false;
        _vectors.Dot(Scalar(SlopeSlot), _gradient.View, _direction.View);
        Read(LossSlot, 2);
        _totalEvaluations++;
        return new LinePoint(t, _host[LossSlot], _host[SlopeSlot]);
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Moves x back to the start of the iteration (where loss and gradient were finite),
    /// evaluates there so that the objective's last evaluation is at x, and stops.</summary>
    private OptimizerStep RestoreStart(int evaluationsBefore)
    {
        _vectors.Copy(_x, _startX.View);
        _line(0);
        return Finish(evaluationsBefore, StopReason.NonFinite);
    }

    private OptimizerStep Finish(int evaluationsBefore, StopReason stop)
    {
        _last = new OptimizerStep(_iteration, _loss, _totalEvaluations - evaluationsBefore, _totalEvaluations, stop);
        return _last;
    }

    /// <summary>Ring slot of pair j, counting from the oldest (j = 0).</summary>
    private int Slot(int j) => (_oldest + j) % _m;

    private ArrayView<float> S(int slot) => _s.View.SubView((long)slot * _n, _n);

    private ArrayView<float> Y(int slot) => _y.View.SubView((long)slot * _n, _n);

    private ArrayView<float> Scalar(int slot) => _scalars.View.SubView(slot, 1);

    private ArrayView<float> DotBlocks(int first, int count) => _dots.View.SubView((long)first * _m, (long)count * _m);

    /// <summary>Waits for the device and copies scalar slots [first, first + count) to the host.</summary>
    private void Read(int first, int count) =>
        _scalars.View.SubView(first, count).AsContiguous().CopyToCPU(_host.AsSpan(first, count));
}
