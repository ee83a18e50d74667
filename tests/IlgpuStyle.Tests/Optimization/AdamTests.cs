using IlgpuStyle.Optimization;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Optimization.OptimizerTestSupport;

namespace IlgpuStyle.Tests.Optimization;

/// <summary>Adam on device objectives with known minima, on every available accelerator.</summary>
public sealed class AdamTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    [TearDown]
    public void NoKernelAssertions() => TraceGuard.ThrowIfAssertionsFailed();

    [Test]
    public void ReachesTheMinimumOfAQuadratic()
    {
        // Adam's step is about lr per variable whatever the curvature, so with condition 100 it
        // still moves every variable at the same pace, then settles as m/sqrt(v) shrinks.
        using var objective = DiagonalQuadratic.IllConditioned(Kernels, 20, 100, seed: 12);
        using var x = Upload(Accelerator, new double[objective.Length]);
        using var adam = new AdamOptimizer(Kernels, objective, x.View, new AdamOptions { LearningRate = 0.05, MaxIterations = 400 });

        var steps = Run(adam);
        TestContext.Out.WriteLine(Describe(steps));

        Assert.That(steps[^1].Stop, Is.EqualTo(StopReason.MaxIterations));
        Assert.That(steps, Has.Count.EqualTo(401));
        Assert.That(steps.Skip(1).Select(s => s.Evaluations), Is.All.EqualTo(1));
        Assert.That(MaxError(Download(x), objective.Center), Is.LessThan(1e-2), Describe(steps));
        Assert.That(steps[^1].Loss, Is.LessThan(1e-4 * steps[0].Loss), Describe(steps));
    }

    [Test]
    public void DecreasesRosenbrockByOrdersOfMagnitude()
    {
        // Adam is no match for L-BFGS in Rosenbrock's curved valley; what it must do is descend it
        // steadily: from 24.2 at (-1.2, 1) along the valley floor to near its far end (it reaches
        // about 0.012 here, a 2000-fold decrease, at x ~ (0.89, 0.79)).
        var objective = new Rosenbrock(Kernels, 2);
        using var x = Upload(Accelerator, [-1.2, 1]);
        using var adam = new AdamOptimizer(Kernels, objective, x.View, new AdamOptions { LearningRate = 0.02, MaxIterations = 1500 });

        var steps = Run(adam);
        var result = Download(x);
        TestContext.Out.WriteLine($"{Describe(steps)}; x = ({result[0]}, {result[1]})");

        Assert.That(steps[0].Loss, Is.EqualTo(24.2f).Within(1e-4));
        Assert.That(steps[^1].Loss, Is.LessThan(0.02), Describe(steps));
        Assert.That(MaxError(result, [1, 1]), Is.LessThan(0.25));
    }

    [Test]
    public void StartReportsIterationZeroOnce()
    {
        using var objective = new DiagonalQuadratic(Kernels, [1, 3, 0.5], [1, 1, 1]);
        using var x = Upload(Accelerator, [0.5, -1, 2]);
        using var adam = new AdamOptimizer(Kernels, objective, x.View, new AdamOptions { MaxIterations = 1 });

        var zero = adam.Start();
        Assert.That(zero.Iteration, Is.EqualTo(0));
        Assert.That(zero.Loss, Is.EqualTo(objective.Value([0.5f, -1f, 2f])).Within(1e-6));
        Assert.That(adam.Start(), Is.EqualTo(zero));

        var one = adam.Step();
        Assert.That(one.Iteration, Is.EqualTo(1));
        Assert.That(one.Stop, Is.EqualTo(StopReason.MaxIterations));
        // Step 1 of Adam moves every variable by almost exactly lr against its gradient's sign.
        var after = Download(x);
        Assert.That(after, Is.EqualTo(new[] { 0.501f, -0.999f, 1.999f }).Within(1e-6));
        Assert.That(one.Loss, Is.EqualTo(objective.Value(after)).Within(1e-5));
        Assert.That(adam.Step(), Is.EqualTo(one));
        Assert.That(objective.Evaluations, Is.EqualTo(2));
    }
}
