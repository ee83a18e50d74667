using ILGPU;

namespace IlgpuStyle.Optimization;

/// <summary>
/// A differentiable function of n device-resident variables: the one interface every optimizer
/// minimizes (STYLE.md: one objective for every optimizer, like neural-style's <c>feval</c>).
/// </summary>
public interface IObjective
{
    /// <summary>Number of variables n.</summary>
    int Length { get; }

    /// <summary>
    /// Evaluates the function at <paramref name="x"/>: writes f(x) into <c>loss[0]</c> (a
    /// one-element device view) and the gradient into <paramref name="gradient"/> (n elements).
    /// It only enqueues work on the accelerator's stream; nothing is read back to the host, so the
    /// caller decides when (and whether) to synchronise.
    /// </summary>
    void Evaluate(ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> loss);
}
