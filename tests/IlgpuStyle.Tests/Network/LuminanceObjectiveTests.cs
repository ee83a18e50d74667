using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// Luminance-only transfer's objective (issue 16, "Colour"): the one-to-three channel map is the grey
/// image's preprocessing in both conventions, its backward is its adjoint, and the whole objective on the
/// device equals the double-precision reference composed with the map, whose gradient finite differences
/// confirm.
/// </summary>
public sealed class LuminanceObjectiveTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static readonly string[] Conventions = ["caffe", "torchvision"];

    private static readonly StyleOptions Options = new()
    {
        ContentLayers = ["relu3_1"],
        StyleLayers = ["relu1_1", "relu2_1", "relu3_1"],
        TvWeight = 0.5f, // large enough that TV's share of the gradient is checked too
    };

    /// <summary>Random luminance values (0-255) of an h x w grey image.</summary>
    private static double[] RandomLuminance(int seed, int n) =>
        TestData.Uniform(new Random(seed), n, 20, 235);

    [TestCaseSource(nameof(Conventions))]
    public void TheReplicationIsTheGreyImagesPreprocessing(string convention)
    {
        var preprocessing = Preprocessing.FromName(convention);
        var luminance = RandomLuminance(1, 35);
        var y = preprocessing.LuminanceToNetwork(luminance);
        var replicated = new double[105];
        ChannelReplicate.ForwardReference(replicated, Array.ConvertAll(y, v => (double)v),
            preprocessing.LuminanceReplication(35));
        var grey = preprocessing.GreyToNetworkInput(luminance);
        for (int i = 0; i < grey.Length; i++)
            Assert.That(replicated[i], Is.EqualTo(grey[i]).Within(2e-5 * (1 + Math.Abs(grey[i]))), $"element {i}");

        // And a grey RgbImage through the ordinary preprocessing gives the same (on whole levels).
        var levels = luminance.Select(l => Math.Round(l)).ToArray();
        var pixels = levels.SelectMany(l => Enumerable.Repeat((byte)l, 3)).ToArray();
        var ordinary = preprocessing.ToNetworkInput(new RgbImage(7, 5, pixels));
        Assert.That(preprocessing.GreyToNetworkInput(levels), Is.EqualTo(ordinary).Within(1e-5));
        Assert.That(preprocessing.LuminanceFromNetwork(preprocessing.LuminanceToNetwork(levels)),
            Is.EqualTo(levels).Within(1e-4), "luminance to y and back");
    }

    [TestCaseSource(nameof(Conventions))]
    public void TheBackwardKernelIsTheForwardsAdjoint(string convention)
    {
        // <R y - b, g> = <y, R^T g> for the linear part of the map, on the device.
        const int plane = 6 * 9;
        var p = Preprocessing.FromName(convention).LuminanceReplication(plane);
        var y = TestData.Uniform(new Random(2), plane);
        var g = TestData.Uniform(new Random(3), 3 * plane);
        using var dy = TestData.Upload(Accelerator, y);
        using var dx = TestData.Poisoned(Accelerator, 3 * plane);
        using var dg = TestData.Upload(Accelerator, g);
        using var dyBack = TestData.Poisoned(Accelerator, plane);
        Kernels.Replicate.Forward(dx.View, dy.View, p);
        Kernels.Replicate.Backward(dyBack.View, dg.View, p);
        var x = TestData.Download(dx);
        var back = TestData.Download(dyBack);
        double left = 0, right = 0;
        for (int i = 0; i < 3 * plane; i++) left += (x[i] - p.Offset(i / plane)) * g[i];
        for (int i = 0; i < plane; i++) right += y[i] * back[i];
        Assert.That(left, Is.EqualTo(right).Within(1e-4 * (1 + Math.Abs(right))));
    }

    [TestCase("caffe", null)]
    [TestCase("torchvision", null)]
    [TestCase("caffe", 8)]
    public void TheObjectiveMatchesTheReferenceComposedWithTheReplication(string convention, int? tileCore)
    {
        // Tiled: an image several regions (core + halo) across.
        int height = tileCore is null ? 18 : 44, width = tileCore is null ? 22 : 50;
        var weights = TinyVgg.Create(convention);
        var preprocessing = Preprocessing.FromName(convention);
        var content = Grey(preprocessing, RandomLuminance(4, height * width), height, width);
        var style = Grey(preprocessing, RandomLuminance(5, 20 * 16), 20, 16);
        var y = preprocessing.LuminanceToNetwork(RandomLuminance(6, height * width));

        using var objective = Objectives.Create(Kernels, weights, content, [style], Options, tileCore, luminance: true);
        Assert.That(objective.Plan.Variable, Is.EqualTo(new ChwShape(1, height, width)));
        Assert.That(objective.Length, Is.EqualTo(height * width));
        Assert.That(objective.Plan.IsTiled, Is.EqualTo(tileCore is not null), "an 8-pixel core tiles 44 x 50");
        using var x = Accelerator.Allocate1D(y);
        using var gradient = TestData.Poisoned(Accelerator, y.Length);
        using var loss = TestData.Poisoned(Accelerator, 1);
        objective.Evaluate(x.View, gradient.View, loss.View);
        var losses = objective.ReadLosses();

        var reference = new Composite(weights, content, style);
        var expectedGradient = new double[y.Length];
        var expected = reference.Evaluate(Array.ConvertAll(y, v => (double)v), expectedGradient);

        Assert.That(TestData.Download(loss)[0], Is.EqualTo(expected.Total).Within(1e-4 * expected.Total));
        Assert.That(losses.Total, Is.EqualTo(expected.Total).Within(1e-4 * expected.Total));
        Assert.That(losses.TotalVariation, Is.EqualTo(expected.Tv).Within(1e-4 * expected.Tv));
        Assert.That(losses.Style, Is.EqualTo(expected.Style).Within(1e-4 * expected.Style));
        Assert.That(losses.Content, Is.EqualTo(expected.Content).Within(1e-4 * expected.Content));
        double scale = expectedGradient.Max(Math.Abs);
        var result = Comparison.Compare("luminance gradient", "", TestData.Download(gradient), expectedGradient,
            new Tolerance(1e-4 * scale, 1e-4));
        Assert.That(result.Passed, Is.True, $"max abs {result.MaxAbsError:G3} (scale {scale:G3}); {result.Detail}");
    }

    [TestCaseSource(nameof(Conventions))]
    public void TheReferenceCompositesGradientMatchesFiniteDifferences(string convention)
    {
        // The chain rule through the replication (dL/dy = sum_c a_c dL/dx_c) and TV on y, in double.
        const int height = 16, width = 16;
        var weights = TinyVgg.Create(convention);
        var preprocessing = Preprocessing.FromName(convention);
        var reference = new Composite(weights, Grey(preprocessing, RandomLuminance(7, height * width), height, width),
            Grey(preprocessing, RandomLuminance(8, 16 * 16), 16, 16));
        var y = Array.ConvertAll(preprocessing.LuminanceToNetwork(RandomLuminance(9, height * width)), v => (double)v);
        var gradient = new double[y.Length];
        reference.Evaluate(y, gradient);
        var random = new Random(10);
        double h = convention == "caffe" ? 1e-2 : 1e-4;
        for (int trial = 0; trial < 3; trial++)
        {
            var d = TestData.Uniform(random, y.Length);
            var plus = y.Select((v, i) => v + h * d[i]).ToArray();
            var minus = y.Select((v, i) => v - h * d[i]).ToArray();
            double numeric = (reference.Evaluate(plus, null).Total - reference.Evaluate(minus, null).Total) / (2 * h);
            double analytic = gradient.Select((g, i) => g * d[i]).Sum();
            Assert.That(numeric, Is.EqualTo(analytic).Within(1e-5 * Math.Abs(analytic) + 1e-9), $"direction {trial}");
        }
    }

    private static NetworkImage Grey(Preprocessing preprocessing, double[] luminance, int height, int width) =>
        new(preprocessing.GreyToNetworkInput(luminance), new ChwShape(3, height, width));

    /// <summary><c>L(y) = Ref(R y) + L_tv(y)</c> in double: the reference objective (without TV) of the replicated
    /// image, and TV on the one channel.</summary>
    private sealed class Composite(VggWeights weights, NetworkImage content, NetworkImage style)
    {
        private readonly ReferenceObjective _reference =
            new(weights, content, [style], Options with { TvWeight = 0 });

        private readonly ReplicateParameters _map = Preprocessing.FromName(weights.Preprocess)
            .LuminanceReplication(content.Shape.Height * content.Shape.Width);

        private readonly ChwShape _shape = new(1, content.Shape.Height, content.Shape.Width);

        public (double Total, double Content, double Style, double Tv) Evaluate(double[] y, double[]? gradient)
        {
            var x = new double[3 * y.Length];
            ChannelReplicate.ForwardReference(x, y, _map);
            var gx = gradient is null ? null : new double[x.Length];
            var (_, content, style, _) = _reference.Evaluate(x, gx);
            double tv = TotalVariation.ForwardReference(y, _shape, Options.TvWeight!.Value);
            if (gradient is not null)
            {
                ChannelReplicate.BackwardReference(gradient, gx!, _map);
                TotalVariation.BackwardReference(gradient, y, _shape, Options.TvWeight!.Value, accumulate: true);
            }
            return (content + style + tv, content, style, tv);
        }
    }
}
