using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Launchers refuse views whose lengths do not match their shapes with an
/// <see cref="ArgumentException"/>, before anything is launched (an out-of-range access inside a
/// CPU-accelerator kernel would end the process instead).
/// </summary>
public sealed class LauncherValidationTests : AcceleratorTest
{
    protected override OwnAccelerator CreateOwnAccelerator() => OwnAccelerator.ProjectCpu();

    private ArrayView<float> Floats(long n) => Accelerator.Allocate1D<float>(n).View;

    [Test]
    public void ConvolutionRejectsAShortInput()
    {
        var s = Conv2dShape.Vgg(3, 5, 7, 4);
        var weights = Kernels.Conv.Prepare(s, Floats(s.WeightLength), Floats(4), Floats);
        var error = Assert.Throws<ArgumentException>(() =>
            Kernels.Conv.Forward(Floats(s.Output.Length), default, Floats(s.Input.Length - 1), weights, true));
        Assert.That(error!.Message, Does.Contain("input has 104 elements but its shape needs 105"));
    }

    [Test]
    public void ConvolutionRejectsAWrongWeightOrBias()
    {
        var s = Conv2dShape.Vgg(3, 5, 7, 4);
        Assert.Throws<ArgumentException>(() => Kernels.Conv.Prepare(s, Floats(s.WeightLength + 1), Floats(4), Floats));
        Assert.Throws<ArgumentException>(() => Kernels.Conv.Prepare(s, Floats(s.WeightLength), Floats(3), Floats));
    }

    [Test]
    public void ConvolutionRejectsImpossibleShapes()
    {
        Assert.Throws<ArgumentException>(() => new Conv2dShape(3, 2, 2, 4, 5, 5, 0, 1).Validate());
        Assert.Throws<ArgumentException>(() => new Conv2dShape(3, 5, 5, 4, 3, 3, 1, 0).Validate());
        Assert.Throws<ArgumentException>(() => new Conv2dShape(0, 5, 5, 4, 3, 3, 1, 1).Validate());
    }

    [Test]
    public void PoolingRejectsTinyInputsWrongLengthsAndAVariantItLacks()
    {
        var tiny = new ChwShape(2, 1, 5);
        Assert.Throws<ArgumentException>(() => Kernels.AvgPool.Forward(Floats(2), Floats(10), tiny));
        var s = new ChwShape(2, 5, 5);
        Assert.Throws<ArgumentException>(() =>
            Kernels.MaxPool.Forward(Floats(8), Accelerator.Allocate1D<byte>(7).View, Floats(50), s));
        var error = Assert.Throws<ArgumentException>(() =>
            Kernels.AvgPool.Backward(Floats(50), Floats(8), s, KernelVariant.Tiled));
        Assert.That(error!.Message, Does.StartWith("The average pooling has no Tiled variant."));

        Assert.Throws<ArgumentException>(() => Kernels.L2Pool.Forward(Floats(2), Floats(10), tiny));
        var input = Assert.Throws<ArgumentException>(() =>
            Kernels.L2Pool.Backward(Floats(50), Floats(8), Floats(49), s));
        Assert.That(input!.Message, Does.StartWith("input has 49 elements but its shape needs 50"),
            "backward checks the input it reads");
        error = Assert.Throws<ArgumentException>(() =>
            Kernels.L2Pool.Forward(Floats(8), Floats(50), s, KernelVariant.Tiled));
        Assert.That(error!.Message, Does.StartWith("The L2 pooling has no Tiled variant."));
    }

    [Test]
    public void GramLossAndVectorOpsRejectMismatchedLengths()
    {
        var g = new GramShape(3, 10);
        Assert.Throws<ArgumentException>(() => Kernels.Gram.Forward(Floats(8), Floats(30), g, 1f));
        Assert.Throws<ArgumentException>(() => Kernels.Mse.Forward(Floats(1), Floats(5), Floats(6), 1f, false));
        Assert.Throws<ArgumentException>(() => Kernels.Mse.Forward(Floats(2), Floats(5), Floats(5), 1f, false));
        Assert.Throws<ArgumentException>(
            () => Kernels.TotalVariation.Backward(Floats(5), Floats(6), new ChwShape(1, 2, 3), 1f, false));
        Assert.Throws<ArgumentException>(() => Kernels.Vectors.Axpy(Floats(5), 1f, Floats(4)));
        Assert.Throws<ArgumentException>(() => Kernels.Vectors.Dot(Floats(1), Floats(5), Floats(4)));
        Assert.Throws<ArgumentException>(() => Kernels.Vectors.Scalar(Floats(1), Floats(2), ScalarOp.Add, Floats(1)));
    }
}
