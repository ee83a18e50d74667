using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The bench's device timing wraps an evaluation from outside (<see cref="LayerProfiler"/> replays
/// the tape itself): it must change nothing the evaluation computes, and name every piece.
/// </summary>
public sealed class ProfilingTests
{
    [Test]
    public void AProfiledEvaluationComputesTheSameAndNamesEveryPiece()
    {
        using var context = Devices.CreateContext(profiling: true);
        using var accelerator = Devices.Select(context, "cpu").CreateAccelerator(context);
        using var kernels = new KernelSet(accelerator);
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(20, 18, seed: 70);
        var x = TinyVgg.Image(20, 18, seed: 72);
        using var objective = Objectives.Create(kernels, weights, content, [TinyVgg.Image(17, 21, seed: 71)],
            new StyleOptions());
        using var input = accelerator.Allocate1D(x.Data);
        using var plain = TestData.Poisoned(accelerator, x.Data.Length);
        using var profiled = TestData.Poisoned(accelerator, x.Data.Length);
        using var loss = accelerator.Allocate1D<float>(2);

        objective.Evaluate(input.View, plain.View, loss.View.SubView(0, 1));
        using var profiler = new LayerProfiler(accelerator);
        objective.Evaluate(input.View, profiled.View, loss.View.SubView(1, 1), profiler);
        var labels = profiler.Collect().Select(p => p.Label).ToList();

        var losses = TestData.Download(loss);
        Assert.Multiple(() =>
        {
            Assert.That(losses[1], Is.EqualTo(losses[0]), "the loss");
            Assert.That(TestData.Download(profiled), Is.EqualTo(TestData.Download(plain)), "the gradient, bit for bit");
            Assert.That(labels, Does.Contain("conv1_1+relu1_1 forward").And.Contain("StyleLoss@relu1_1 forward")
                .And.Contain("pool1 backward").And.Contain("relu1_1+conv1_1 backward").And.Contain("input gradient"));
        });
    }
}
