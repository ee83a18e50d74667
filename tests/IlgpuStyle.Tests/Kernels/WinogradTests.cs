using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Winograd's convolution (<see cref="Winograd"/>): its double-precision reference against the direct one, and the
/// error bounds of the float kernels on VGG's real shapes.
/// </summary>
public sealed class WinogradTests
{
    /// <summary>
    /// The Winograd algorithm in double precision is the direct convolution to rounding, forward (bias, ReLU) and
    /// backward, for both tiles, on shapes with partial tiles, no padding, padding 2 and widths of 1: the
    /// transforms, the tile geometry and the flipped, transposed filter of the input gradient are right.
    /// </summary>
    [TestCase(3, 5, 7, 4, 1)]
    [TestCase(6, 9, 11, 5, 1)]
    [TestCase(2, 6, 6, 3, 0)]
    [TestCase(3, 4, 5, 2, 2)]
    [TestCase(4, 13, 1, 3, 1)]
    [TestCase(4, 1, 13, 3, 1)]
    public void TheDoubleReferenceIsTheDirectConvolution(int c, int h, int w, int k, int padding)
    {
        var s = new Conv2dShape(c, h, w, k, 3, 3, padding, 1);
        var random = new Random(5);
        var input = TestData.Uniform(random, s.Input.Length);
        var weight = TestData.Uniform(random, s.WeightLength);
        var bias = TestData.Uniform(random, k);
        var dOutput = TestData.Uniform(random, s.Output.Length);
        foreach (var tile in new[] { WinogradTile.F2, WinogradTile.F4 })
        {
            var direct = new double[s.Output.Length];
            var winograd = new double[s.Output.Length];
            Conv2d.ForwardReference(direct, input, weight, bias, s, fuseRelu: true);
            Winograd.ForwardReference(winograd, input, weight, bias, s, tile, fuseRelu: true);
            Assert.That(winograd, Is.EqualTo(direct).Within(1e-12), $"forward, {tile}");
            var directGradient = new double[s.Input.Length];
            var winogradGradient = new double[s.Input.Length];
            Conv2d.BackwardInputReference(directGradient, dOutput, weight, s);
            Winograd.BackwardInputReference(winogradGradient, dOutput, weight, s, tile);
            Assert.That(winogradGradient, Is.EqualTo(directGradient).Within(1e-12), $"input gradient, {tile}");
        }
    }

    /// <summary>
    /// The bounds the float kernels are held to on VGG-19's real shapes with random He-normal weights: relative L2
    /// error <c>|y - y_ref| / |y_ref|</c> against the double-precision direct convolution, forward (input a ReLU
    /// output: half-normal) and input gradient (dOut normal), kernel 6 (host code) next to kernel 4 (the direct
    /// product, for scale). Measured (AVX-512): direct 4.3e-7 (conv1_2) .. 1.1e-6 (conv4_2), growing with the length
    /// of its one chain of 9C fused multiply-adds; F(2x2, 3x3) 2.2e-7..7.1e-7, better than direct (each point sums
    /// only C products); F(4x4, 3x3) 1.2e-6..4.8e-6, the input gradient the worse (its transforms' coefficients
    /// up to 8 cost about 4x the direct product's precision, still about 100x less than TF32 costs). Bounds: 2e-6
    /// for direct and F(2x2), 1e-5 for F(4x4).
    /// </summary>
    [TestCase("conv1_2", 64, 64, 64, 64)]
    [TestCase("conv2_2", 128, 32, 32, 128)]
    [TestCase("conv3_2", 256, 16, 16, 256)]
    [TestCase("conv4_2", 512, 8, 8, 512)]
    public void OnVggShapesTheErrorIsWithinItsBound(string layer, int c, int h, int w, int k)
    {
        using var own = OwnAccelerator.ProjectCpu();
        var s = Conv2dShape.Vgg(c, h, w, k);
        var random = new Random(11);
        var input = Array.ConvertAll(Normal(random, s.Input.Length), Math.Abs);
        double std = Math.Sqrt(2.0 / (c * 9));
        var weight = Array.ConvertAll(Normal(random, s.WeightLength), v => (double)(float)(std * v));
        var bias = TestData.Uniform(random, k, -0.1, 0.1);
        var dOutput = Normal(random, s.Output.Length);
        var forward = new double[s.Output.Length];
        Conv2d.ForwardReference(forward, input, weight, bias, s);
        var backward = new double[s.Input.Length];
        Conv2d.BackwardInputReference(backward, dOutput, weight, s);

        var a = own.Accelerator;
        using var dInput = TestData.Upload(a, input);
        using var dWeight = TestData.Upload(a, weight);
        using var dBias = TestData.Upload(a, bias);
        using var dOut = TestData.Upload(a, dOutput);
        using var output = a.Allocate1D<float>(s.Output.Length);
        using var gradient = a.Allocate1D<float>(s.Input.Length);
        var buffers = new List<ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>>();
        ILGPU.ArrayView<float> Allocate(long n)
        {
            var buffer = a.Allocate1D<float>(n);
            buffers.Add(buffer);
            return buffer.View;
        }
        var variants = new (string Name, ConvVariants Variants, double Bound)[]
        {
            ("direct", new ConvVariants(KernelVariant.Cpu, KernelVariant.Cpu), 2e-6),
            ("F2", new ConvVariants(KernelVariant.CpuWinograd, KernelVariant.CpuWinograd, WinogradTile.F2,
                WinogradTile.F2), 2e-6),
            ("F4", new ConvVariants(KernelVariant.CpuWinograd, KernelVariant.CpuWinograd, WinogradTile.F4,
                WinogradTile.F4), 1e-5),
        };
        try
        {
            Assert.Multiple(() =>
            {
                foreach (var (name, v, bound) in variants)
                {
                    var weights = own.Kernels.Conv.Prepare(s, dWeight.View, dBias.View, Allocate, v);
                    own.Kernels.Conv.Forward(output.View, default, dInput.View, weights, fuseRelu: false);
                    own.Kernels.Conv.BackwardInput(gradient.View, dOut.View, weights);
                    double f = DeviceEvaluation.RelativeL2(TestData.Download(output), forward);
                    double b = DeviceEvaluation.RelativeL2(TestData.Download(gradient), backward);
                    TestContext.Out.WriteLine($"{layer} {s}, {name}: forward {f:E2}, input gradient {b:E2}");
                    Assert.That(f, Is.LessThan(bound), $"{layer} {name} forward");
                    Assert.That(b, Is.LessThan(bound), $"{layer} {name} input gradient");
                }
            });
        }
        finally
        {
            foreach (var buffer in buffers) buffer.Dispose();
        }
    }

    /// <summary>
    /// The whole objective (VGG-19 with a quarter of its channels, random weights, 64 x 64 images: every layer but
    /// conv1_1 runs Winograd) against the same objective with the direct convolutions: the loss within 1e-5
    /// relative and the gradient within 1e-4 relative L2, the precision the kernels' own bounds promise after 16
    /// layers forward and back.
    /// </summary>
    [Test]
    public void TheObjectiveWithWinogradIsTheDirectOneToItsPrecision()
    {
        using var own = OwnAccelerator.ProjectCpu();
        var weights = IlgpuStyle.Host.Bench.RandomVgg19(widthDivisor: 4, seed: 1);
        var content = TinyVggImage(64, 64, seed: 2);
        var style = TinyVggImage(64, 64, seed: 3);
        var x = TinyVggImage(64, 64, seed: 4);
        var description = AcceleratorDescription.Of(own.Accelerator);
        (float[] Gradient, float Loss) Evaluate(ConvAlgorithm algorithm)
        {
            using var kernels = new KernelSet(own.Accelerator, new KernelChoice(description, algorithm: algorithm));
            using var objective = Objectives.Create(kernels, weights, content, [style],
                new IlgpuStyle.Network.StyleOptions());
            var (gradient, _, loss) = DeviceEvaluation.Of(own.Accelerator, objective, x);
            return (gradient, loss);
        }
        var direct = Evaluate(ConvAlgorithm.Direct);
        var winograd = Evaluate(ConvAlgorithm.Winograd);
        double lossError = Math.Abs(winograd.Loss - direct.Loss) / Math.Abs(direct.Loss);
        double gradientError = DeviceEvaluation.RelativeL2(winograd.Gradient, direct.Gradient);
        TestContext.Out.WriteLine(
            $"loss {direct.Loss} vs {winograd.Loss} ({lossError:E2}); gradient {gradientError:E2}");
        Assert.That(lossError, Is.LessThan(1e-5));
        Assert.That(gradientError, Is.LessThan(1e-4));
    }

    /// <summary>
    /// Kernel 6's result does not depend on the number of cores, which decides how its work is split: on one core
    /// each block of tiles with all its strips; on two (this shape: 9 strips of 8 output channels, 2 blocks of tiles)
    /// V transformed once and shared, each core taking groups of strips over every block; on eight, groups of strips
    /// per block. Forward with the ReLU and the input gradient through the ReLU's kept output (the window gather's
    /// mask), both tiles, bit for bit against one core, and one core's against the double-precision direct
    /// convolution within the tile's bound.
    /// </summary>
    [TestCase(WinogradTile.F2, 2e-6)]
    [TestCase(WinogradTile.F4, 1e-5)]
    public void TheHostCodeIsTheSameOnAnyNumberOfCores(WinogradTile tile, double bound)
    {
        using var own = OwnAccelerator.ProjectCpu();
        var s = new Conv2dShape(200, 28, 21, 70, 3, 3, 1, 1);
        var random = new Random(17);
        var input = TestData.Uniform(random, s.Input.Length);
        var weight = TestData.Uniform(random, s.WeightLength, -0.05, 0.05);
        var bias = TestData.Uniform(random, s.OutChannels, -0.1, 0.1);
        var dOutput = TestData.Uniform(random, s.Output.Length);
        var a = own.Accelerator;
        using var dInput = TestData.Upload(a, input);
        using var dWeight = TestData.Upload(a, weight);
        using var dBias = TestData.Upload(a, bias);
        using var dOut = TestData.Upload(a, dOutput);
        var variants = new ConvVariants(KernelVariant.CpuWinograd, KernelVariant.CpuWinograd, tile, tile);
        (float[] Output, float[] Gradient) Run(int threads)
        {
            using var kernels = new KernelSet(a, threads: threads);
            using var output = TestData.Poisoned(a, s.Output.Length);
            using var gradient = TestData.Poisoned(a, s.Input.Length);
            var buffers = new List<ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>>();
            try
            {
                var weights = kernels.Conv.Prepare(s, dWeight.View, dBias.View, n =>
                {
                    var buffer = a.Allocate1D<float>(n);
                    buffers.Add(buffer);
                    return buffer.View;
                }, variants);
                kernels.Conv.Forward(output.View, default, dInput.View, weights, fuseRelu: true);
                kernels.Conv.BackwardInput(gradient.View, dOut.View, weights, reluOutput: output.View);
                return (TestData.Download(output), TestData.Download(gradient));
            }
            finally
            {
                foreach (var buffer in buffers) buffer.Dispose();
            }
        }
        var one = Run(1);
        var forward = new double[s.Output.Length];
        Conv2d.ForwardReference(forward, input, weight, bias, s, fuseRelu: true);
        var masked = dOutput.Select((g, i) => one.Output[i] > 0f ? g : 0).ToArray();
        var backward = new double[s.Input.Length];
        Conv2d.BackwardInputReference(backward, masked, weight, s);
        Assert.Multiple(() =>
        {
            Assert.That(DeviceEvaluation.RelativeL2(one.Output, forward), Is.LessThan(bound), "forward, one core");
            Assert.That(DeviceEvaluation.RelativeL2(one.Gradient, backward), Is.LessThan(bound),
                "input gradient, one core");
            foreach (int threads in new[] { 2, 8 })
            {
                var (outputs, gradients) = Run(threads);
                Assert.That(outputs, Is.EqualTo(one.Output), $"forward on {threads} cores");
                Assert.That(gradients, Is.EqualTo(one.Gradient), $"input gradient on {threads} cores");
            }
        });
    }

    private static IlgpuStyle.Network.NetworkImage TinyVggImage(int height, int width, int seed) =>
        IlgpuStyle.Tests.Network.TinyVgg.Image(height, width, seed);

    /// <summary>n standard normal values, each rounded to float (so the kernels and the reference see the
    /// same).</summary>
    private static double[] Normal(Random random, int n)
    {
        var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) *
                                Math.Cos(2 * Math.PI * random.NextDouble()));
        }
        return values;
    }
}
