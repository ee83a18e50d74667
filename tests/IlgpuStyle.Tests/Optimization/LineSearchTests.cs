using IlgpuStyle.Optimization;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>The line searches on plain one-dimensional functions (no device needed).</summary>
public sealed class LineSearchTests
{
    // phi(t) = (t - 3)^2 / 2 + t^4 / 100: minimum near t = 2.5; phi'(0) = -3.
    private static LinePoint Quartic(double t) =>
        new(t, (t - 3) * (t - 3) / 2 + t * t * t * t / 100, (t - 3) + t * t * t / 25);

    [TestCase(1.0)]     // too short: extrapolates
    [TestCase(0.001)]   // far too short
    [TestCase(50.0)]    // far too long: zooms back
    public void StrongWolfeReturnsAPointSatisfyingBothConditions(double initialStep)
    {
        var start = Quartic(0);
        int calls = 0;
        double last = double.NaN;
        var result = LineSearch.StrongWolfe(t => { calls++; last = t; return Quartic(t); },
            start, initialStep, 1e-4, 0.9, 25);

        Assert.That(result.Found, Is.True);
        Assert.That(result.Point.Loss, Is.LessThanOrEqualTo(start.Loss + 1e-4 * result.Point.Step * start.Slope));
        Assert.That(Math.Abs(result.Point.Slope), Is.LessThanOrEqualTo(0.9 * Math.Abs(start.Slope)));
        Assert.That(result.Evaluations, Is.EqualTo(calls));
        Assert.That(last, Is.EqualTo(result.Point.Step), "the last evaluation is at the accepted point");
    }

    [Test]
    public void StrongWolfeWithATightCurvatureConditionFindsTheMinimum()
    {
        var result = LineSearch.StrongWolfe(Quartic, Quartic(0), 1, 1e-4, 0.01, 25);
        Assert.That(result.Found, Is.True);
        Assert.That(Math.Abs(result.Point.Slope), Is.LessThanOrEqualTo(0.03));
    }

    [Test]
    public void ArmijoBacktracksUntilTheLossDecreasesEnough()
    {
        var start = Quartic(0);
        var result = LineSearch.Armijo(Quartic, start, 50, 1e-4, 25);
        Assert.That(result.Found, Is.True);
        Assert.That(result.Point.Step, Is.LessThan(50).And.GreaterThan(0));
        Assert.That(result.Point.Loss, Is.LessThanOrEqualTo(start.Loss + 1e-4 * result.Point.Step * start.Slope));
    }

    [Test]
    public void NaNLossesCountAsTooFar()
    {
        // Beyond t = 4 the function is undefined (say, an overflow on the device).
        LinePoint Phi(double t) => t > 4 ? new(t, double.NaN, double.NaN) : Quartic(t);
        Assert.That(LineSearch.Armijo(Phi, Phi(0), 100, 1e-4, 25).Found, Is.True);
        var wolfe = LineSearch.StrongWolfe(Phi, Phi(0), 100, 1e-4, 0.9, 25);
        Assert.That(wolfe.Found, Is.True);
        Assert.That(wolfe.Point.Step, Is.LessThanOrEqualTo(4));
    }

    [Test]
    public void AnUphillLineFails()
    {
        // A lying slope: phi'(0) claims descent but phi rises everywhere.
        LinePoint Phi(double t) => new(t, t, -1);
        Assert.That(LineSearch.Armijo(Phi, new LinePoint(0, 0, -1), 1, 1e-4, 10).Found, Is.False);
        Assert.That(LineSearch.StrongWolfe(Phi, new LinePoint(0, 0, -1), 1, 1e-4, 0.9, 10).Found, Is.False);
    }

    [Test]
    public void CubicInterpolationIsExactOnACubic()
    {
        // phi(t) = t^3 - 3t: local minimum at t = 1.
        static LinePoint Cubic(double t) => new(t, t * t * t - 3 * t, 3 * t * t - 3);
        Assert.That(LineSearch.CubicMinimizer(Cubic(0), Cubic(2)), Is.EqualTo(1).Within(1e-12));
        Assert.That(LineSearch.CubicMinimizer(Cubic(2), Cubic(0.5)), Is.EqualTo(1).Within(1e-12));
    }
}
