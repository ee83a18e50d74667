namespace IlgpuStyle.Optimization;

/// <summary>Why an optimizer stopped (or <see cref="None"/> while it can go on).</summary>
public enum StopReason
{
    /// <summary>Not stopped: <see cref="IOptimizer.Step"/> may be called again.</summary>
    None,

    /// <summary>The configured number of iterations is done.</summary>
    MaxIterations,

    /// <summary>The gradient's L1 norm fell to the gradient tolerance (a stationary point).</summary>
    GradientTolerance,

    /// <summary>The loss, or the point, changed by less than the change tolerance in one iteration.</summary>
    ChangeTolerance,

    /// <summary>No step along steepest descent decreased the loss (x is left at the best point found,
    /// which is where the loss stops changing in float precision).</summary>
    LineSearchFailed,

    /// <summary>The loss or the gradient became NaN or infinite. x is moved back to the last point
    /// where the loss was finite (L-BFGS: where loss and gradient were), and the step reports the
    /// loss there.</summary>
    NonFinite,
}

/// <summary>What one call of <see cref="IOptimizer.Start"/> or <see cref="IOptimizer.Step"/> did.</summary>
/// <param name="Iteration">Iterations completed so far: 0 for the initial point.</param>
/// <param name="Loss">The objective at the current x (after this iteration), read from the device.</param>
/// <param name="Evaluations">Objective evaluations this call made (a line search may make several).</param>
/// <param name="TotalEvaluations">Objective evaluations since construction.</param>
/// <param name="Stop">Why the optimizer stopped, or <see cref="StopReason.None"/>.</param>
public readonly record struct OptimizerStep(
    int Iteration, float Loss, int Evaluations, int TotalEvaluations, StopReason Stop)
{
    /// <summary>Whether the optimizer has stopped; further steps do nothing.</summary>
    public bool Stopped => Stop != StopReason.None;
}

/// <summary>
/// An optimizer run one iteration at a time, so that the caller can report progress and save
/// snapshots between iterations. It minimizes an <see cref="IObjective"/> over a device vector x
/// that it updates in place.
/// </summary>
/// <remarks>
/// After <see cref="Start"/> or <see cref="Step"/> returns, the objective's most recent evaluation
/// was at the current x, so per-term losses the objective recorded belong to the reported loss.
/// </remarks>
public interface IOptimizer : IDisposable
{
    /// <summary>
    /// Iterations an optimizer runs unless told otherwise (neural-style's <c>-num_iterations</c>):
    /// the default of <see cref="LbfgsOptions.MaxIterations"/> and <see cref="AdamOptions.MaxIterations"/>.
    /// </summary>
    const int DefaultMaxIterations = 1000;

    /// <summary>Device bytes the optimizer holds (x, which the caller owns, not included): what it allocated, as
    /// its <c>RequiredBytes</c> states it beforehand.</summary>
    long DeviceBytes { get; }

    /// <summary>
    /// Evaluates the objective at the initial x and returns iteration 0 (the loss a run reports
    /// before optimizing). Only the first call evaluates; later calls return the same result.
    /// <see cref="Step"/> calls it when the caller has not.
    /// </summary>
    OptimizerStep Start();

    /// <summary>
    /// Performs one iteration (one or more objective evaluations) and returns the loss at the new
    /// x. Once <see cref="OptimizerStep.Stopped"/> is true, returns that same result without work.
    /// </summary>
    OptimizerStep Step();
}
