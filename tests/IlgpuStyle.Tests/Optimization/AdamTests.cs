using IlgpuStyle.Kernels;
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
        using var adam = new AdamOptimizer(Kernels, objective, x.View,
            new AdamOptions { LearningRate = 0.05, MaxIterations = 400 });

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
        using var adam = new AdamOptimizer(Kernels, objective, x.View,
            new AdamOptions { LearningRate = 0.02, MaxIterations = 1500 });

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

    private static double[] Ones(int n) => Enumerable.Repeat(1.0, n).ToArray();

    /// <summary>A smooth (3, H, W) image sampled at pixel centres: the same picture at any size.</summary>
    private static double[] SmoothImage(ChwShape s)
    {
        var image = new double[s.Length];
        for (int c = 0; c < s.Channels; c++)
        for (int y = 0; y < s.Height; y++)
        for (int x = 0; x < s.Width; x++)
        {
            double u = (y + 0.5) / s.Height, w = (x + 0.5) / s.Width;
            image[s.Index(c, y, x)] = Math.Sin(3 * u + c) * Math.Cos(2 * w - c) + 0.5 * u * w;
        }
        return image;
    }

    /// <summary>
    /// A coarse-to-fine step on a pixel-space quadratic (the picture at two sizes): after Adam has
    /// nearly converged at the coarse scale, the enlarged result is already close at the fine scale.
    /// Continued, Adam keeps taking small steps and improves on it; started afresh, its first step
    /// moves every pixel by the full learning rate and throws that closeness away.
    /// </summary>
    [Test]
    public void ContinuingAtTheNextScaleBeatsAColdStart()
    {
        var coarse = new ChwShape(3, 8, 10);
        var fine = new ChwShape(3, 12, 15);
        var options = new AdamOptions { LearningRate = 0.05, MaxIterations = 200 };
        using var coarseObjective = new DiagonalQuadratic(Kernels, Ones(coarse.Length), SmoothImage(coarse));
        using var coarseX = Upload(Accelerator, new double[coarse.Length]);
        using var coarseAdam = new AdamOptimizer(Kernels, coarseObjective, coarseX.View, options);
        var coarseSteps = Run(coarseAdam);
        Assert.That(coarseSteps[^1].Loss, Is.LessThan(1e-3 * coarseSteps[0].Loss), Describe(coarseSteps));

        using var fineObjective = new DiagonalQuadratic(Kernels, Ones(fine.Length), SmoothImage(fine));
        List<OptimizerStep> FineRun(bool warm)
        {
            using var x = Accelerator.Allocate1D<float>(fine.Length);
            Kernels.Upsample.Forward(x.View, coarseX.View, fine, coarse, UpsampleFilter.Bicubic);
            using var adam = new AdamOptimizer(Kernels, fineObjective, x.View, options with { MaxIterations = 30 });
            if (warm) adam.ContinueFrom(coarseAdam, coarse, fine);
            var steps = Run(adam);
            Assert.That(adam.StepCount, Is.EqualTo(warm ? 230 : 30), "the step count goes on from the previous scale");
            return steps;
        }

        var warmSteps = FineRun(warm: true);
        var coldSteps = FineRun(warm: false);
        TestContext.Out.WriteLine($"warm: {Describe(warmSteps)}\ncold: {Describe(coldSteps)}");
        Assert.That(warmSteps[0].Loss, Is.EqualTo(coldSteps[0].Loss), "both start from the same enlarged image");
        Assert.That(warmSteps[^1].Loss, Is.LessThan(warmSteps[0].Loss), "continued, Adam improves on the enlarged one");
        Assert.That(warmSteps[^1].Loss, Is.LessThan(coldSteps[^1].Loss / 2), "and ends well below a cold start");
    }

    [Test]
    public void ContinuingEnlargesTheMomentsAndRefusesAStartedOptimizer()
    {
        var coarse = new ChwShape(1, 1, 2);
        var fine = new ChwShape(1, 1, 4);
        using var coarseObjective = new DiagonalQuadratic(Kernels, [1, 1], [1, -1]);
        using var coarseX = Upload(Accelerator, [0, 0]);
        var oneStep = new AdamOptions { LearningRate = 0.1, MaxIterations = 1 };
        using var coarseAdam = new AdamOptimizer(Kernels, coarseObjective, coarseX.View, oneStep);
        Run(coarseAdam);

        // After one step from x = 0: g = (-1, 1), m = 0.1 g, v = 0.001 g^2 = (0.001, 0.001).
        // Continued at four pixels, the next step starts from m bicubic-enlarged (overshooting past
        // the ends, as the hand-computed weights in UpsampleTests say) and v bilinear (still 0.001),
        // so step 2 follows the first moment: it moves the outer pixels further than the inner ones.
        using var fineObjective = new DiagonalQuadratic(Kernels, [1, 1, 1, 1], [0, 0, 0, 0]);
        using var fineX = Upload(Accelerator, [0, 0, 0, 0]);
        using var fineAdam = new AdamOptimizer(Kernels, fineObjective, fineX.View, oneStep);
        fineAdam.ContinueFrom(coarseAdam, coarse, fine);
        Assert.That(fineAdam.StepCount, Is.EqualTo(1));
        Run(fineAdam);
        var moved = Download(fineX);
        TestContext.Out.WriteLine(string.Join(", ", moved));
        Assert.That(moved[0], Is.GreaterThan(moved[1]).And.GreaterThan(0), "m carried: the left pixels keep moving up");
        Assert.That(moved[3], Is.LessThan(moved[2]).And.LessThan(0), "the right pixels keep moving down");

        Assert.Throws<InvalidOperationException>(() => fineAdam.ContinueFrom(coarseAdam, coarse, fine), "started");
    }

    /// <summary>
    /// A step that overflows the loss stops the run and puts x back where the loss was finite
    /// (a caller must never be left with a NaN image), with the loss there.
    /// </summary>
    [Test]
    public void AnOverflowingStepStopsAndRestoresTheLastFinitePoint()
    {
        var start = new double[] { 0.5, -1, 2 };
        using var objective = new DiagonalQuadratic(Kernels, [1, 3, 0.5], [1, 1, 1]);
        using var x = Upload(Accelerator, start);
        // Adam's first step moves every variable by about lr: to ~1e30, where the loss overflows float.
        var options = new AdamOptions { LearningRate = 1e30, MaxIterations = 10 };
        using var adam = new AdamOptimizer(Kernels, objective, x.View, options);

        var zero = adam.Start();
        var step = adam.Step();

        Assert.That(step.Stop, Is.EqualTo(StopReason.NonFinite));
        Assert.That(step.Loss, Is.EqualTo(zero.Loss), "the loss at the restored point");
        Assert.That(Download(x), Is.EqualTo(Array.ConvertAll(start, v => (float)v)), "back where the loss was finite");
        Assert.That(adam.Step(), Is.EqualTo(step));
    }
}
