namespace IlgpuStyle.Optimization;

/// <summary>How L-BFGS chooses the step length along its search direction.</summary>
public enum LineSearchKind
{
    /// <summary>
    /// No line search: step <see cref="LbfgsOptions.LearningRate"/> times the direction, one
    /// evaluation per iteration, the loss is not checked. This is jcjohnson/neural-style's default
    /// (torch <c>optim.lbfgs</c> with <c>lineSearch = nil</c>, <c>learningRate = 1</c>). It relies on
    /// the L-BFGS direction being well scaled, which the style objective's is.
    /// </summary>
    None,

    /// <summary>Backtracking until the loss decreases enough (Armijo's sufficient-decrease
    /// condition; Nocedal &amp; Wright Algorithm 3.1, with quadratic interpolation).</summary>
    Armijo,

    /// <summary>Sufficient decrease and the strong curvature condition (Nocedal &amp; Wright
    /// Algorithms 3.5 and 3.6). Guarantees y·s &gt; 0, so every curvature pair is usable.</summary>
    StrongWolfe,
}

/// <summary>Settings of <see cref="LbfgsOptimizer"/>.</summary>
public sealed record LbfgsOptions
{
    /// <summary>
    /// Curvature pairs (s, y) kept, m. Each pair is two device vectors of n floats, so the history
    /// takes <c>2 m n</c> floats. 100 is neural-style's default (<c>-lbfgs_num_correction</c>
    /// leaves torch's 100).
    /// </summary>
    public int HistorySize { get; init; } = 100;

    /// <summary>Iterations before stopping with <see cref="StopReason.MaxIterations"/>.</summary>
    public int MaxIterations { get; init; } = IOptimizer.DefaultMaxIterations;

    /// <summary>How the step length is chosen; see <see cref="LineSearchKind"/>.</summary>
    public LineSearchKind LineSearch { get; init; } = LineSearchKind.StrongWolfe;

    /// <summary>
    /// The first trial step along the L-BFGS direction (the whole step with
    /// <see cref="LineSearchKind.None"/>). On a steepest-descent iteration (the first, or after a
    /// history reset) it is scaled by <c>min(1, 1/|g|_1)</c> as torch's <c>optim.lbfgs</c> does,
    /// because -g carries the gradient's units rather than the variables'.
    /// </summary>
    public double LearningRate { get; init; } = 1;

    /// <summary>Stop with <see cref="StopReason.GradientTolerance"/> when <c>sum |g_i| &lt;=</c> this
    /// (torch's <c>tolFun</c>). A negative value disables the test.</summary>
    public double GradientTolerance { get; init; } = 1e-5;

    /// <summary>Stop with <see cref="StopReason.ChangeTolerance"/> when an iteration changes the
    /// loss by less than this, or moves x by <c>sum |s_i| &lt;=</c> this (torch's <c>tolX</c>).
    /// A negative value disables the test (neural-style disables both tolerances).</summary>
    public double ChangeTolerance { get; init; } = 1e-9;

    /// <summary>Sufficient-decrease constant c1 of the Armijo condition
    /// <c>f(x + t d) &lt;= f(x) + c1 t g·d</c> (Nocedal &amp; Wright eq. 3.4).</summary>
    public double SufficientDecrease { get; init; } = 1e-4;

    /// <summary>Curvature constant c2 of the strong Wolfe condition <c>|g(x + t d)·d| &lt;= c2 |g·d|</c>
    /// (eq. 3.7b); 0.9 is the usual choice for quasi-Newton methods.</summary>
    public double Curvature { get; init; } = 0.9;

    /// <summary>Evaluations one line search may make before it gives up.</summary>
    public int MaxLineSearchEvaluations { get; init; } = 25;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for settings no run can use.</summary>
    public void Validate()
    {
        if (HistorySize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(HistorySize), HistorySize,
                "L-BFGS needs at least one curvature pair.");
        }
        if (MaxIterations < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "must not be negative.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be positive and finite.");
        if (!(SufficientDecrease > 0 && SufficientDecrease < Curvature && Curvature < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Curvature), Curvature,
                "need 0 < SufficientDecrease < Curvature < 1 (Nocedal & Wright, Lemma 3.1).");
        }
        if (MaxLineSearchEvaluations < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLineSearchEvaluations), MaxLineSearchEvaluations,
                "must be at least 1.");
        }
    }
}
