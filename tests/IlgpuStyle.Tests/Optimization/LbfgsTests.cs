using ILGPU.Runtime;
using IlgpuStyle.Optimization;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Optimization.OptimizerTestSupport;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>L-BFGS on device objectives with known minima, on every available accelerator.</summary>
public sealed class LbfgsTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    [TearDown]
    public void NoKernelAssertions() => TraceGuard.ThrowIfAssertionsFailed();

    [TestCase(LineSearchKind.StrongWolfe)]
    [TestCase(LineSearchKind.Armijo)]
    [TestCase(LineSearchKind.None)]
    public void ReachesTheMinimumOfAnIllConditionedQuadratic(LineSearchKind lineSearch)
    {
        // Condition number 1000 over 10 eigenvalues spread on a log scale; start at the origin.
        // (A double-precision L-BFGS with unit steps needs ~66 iterations here; exact line
        // searches would need ~10, but no practical line search is exact.)
        // Tolerances for float: the change test is relative to a loss that starts near 1e3 and
        // must end below 1e-9, so it must be far smaller than torch's absolute 1e-9.
        using var objective = DiagonalQuadratic.IllConditioned(Kernels, 10, 1e3, seed: 5);
        using var x = Upload(Accelerator, new double[objective.Length]);
        var options = new LbfgsOptions
        {
            HistorySize = 8, MaxIterations = 300, LineSearch = lineSearch,
            GradientTolerance = 1e-4, ChangeTolerance = 1e-14,
        };
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View, options);

        var steps = Run(lbfgs);
        var result = Download(x);
        TestContext.Out.WriteLine(Describe(steps));

        Assert.That(steps[^1].Stop, Is.AnyOf(StopReason.GradientTolerance, StopReason.ChangeTolerance),
            Describe(steps));
        // f <= 1e-9 bounds the error of the flattest component (d = 1) by sqrt(2e-9) ~ 4.5e-5.
        Assert.That(steps[^1].Loss, Is.LessThan(1e-9), Describe(steps));
        Assert.That(MaxError(result, objective.Center), Is.LessThan(1e-4), Describe(steps));
        if (lineSearch != LineSearchKind.None)
        {
            // A line search that respects the loss never lets it rise.
            for (int i = 1; i < steps.Count; i++)
                Assert.That(steps[i].Loss, Is.LessThanOrEqualTo(steps[i - 1].Loss),
                    $"iteration {i}: {Describe(steps)}");
        }
    }

    [Test]
    public void BeatsGradientDescentInIterationsOnAnIllConditionedQuadratic()
    {
        // Condition number 100: gradient descent with its best fixed step 1/L contracts the slowest
        // component by (1 - 1/100) per iteration, so it needs ~690 iterations for a 1e-6 drop in
        // loss; L-BFGS needs a few dozen.
        const double target = 1e-6;
        using var objective = DiagonalQuadratic.IllConditioned(Kernels, 50, 100, seed: 6);

        using var x = Upload(Accelerator, new double[objective.Length]);
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View,
            new LbfgsOptions { HistorySize = 10, MaxIterations = 200, GradientTolerance = -1, ChangeTolerance = -1 });
        float initial = lbfgs.Start().Loss;
        int lbfgsIterations = 0;
        for (var step = lbfgs.Start(); step.Loss > target * initial && !step.Stopped; step = lbfgs.Step())
            lbfgsIterations = step.Iteration + 1;

        int gdIterations = GradientDescentIterations(objective, stepSize: 1.0 / 100, target, cap: 2000);
        TestContext.Out.WriteLine($"L-BFGS {lbfgsIterations} iterations, gradient descent {gdIterations}");

        Assert.That(lbfgsIterations, Is.LessThan(60));
        Assert.That(gdIterations, Is.GreaterThan(5 * lbfgsIterations));
    }

    /// <summary>Plain gradient descent x -= step * g on the device, counting iterations until the
    /// loss falls below <paramref name="target"/> times its initial value (cap + 1 if never).</summary>
    private int GradientDescentIterations(DiagonalQuadratic objective, double stepSize, double target, int cap)
    {
        int n = objective.Length;
        using var x = Upload(Accelerator, new double[n]);
        using var gradient = Accelerator.Allocate1D<float>(n);
        using var loss = Accelerator.Allocate1D<float>(1);
        var host = new float[1];
        float Evaluate()
        {
            objective.Evaluate(x.View, gradient.View, loss.View);
            loss.View.AsContiguous().CopyToCPU(host.AsSpan());
            return host[0];
        }

        float initial = Evaluate();
        for (int iteration = 1; iteration <= cap; iteration++)
        {
            Kernels.Vectors.Axpy(x.View, -(float)stepSize, gradient.View);
            if (Evaluate() <= target * initial) return iteration;
        }
        return cap + 1;
    }

    [TestCase(2, LineSearchKind.StrongWolfe, 10)]
    [TestCase(2, LineSearchKind.Armijo, 10)]
    [TestCase(6, LineSearchKind.StrongWolfe, 3)]
    public void ConvergesOnRosenbrock(int n, LineSearchKind lineSearch, int historySize)
    {
        // The classic start (-1.2, 1, -1.2, 1, ...); a history of 3 makes the ring buffer wrap.
        var start = new double[n];
        for (int i = 0; i < n; i++) start[i] = i % 2 == 0 ? -1.2 : 1;
        var objective = new Rosenbrock(Kernels, n);
        using var x = Upload(Accelerator, start);
        var options = new LbfgsOptions { HistorySize = historySize, MaxIterations = 300,
            LineSearch = lineSearch, GradientTolerance = 1e-4 };
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View, options);

        var steps = Run(lbfgs);
        var result = Download(x);
        TestContext.Out.WriteLine(Describe(steps));

        Assert.That(steps[^1].Stop, Is.Not.EqualTo(StopReason.MaxIterations).And.Not.EqualTo(StopReason.NonFinite),
            Describe(steps));
        Assert.That(MaxError(result, Enumerable.Repeat(1.0, n).ToArray()), Is.LessThan(1e-3), Describe(steps));
        Assert.That(steps[^1].Loss, Is.LessThan(1e-6));
    }

    [Test]
    public void FixedStepModeConvergesOnAWellScaledQuadratic()
    {
        // Eigenvalues in [1, 2]: the L-BFGS direction with step 1 is close to Newton's step, which
        // is exactly what neural-style's default (no line search) counts on.
        var random = new Random(8);
        var diagonal = Enumerable.Range(0, 30).Select(_ => 1 + random.NextDouble()).ToArray();
        var center = Enumerable.Range(0, 30).Select(_ => 4 * random.NextDouble() - 2).ToArray();
        using var objective = new DiagonalQuadratic(Kernels, diagonal, center);
        using var x = Upload(Accelerator, new double[30]);
        var options = new LbfgsOptions { HistorySize = 5, MaxIterations = 40,
            LineSearch = LineSearchKind.None, GradientTolerance = 1e-4 };
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View, options);

        var steps = Run(lbfgs);
        TestContext.Out.WriteLine(Describe(steps));

        Assert.That(steps.Skip(1).Select(s => s.Evaluations), Is.All.EqualTo(1),
            "one evaluation per iteration without a line search");
        Assert.That(steps[^1].Stop, Is.EqualTo(StopReason.GradientTolerance), Describe(steps));
        Assert.That(MaxError(Download(x), center), Is.LessThan(1e-5));
        // The first step is scaled by min(1, 1/|g|_1) as in torch: tiny here, so it must decrease f.
        Assert.That(steps[1].Loss, Is.LessThan(steps[0].Loss));
    }

    [Test]
    public void ANonDescentDirectionResetsTheHistoryAndStillDecreasesTheLoss()
    {
        using var objective = DiagonalQuadratic.IllConditioned(Kernels, 12, 50, seed: 9);
        using var x = Upload(Accelerator, new double[objective.Length]);
        var options = new LbfgsOptions { HistorySize = 5, MaxIterations = 100, GradientTolerance = 1e-4 };
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View, options);
        lbfgs.Start();
        lbfgs.Step();
        var before = lbfgs.Step();
        Assert.That(lbfgs.HistoryCount, Is.GreaterThan(0));

        // A pair with y = -s has y·s < 0 (a normal run skips it) and makes gamma = -1 and
        // H = -I, so the next direction is +g: uphill. The optimizer must notice g·d >= 0.
        var s = Enumerable.Range(0, objective.Length).Select(i => 0.1f * (i + 1)).ToArray();
        lbfgs.InjectCurvaturePair(s, Array.ConvertAll(s, v => -v));
        var after = lbfgs.Step();

        Assert.That(lbfgs.HistoryResets, Is.EqualTo(1));
        Assert.That(after.Stop, Is.EqualTo(StopReason.None));
        Assert.That(after.Loss, Is.LessThan(before.Loss), "steepest descent after the reset still goes downhill");
        Assert.That(lbfgs.HistoryCount, Is.EqualTo(1), "the step after a reset starts a fresh history");

        var rest = Run(lbfgs);
        Assert.That(rest[^1].Stop, Is.AnyOf(StopReason.GradientTolerance, StopReason.ChangeTolerance), Describe(rest));
        Assert.That(MaxError(Download(x), objective.Center), Is.LessThan(1e-4));
    }

    [Test]
    public void StartReportsIterationZeroOnceAndAStoppedOptimizerDoesNoMoreWork()
    {
        var start = new double[] { 0.5, -1, 2 };
        using var objective = new DiagonalQuadratic(Kernels, [1, 3, 0.5], [1, 1, 1]);
        using var x = Upload(Accelerator, start);
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View, new LbfgsOptions { MaxIterations = 2 });

        var zero = lbfgs.Start();
        Assert.That(zero.Iteration, Is.EqualTo(0));
        Assert.That(zero.Loss, Is.EqualTo(objective.Value(Array.ConvertAll(start, v => (float)v))).Within(1e-6));
        Assert.That(zero.Stopped, Is.False);
        Assert.That(lbfgs.Start(), Is.EqualTo(zero));
        Assert.That(objective.Evaluations, Is.EqualTo(1), "a second Start evaluates nothing");

        lbfgs.Step();
        var last = lbfgs.Step();
        Assert.That(last.Iteration, Is.EqualTo(2));
        Assert.That(last.Stop, Is.EqualTo(StopReason.MaxIterations));
        Assert.That(last.TotalEvaluations, Is.EqualTo(objective.Evaluations));
        Assert.That(last.Loss, Is.EqualTo(objective.Value(Download(x))).Within(1e-5),
            "the loss reported is the loss at x");

        int evaluations = objective.Evaluations;
        Assert.That(lbfgs.Step(), Is.EqualTo(last));
        Assert.That(objective.Evaluations, Is.EqualTo(evaluations));
    }

    [Test]
    public void AnOverflowingFixedStepStopsAndRestoresTheLastFinitePoint()
    {
        // A learning rate of 1e30 sends x to ~1e29, where the loss overflows float.
        var start = new double[] { 0.5, -1, 2 };
        using var objective = new DiagonalQuadratic(Kernels, [1, 3, 0.5], [1, 1, 1]);
        using var x = Upload(Accelerator, start);
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View,
            new LbfgsOptions { LineSearch = LineSearchKind.None, LearningRate = 1e30 });

        var zero = lbfgs.Start();
        var step = lbfgs.Step();

        Assert.That(step.Stop, Is.EqualTo(StopReason.NonFinite));
        Assert.That(step.Loss, Is.EqualTo(zero.Loss));
        Assert.That(Download(x), Is.EqualTo(Array.ConvertAll(start, v => (float)v)));
    }

    [Test]
    public void AStartAtTheMinimumStopsOnTheGradientTolerance()
    {
        using var objective = new DiagonalQuadratic(Kernels, [1, 2], [0.25, -0.5]);
        using var x = Upload(Accelerator, [0.25, -0.5]);
        using var lbfgs = new LbfgsOptimizer(Kernels, objective, x.View);
        Assert.That(lbfgs.Start().Stop, Is.EqualTo(StopReason.GradientTolerance));
    }

    [Test]
    public void RejectsMismatchedLengthsAndBadOptions()
    {
        using var objective = new DiagonalQuadratic(Kernels, [1, 2, 3], [0, 0, 0]);
        using var wrong = Accelerator.Allocate1D<float>(4);
        using var right = Accelerator.Allocate1D<float>(3);
        Assert.Throws<ArgumentException>(() => new LbfgsOptimizer(Kernels, objective, wrong.View));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => new LbfgsOptimizer(Kernels, objective, right.View, new LbfgsOptions { HistorySize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => new LbfgsOptimizer(Kernels, objective, right.View, new LbfgsOptions { Curvature = 1e-5 }));
    }
}
