namespace IlgpuStyle.Optimization;

/// <summary>
/// One point on the search line <c>phi(t) = f(x0 + t d)</c>: the step t, the loss there and the
/// slope <c>phi'(t) = g(x0 + t d)·d</c>.
/// </summary>
/// <param name="Step">t.</param>
/// <param name="Loss">phi(t).</param>
/// <param name="Slope">phi'(t), the directional derivative along d.</param>
public readonly record struct LinePoint(double Step, double Loss, double Slope);

/// <summary>The outcome of a line search.</summary>
/// <param name="Found">Whether an acceptable step was found. When it was, the last evaluation the
/// search made was at <see cref="Point"/>, so the device holds x, f and g of that point.</param>
/// <param name="Point">The accepted point (meaningless when not found).</param>
/// <param name="Evaluations">Evaluations of phi made.</param>
public readonly record struct LineSearchResult(bool Found, LinePoint Point, int Evaluations);

/// <summary>
/// Step-length searches along a descent direction, on the host. They see the objective only as
/// <c>phi(t)</c>, which the optimizer evaluates on the device and answers with two scalars (loss
/// and slope), so the searches are plain scalar code and can be tested on plain functions.
/// </summary>
public static class LineSearch
{
    /// <summary>
    /// Backtracking line search (Nocedal &amp; Wright Algorithm 3.1): try
    /// <paramref name="initialStep"/>, and while the Armijo condition
    /// <c>phi(t) &lt;= phi(0) + c1 t phi'(0)</c> fails, shrink t to the minimizer of the quadratic
    /// through phi(0), phi'(0), phi(t) (eq. 3.58), kept within [0.1 t, 0.5 t] so that it neither
    /// stalls nor collapses. A NaN or infinite loss counts as "too far".
    /// </summary>
    /// <param name="phi">Evaluates the line at a step.</param>
    /// <param name="start">phi at t = 0; its slope must be negative.</param>
    /// <param name="initialStep">The first trial step.</param>
    /// <param name="c1">Sufficient-decrease constant, in (0, 1).</param>
    /// <param name="maxEvaluations">Evaluations before giving up.</param>
    public static LineSearchResult Armijo(Func<double, LinePoint> phi, LinePoint start, double initialStep,
        double c1, int maxEvaluations)
    {
        double t = initialStep;
        for (int evaluations = 1; evaluations <= maxEvaluations; evaluations++)
        {
            var p = phi(t);
            if (SufficientDecrease(p, start, c1)) return new(true, p, evaluations);

            double shrunk = 0.5 * t;
            if (double.IsFinite(p.Loss))
            {
                // phi(t) ~ phi(0) + phi'(0) t + a t^2 with a fitted to phi(t); its minimizer:
                double curvature = p.Loss - start.Loss - start.Slope * t;
                double minimizer = -start.Slope * t * t / (2 * curvature);
                if (double.IsFinite(minimizer)) shrunk = Math.Clamp(minimizer, 0.1 * t, 0.5 * t);
            }
            t = shrunk;
        }
        return new(false, start, maxEvaluations);
    }

    /// <summary>
    /// Line search for the strong Wolfe conditions (Nocedal &amp; Wright Algorithm 3.5, with the
    /// zoom of Algorithm 3.6): sufficient decrease <c>phi(t) &lt;= phi(0) + c1 t phi'(0)</c> and
    /// curvature <c>|phi'(t)| &lt;= c2 |phi'(0)|</c> (eq. 3.7). The first phase grows t until it
    /// brackets an acceptable step; zoom then shrinks the bracket [lo, hi] by safeguarded cubic
    /// interpolation, keeping lo the lowest point that satisfies sufficient decrease.
    /// </summary>
    /// <remarks>
    /// If the evaluations run out inside zoom, the best point found (lo) is accepted when it
    /// decreases the loss sufficiently; it is evaluated once more if it was not the last evaluation,
    /// so that the device again holds its gradient. So at most <paramref name="maxEvaluations"/> + 1.
    /// </remarks>
    /// <param name="phi">Evaluates the line at a step.</param>
    /// <param name="start">phi at t = 0; its slope must be negative.</param>
    /// <param name="initialStep">The first trial step (1 for quasi-Newton directions).</param>
    /// <param name="c1">Sufficient-decrease constant.</param>
    /// <param name="c2">Curvature constant, c1 &lt; c2 &lt; 1.</param>
    /// <param name="maxEvaluations">Evaluations before giving up.</param>
    public static LineSearchResult StrongWolfe(Func<double, LinePoint> phi, LinePoint start, double initialStep,
        double c1, double c2, int maxEvaluations)
    {
        var previous = start;
        double t = initialStep;
        int evaluations = 0;
        while (evaluations < maxEvaluations)
        {
            var p = phi(t);
            evaluations++;
            // Too far: the loss rose above the Armijo line, or above the previous trial. An
            // acceptable step lies between the previous trial and this one.
            if (!SufficientDecrease(p, start, c1) || (evaluations > 1 && p.Loss >= previous.Loss))
                return Zoom(phi, start, previous, p, c1, c2, maxEvaluations, evaluations, lastEvaluated: p.Step);
            if (Math.Abs(p.Slope) <= -c2 * start.Slope) return new(true, p, evaluations);
            // The slope turned positive: the minimum along the line is behind us.
            if (p.Slope >= 0)
                return Zoom(phi, start, p, previous, c1, c2, maxEvaluations, evaluations, lastEvaluated: p.Step);

            // Still going down steeply: extrapolate, at least doubling and at most ten times t.
            double next = CubicMinimizer(previous, p);
            next = double.IsFinite(next) ? Math.Clamp(next, 2 * t, 10 * t) : 4 * t;
            previous = p;
            t = next;
        }
        return previous.Step > 0
            ? new(true, previous, evaluations)  // every trial so far decreased the loss; the last is best
            : new(false, start, evaluations);
    }

    /// <summary>Algorithm 3.6. Invariants: lo satisfies sufficient decrease and has the lowest loss
    /// seen; phi'(lo) (hi - lo) &lt; 0, so an acceptable step lies between them.</summary>
    private static LineSearchResult Zoom(Func<double, LinePoint> phi, LinePoint start, LinePoint lo, LinePoint hi,
        double c1, double c2, int maxEvaluations, int evaluations, double lastEvaluated)
    {
        while (evaluations < maxEvaluations)
        {
            double a = Math.Min(lo.Step, hi.Step), b = Math.Max(lo.Step, hi.Step), width = b - a;
            // The bracket has shrunk to float resolution of t: no further progress is possible.
            if (width <= 1e-7 * b) break;

            // Cubic through both ends, kept away from them so that the bracket shrinks by at least
            // a tenth each time; bisection when the cubic has no minimizer or a NaN end.
            double t = CubicMinimizer(lo, hi);
            t = double.IsFinite(t) ? Math.Clamp(t, a + 0.1 * width, b - 0.1 * width) : a + 0.5 * width;

            var p = phi(t);
            evaluations++;
            lastEvaluated = t;
            if (!SufficientDecrease(p, start, c1) || p.Loss >= lo.Loss)
            {
                hi = p;
            }
            else
            {
                if (Math.Abs(p.Slope) <= -c2 * start.Slope) return new(true, p, evaluations);
                if (p.Slope * (hi.Step - lo.Step) >= 0) hi = lo;
                lo = p;
            }
        }

        if (lo.Step <= 0) return new(false, start, evaluations);
        if (lastEvaluated != lo.Step)
        {
            lo = phi(lo.Step);
            evaluations++;
        }
        return new(true, lo, evaluations);
    }

    /// <summary>Armijo's condition (Nocedal &amp; Wright eq. 3.4); false for a NaN or infinite loss.</summary>
    private static bool SufficientDecrease(LinePoint p, LinePoint start, double c1) =>
        double.IsFinite(p.Loss) && p.Loss <= start.Loss + c1 * p.Step * start.Slope;

    /// <summary>
    /// Minimizer of the cubic that matches phi and phi' at two points (Nocedal &amp; Wright
    /// eq. 3.59); NaN when the cubic has none (or an end is not finite).
    /// </summary>
    public static double CubicMinimizer(LinePoint p0, LinePoint p1)
    {
        double d1 = p0.Slope + p1.Slope - 3 * (p0.Loss - p1.Loss) / (p0.Step - p1.Step);
        double discriminant = d1 * d1 - p0.Slope * p1.Slope;
        if (!(discriminant >= 0)) return double.NaN;
        double d2 = Math.Sign(p1.Step - p0.Step) * Math.Sqrt(discriminant);
        return p1.Step - (p1.Step - p0.Step) * (p1.Slope + d2 - d1) / (p1.Slope - p0.Slope + 2 * d2);
    }
}
