using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Each CPU backward reference against central finite differences of its forward reference, in
/// double precision on tiny tensors. The device kernels are checked against these references, so
/// this is what ties every gradient in the project to the definition of its forward pass.
/// </summary>
/// <remarks>
/// For a forward f and a fixed random r, take <c>L(x) = sum_i r_i f(x)_i</c>: then the backward
/// pass with <c>dOut = r</c> must give <c>dL/dx</c>, and each component is compared with
/// <c>(L(x + h e_j) - L(x - h e_j)) / 2h</c>.
/// </remarks>
public sealed class ReferenceGradientTests
{
    private const double Step = 1e-6;

    private static void AssertGradient(string what, Func<double[], double> loss, double[] x, double[] analytic)
    {
        double worst = 0;
        int worstIndex = -1;
        for (int j = 0; j < x.Length; j++)
        {
            double saved = x[j];
            x[j] = saved + Step;
            double up = loss(x);
            x[j] = saved - Step;
            double down = loss(x);
            x[j] = saved;
            double numeric = (up - down) / (2 * Step);
            double error = Math.Abs(numeric - analytic[j]) / (1e-6 + Math.Abs(numeric));
            if (error > worst)
            {
                worst = error;
                worstIndex = j;
            }
        }
        Assert.That(worst, Is.LessThan(1e-5),
            $"{what}: worst relative error {worst:G3} at [{worstIndex}] " +
                $"(analytic {analytic[Math.Max(worstIndex, 0)]:G9})");
    }

    private static double Dot(double[] a, double[] b) => VectorOps.DotReference(a, b);

    /// <summary>Values in [-1, 1] kept at least 0.05 away from 0, so no ReLU kink lies within a step.</summary>
    private static double[] AwayFromZero(Random random, int n) =>
        Array.ConvertAll(TestData.Uniform(random, n), v => v >= 0 ? v + 0.05 : v - 0.05);

    [TestCase(3, 5, 7, 4, 3, 3, 1, 1)]
    [TestCase(2, 6, 9, 5, 3, 3, 0, 2)]
    [TestCase(3, 8, 6, 2, 2, 4, 2, 3)]
    public void ConvolutionBackwardIsTheInputGradient(int c, int h, int w, int k, int kh, int kw, int p, int s)
    {
        var shape = new Conv2dShape(c, h, w, k, kh, kw, p, s);
        var random = new Random(1);
        var x = TestData.Uniform(random, shape.Input.Length);
        var weight = TestData.Uniform(random, shape.WeightLength);
        var bias = TestData.Uniform(random, k);
        var r = TestData.Uniform(random, shape.Output.Length);
        var output = new double[shape.Output.Length];
        double Loss(double[] input)
        {
            Conv2d.ForwardReference(output, input, weight, bias, shape);
            return Dot(r, output);
        }
        var analytic = new double[x.Length];
        Conv2d.BackwardInputReference(analytic, r, weight, shape);
        AssertGradient($"conv {shape}", Loss, x, analytic);
    }

    [Test]
    public void ReluBackwardIsTheGradient()
    {
        var random = new Random(2);
        var x = AwayFromZero(random, 23);
        var r = TestData.Uniform(random, 23);
        var output = new double[23];
        double Loss(double[] input)
        {
            Relu.ForwardReference(output, input);
            return Dot(r, output);
        }
        Relu.ForwardReference(output, x);
        var analytic = new double[23];
        Relu.BackwardReference(analytic, r, (double[])output.Clone());
        AssertGradient("relu", Loss, x, analytic);
    }

    [TestCase(3, 5, 7)]
    [TestCase(2, 4, 6)]
    public void MaxPoolBackwardIsTheGradient(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var o = MaxPool2d.OutputShape(shape);
        var random = new Random(3);
        var x = TestData.Uniform(random, shape.Length); // distinct values: no ties within a step
        var r = TestData.Uniform(random, o.Length);
        var output = new double[o.Length];
        var argmax = new byte[o.Length];
        double Loss(double[] input)
        {
            MaxPool2d.ForwardReference(output, argmax, input, shape);
            return Dot(r, output);
        }
        MaxPool2d.ForwardReference(output, argmax, x, shape);
        var analytic = new double[x.Length];
        MaxPool2d.BackwardReference(analytic, r, (byte[])argmax.Clone(), shape);
        AssertGradient($"maxpool {shape}", Loss, x, analytic);
    }

    /// <summary>
    /// With the ReLU fused into the pooling, the pooling's backward alone is the gradient of
    /// <c>r . maxpool(relu(x))</c> with respect to x: the ReLU needs no backward step of its own.
    /// A quarter of the windows are wholly negative, so some windows pass no gradient at all.
    /// </summary>
    [TestCase(3, 5, 7)]
    [TestCase(2, 4, 6)]
    public void MaxPoolWithFusedReluBackwardIsTheGradientThroughTheRelu(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var o = MaxPool2d.OutputShape(shape);
        var random = new Random(5);
        var x = TestData.Uniform(random, shape.Length);
        for (int i = 0; i < x.Length; i++)
        {
            if (i / w % 4 < 2 && i % w < 2) x[i] = -Math.Abs(x[i]) - 0.1; // some wholly negative windows
        }
        var r = TestData.Uniform(random, o.Length);
        var output = new double[o.Length];
        var argmax = new byte[o.Length];
        var relu = new double[x.Length];
        double Loss(double[] input)
        {
            Relu.ForwardReference(relu, input);
            MaxPool2d.ForwardReference(output, argmax, relu, shape, reluInput: true);
            return Dot(r, output);
        }
        Loss(x);
        Assert.That(argmax, Does.Contain(MaxPool2d.NoWinner), "the shape has a window whose maximum is 0");
        var analytic = new double[x.Length];
        MaxPool2d.BackwardReference(analytic, r, (byte[])argmax.Clone(), shape);
        AssertGradient($"maxpool(relu) {shape}", Loss, x, analytic);
    }

    [TestCase(3, 5, 7)]
    [TestCase(1, 9, 2)]
    public void AvgPoolBackwardIsTheGradient(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var o = MaxPool2d.OutputShape(shape);
        var random = new Random(4);
        var x = TestData.Uniform(random, shape.Length);
        var r = TestData.Uniform(random, o.Length);
        var output = new double[o.Length];
        double Loss(double[] input)
        {
            AvgPool2d.ForwardReference(output, input, shape);
            return Dot(r, output);
        }
        var analytic = new double[x.Length];
        AvgPool2d.BackwardReference(analytic, r, shape);
        AssertGradient($"avgpool {shape}", Loss, x, analytic);
    }

    /// <summary>
    /// L2 pooling's <c>x_i / (4 y)</c> against central differences of its forward, on inputs of both signs with
    /// every third window wholly 0 (as after a ReLU), where the root is smooth only thanks to Eps.
    /// </summary>
    [TestCase(3, 5, 7)]
    [TestCase(1, 9, 2)]
    [TestCase(2, 4, 6)]
    public void L2PoolBackwardIsTheGradient(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var o = MaxPool2d.OutputShape(shape);
        var random = new Random(6);
        var x = TestData.Uniform(random, shape.Length);
        for (int i = 0; i < o.Length; i += 3) ZeroWindow(x, shape, o, i);
        var r = TestData.Uniform(random, o.Length);
        var output = new double[o.Length];
        double Loss(double[] input)
        {
            L2Pool2d.ForwardReference(output, input, shape);
            return Dot(r, output);
        }
        var analytic = new double[x.Length];
        L2Pool2d.BackwardReference(analytic, r, x, shape);
        AssertGradient($"l2pool {shape}", Loss, x, analytic);
    }

    /// <summary>
    /// A window of zeros, common after a ReLU: y is the root of Eps, not 0, and the gradient is exactly 0 there, not
    /// 0/0; the windows beside it are untouched.
    /// </summary>
    [Test]
    public void AnAllZeroL2WindowHasAFiniteOutputAndAZeroGradient()
    {
        var shape = new ChwShape(1, 4, 4);
        var o = MaxPool2d.OutputShape(shape);
        var x = TestData.Uniform(new Random(7), shape.Length);
        ZeroWindow(x, shape, o, 0);
        var output = new double[o.Length];
        L2Pool2d.ForwardReference(output, x, shape);
        var dInput = new double[x.Length];
        L2Pool2d.BackwardReference(dInput, [1, 1, 1, 1], x, shape);
        Assert.Multiple(() =>
        {
            Assert.That(output[0], Is.EqualTo(Math.Sqrt(L2Pool2d.Eps)), "the zero window's y");
            Assert.That(new[] { dInput[0], dInput[1], dInput[4], dInput[5] }, Is.All.EqualTo(0.0),
                "the zero window's gradient");
            Assert.That(dInput.All(double.IsFinite), Is.True, "every gradient finite");
            Assert.That(dInput[2], Is.EqualTo(x[2] / (4 * output[1])).Within(1e-15), "its neighbour's x / (4 y)");
        });
    }

    /// <summary>Sets window <paramref name="window"/> (a flat output index) of <paramref name="x"/> to 0.</summary>
    private static void ZeroWindow(double[] x, ChwShape shape, ChwShape output, int window)
    {
        int ox = window % output.Width, oy = window / output.Width % output.Height;
        int c = window / (output.Width * output.Height);
        for (int place = 0; place < 4; place++)
            x[shape.Index(c, 2 * oy + place / 2, 2 * ox + place % 2)] = 0;
    }

    [TestCase(3, 35)]
    [TestCase(12, 5)]
    public void GramBackwardIsTheGradient(int channels, int positions)
    {
        var shape = new GramShape(channels, positions);
        var random = new Random(5);
        var features = TestData.Uniform(random, shape.FeatureLength);
        var r = TestData.Uniform(random, shape.GramLength); // not symmetric on purpose
        double scale = 1.0 / shape.FeatureLength;
        var gram = new double[shape.GramLength];
        double Loss(double[] f)
        {
            Gram.ForwardReference(gram, f, shape, scale);
            return Dot(r, gram);
        }
        var analytic = new double[features.Length];
        Gram.BackwardReference(analytic, r, features, shape, scale, accumulate: false);
        AssertGradient($"gram C{channels} M{positions}", Loss, features, analytic);
    }

    [Test]
    public void MseBackwardIsTheGradient()
    {
        var random = new Random(6);
        var a = TestData.Uniform(random, 17);
        var b = TestData.Uniform(random, 17);
        var analytic = new double[17];
        MseLoss.BackwardReference(analytic, a, b, 3.0, accumulate: false);
        AssertGradient("mse", x => MseLoss.ForwardReference(x, b, 3.0), a, analytic);
    }

    [Test]
    public void ReplicateBackwardIsTheGradient()
    {
        // Luminance-only transfer's one-to-three channel map, with scales and offsets as torchvision's differ.
        var p = ReplicateParameters.Of(35, [1.0227f, 0.9457f, 1.1351f], [-0.1133f, 0.2791f, -0.0512f]);
        var random = new Random(8);
        var y = TestData.Uniform(random, 35);
        var r = TestData.Uniform(random, 3 * 35);
        var analytic = new double[35];
        ChannelReplicate.BackwardReference(analytic, r, p);
        var x = new double[3 * 35];
        AssertGradient("replicate", v =>
        {
            ChannelReplicate.ForwardReference(x, v, p);
            return Dot(r, x);
        }, y, analytic);
    }

    [TestCase(3, 5, 7)]
    [TestCase(2, 2, 2)]
    [TestCase(1, 1, 4)]
    public void TotalVariationBackwardIsTheGradient(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var x = TestData.Uniform(new Random(7), shape.Length);
        var analytic = new double[x.Length];
        TotalVariation.BackwardReference(analytic, x, shape, 0.7, accumulate: false);
        AssertGradient($"tv {shape}", v => TotalVariation.ForwardReference(v, shape, 0.7), x, analytic);
    }

    [Test]
    public void TotalVariationValueFollowsTheSpecOnAHandExample()
    {
        // One channel, 2x3: x = [[1, 2, 4], [3, 5, 9]]. Terms exist only at (0,0) and (0,1):
        // (1-2)^2 + (1-3)^2 + (2-4)^2 + (2-5)^2 = 1 + 4 + 4 + 9 = 18; L = (w/2) * 18.
        double[] x = [1, 2, 4, 3, 5, 9];
        Assert.That(TotalVariation.ForwardReference(x, new ChwShape(1, 2, 3), 0.5), Is.EqualTo(4.5).Within(1e-12));
    }

    [TestCase(3, 5, 7)]
    [TestCase(1, 4, 9)]
    public void TemporalLossBackwardIsTheGradient(int c, int h, int w)
    {
        var shape = new ChwShape(c, h, w);
        var random = new Random(8);
        var x = TestData.Uniform(random, shape.Length);
        var target = TestData.Uniform(random, shape.Length);
        var weights = TestData.Uniform(random, shape.PlaneLength, 0, 1);
        weights[0] = 0; // a disocclusion: no gradient there
        var analytic = new double[x.Length];
        TemporalLoss.BackwardReference(analytic, x, target, weights, shape, 3.5, accumulate: false);
        AssertGradient($"temporal {shape}", v => TemporalLoss.ForwardReference(v, target, weights, shape, 3.5), x,
            analytic);
    }

    [Test]
    public void TemporalLossValueFollowsRuderEtAlOnAHandExample()
    {
        // One channel, 1x3: x = [1, 2, 4], target [0, 2, 1], weights [1, 0.5, 0]: (1*1 + 0.5*0 + 0*9) / 3 * w.
        double[] x = [1, 2, 4], target = [0, 2, 1], weights = [1, 0.5, 0];
        Assert.That(TemporalLoss.ForwardReference(x, target, weights, new ChwShape(1, 1, 3), 6),
            Is.EqualTo(2).Within(1e-12));
    }
}
