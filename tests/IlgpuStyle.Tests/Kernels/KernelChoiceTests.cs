using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Kernels.KernelVariant;
using static IlgpuStyle.Kernels.WinogradTile;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The one rule that picks every kernel (<see cref="KernelChoice"/>), pinned on VGG-19's real layer
/// shapes at 512 x 512 for the accelerators the project runs on, described by hand (no GPU needed).
/// </summary>
public sealed class KernelChoiceTests
{
    private static readonly AcceleratorDescription ProjectCpu = new(AcceleratorType.CPU, 2, false, "CPUAccelerator");
    private static readonly AcceleratorDescription H100 = new(AcceleratorType.Cuda, 1024, true, "NVIDIA H100");
    private static readonly AcceleratorDescription V100 = new(AcceleratorType.Cuda, 1024, false, "Tesla V100");
    private static readonly AcceleratorDescription Radeon = new(AcceleratorType.OpenCL, 256, false, "AMD Radeon");
    private static readonly AcceleratorDescription SmallGroups = new(AcceleratorType.OpenCL, 128,
        false, "small OpenCL GPU");

    /// <summary>Each conv of VGG-19 at 512 x 512: its name and shape (3x3, padding 1, stride 1).</summary>
    private static IEnumerable<(string Name, Conv2dShape Shape)> Vgg19At512() => Vgg19At(512);

    /// <summary>Each conv of VGG-19 at <paramref name="image"/> x <paramref name="image"/>.</summary>
    private static IEnumerable<(string Name, Conv2dShape Shape)> Vgg19At(int image)
    {
        var architecture = VggArchitecture.Vgg19;
        int channels = 3;
        foreach (string name in architecture.ConvNames)
        {
            int block = architecture.Block(name);
            int size = image >> (block - 1);
            int outChannels = VggArchitecture.BlockChannels[block - 1];
            yield return (name, Conv2dShape.Vgg(channels, size, size, outChannels));
            channels = outChannels;
        }
    }

    /// <summary>
    /// Every choice for VGG-19 at 512, one line per layer: conv forward, input gradient, Gram forward, Gram backward.
    /// </summary>
    private static Dictionary<string, (KernelVariant, KernelVariant, KernelVariant,
        KernelVariant)> Choices(KernelChoice rule) =>
        Vgg19At512().ToDictionary(l => l.Name, l =>
        {
            var gram = GramShape.Of(l.Shape.Output);
            return (rule.ConvForward(l.Shape), rule.ConvInputGradient(l.Shape), rule.GramForward(gram),
                rule.GramBackward(gram));
        });

    [Test]
    public void TheCpuAcceleratorRunsHostCodeEverywhereAndAGpuThePassesPerElement()
    {
        var rule = new KernelChoice(ProjectCpu, algorithm: ConvAlgorithm.Direct);
        var choices = Choices(rule);
        Assert.That(choices.Values, Is.All.EqualTo((Cpu, Cpu, Cpu, Cpu)));
        Assert.That(choices, Has.Count.EqualTo(16));
        Assert.That(Vgg19At512().Select(l => rule.Conv(l.Shape).PackedOnce), Is.All.False,
            "direct keeps the memory of before: the host code packs its weights per call");
        Assert.That(Passes(rule), Is.All.EqualTo(Cpu), "ReLU's mask, pooling, losses and vector arithmetic too");
        var wideCpu = new AcceleratorDescription(AcceleratorType.CPU, 256, false, "wide CPU");
        Assert.That(Passes(new KernelChoice(wideCpu, tiledOnCpu: true)), Is.All.EqualTo(Cpu),
            "the buffers are host memory, whichever products run");
        foreach (var gpu in new[] { H100, Radeon, SmallGroups })
            Assert.That(Passes(new KernelChoice(gpu)), Is.All.EqualTo(PerElement), gpu.Name);
    }

    /// <summary>
    /// On the CPU, Winograd runs every convolution of VGG-19 at 512 x 512 both ways, F(4x4, 3x3), but conv1_1's
    /// (its 3-channel image: the transforms would cost more than they save), whatever the vector width; the layers
    /// that stay direct pack their weights once.
    /// </summary>
    [Test]
    public void TheCpuRunsWinogradAt512ButConv1_1()
    {
        var rule = new KernelChoice(ProjectCpu);
        var choices = Choices(rule);
        Assert.Multiple(() =>
        {
            Assert.That(choices["conv1_1"], Is.EqualTo((Cpu, Cpu, Cpu, Cpu)));
            Assert.That(choices.Where(c => c.Key != "conv1_1").Select(c => c.Value),
                Is.All.EqualTo((CpuWinograd, CpuWinograd, Cpu, Cpu)));
            var conv3_2 = rule.Conv(Vgg19At512().Single(l => l.Name == "conv3_2").Shape);
            Assert.That((conv3_2.ForwardTile, conv3_2.InputGradientTile), Is.EqualTo((F4, F4)));
            Assert.That(rule.Conv(Vgg19At512().First().Shape).PackedOnce, Is.True);
        });
    }

    /// <summary>
    /// At 64 x 64 (the first scale of a coarse-to-fine run) the rule keeps the deep layers direct, where few tiles
    /// would leave the register tile's panels mostly empty while the transformed filter (alpha^2/9 times the
    /// weights) must still be read: conv5_1 at 4 x 4 pixels at every width, conv4 at 8 x 8 with 32-column panels
    /// (AVX-512; F(2x2) with the narrower panels of AVX2 and 128-bit vectors), F(2x2) or F(4x4) above.
    /// </summary>
    [Test]
    public void AtSmallImagesTheCpuKeepsTheDeepLayersDirect()
    {
        var rule = new KernelChoice(ProjectCpu);
        string Choice(Conv2dShape shape)
        {
            var v = rule.Conv(shape);
            return v.Forward == Cpu ? "direct" : v.ForwardTile.ToString();
        }
        var choices = Vgg19At(64).ToDictionary(l => l.Name, l => Choice(l.Shape));
        bool wide = CpuGemm.Columns == 32;
        Assert.Multiple(() =>
        {
            Assert.That(choices["conv1_1"], Is.EqualTo("direct"));
            Assert.That(new[] { choices["conv1_2"], choices["conv2_1"], choices["conv2_2"] }, Is.All.EqualTo("F4"));
            Assert.That(choices["conv3_2"], Is.EqualTo(wide ? "F2" : "F4"), $"{CpuGemm.Columns}-column panels");
            Assert.That(choices["conv4_2"], Is.EqualTo(wide ? "direct" : "F2"), $"{CpuGemm.Columns}-column panels");
            Assert.That(choices["conv5_1"], Is.EqualTo("direct"));
        });
    }

    /// <summary>
    /// --conv-algorithm winograd runs every product it can (not conv1_1's, nor anything with TF32); on a GPU auto
    /// keeps the tiled kernels (kernel 5 is checked, not timed yet) and winograd moves the products to kernel 5,
    /// F(4x4) where the output is at least 8 x 8.
    /// </summary>
    [Test]
    public void WinogradWhereverItCanRunWhenAsked()
    {
        var cpu = Choices(new KernelChoice(ProjectCpu, algorithm: ConvAlgorithm.Winograd));
        var gpuAuto = Choices(new KernelChoice(H100));
        var gpu = new KernelChoice(H100, algorithm: ConvAlgorithm.Winograd);
        var tf32 = Choices(new KernelChoice(H100, tf32: true, algorithm: ConvAlgorithm.Winograd));
        Assert.Multiple(() =>
        {
            Assert.That(cpu.Where(c => c.Key != "conv1_1").Select(c => c.Value),
                Is.All.EqualTo((CpuWinograd, CpuWinograd, Cpu, Cpu)));
            Assert.That(gpuAuto.Values.Select(c => c.Item1), Is.All.EqualTo(Tiled));
            Assert.That(Choices(gpu)["conv1_1"], Is.EqualTo((Tiled, PerElement, Tiled, Tiled)));
            Assert.That(Choices(gpu).Where(c => c.Key != "conv1_1").Select(c => c.Value),
                Is.All.EqualTo((KernelVariant.Winograd, KernelVariant.Winograd, Tiled, Tiled)));
            Assert.That(gpu.Conv(Conv2dShape.Vgg(512, 4, 4, 512)).ForwardTile, Is.EqualTo(F2));
            Assert.That(gpu.Conv(Conv2dShape.Vgg(512, 32, 32, 512)).ForwardTile, Is.EqualTo(F4));
            Assert.That(tf32.Values.Select(c => c.Item1), Is.All.EqualTo(Tf32));
            Assert.That(Choices(new KernelChoice(SmallGroups, algorithm: ConvAlgorithm.Winograd)).Values,
                Is.All.EqualTo((PerElement, PerElement, PerElement, PerElement)), "no tiled product to batch");
            var strided = new Conv2dShape(64, 32, 32, 64, 3, 3, 1, 2);
            Assert.That(gpu.Conv(strided).Forward, Is.EqualTo(Tiled), "Winograd needs stride 1");
        });
    }

    /// <summary>Explicit variants are completed by the rule: a Winograd direction without a tile gets the rule's,
    /// and a shape Winograd cannot compute is refused.</summary>
    [Test]
    public void ExplicitVariantsAreCompletedOrRefused()
    {
        var rule = new KernelChoice(ProjectCpu);
        var s = Conv2dShape.Vgg(64, 64, 64, 64);
        var completed = rule.Conv(s, new ConvVariants(CpuWinograd, Auto));
        Assert.That(completed, Is.EqualTo(new ConvVariants(CpuWinograd, CpuWinograd, F4, F4)));
        Assert.That(rule.Conv(s, default), Is.EqualTo(rule.Conv(s)));
        Assert.That(() => rule.Conv(new Conv2dShape(64, 32, 32, 64, 3, 3, 1, 2), new ConvVariants(CpuWinograd, Cpu)),
            Throws.ArgumentException.With.Message.Contain("3x3 kernel and stride 1"));
    }

    /// <summary>The rule's choice for each pass over memory.</summary>
    private static KernelVariant[] Passes(KernelChoice rule) =>
    [
        rule.Relu(), rule.MaxPool(), rule.AvgPool(), rule.L2Pool(), rule.Mse(), rule.TotalVariation(), rule.Vectors(),
        rule.Window(), rule.Replicate(), rule.Guide(), rule.TemporalLoss(),
    ];

    [Test]
    public void ACudaGpuRunsTheTiledProductsButConv1_1sInputGradient()
    {
        var choices = Choices(new KernelChoice(H100));
        Assert.Multiple(() =>
        {
            Assert.That(choices["conv1_1"], Is.EqualTo((Tiled, PerElement, Tiled, Tiled)),
                "a 3-channel gradient would idle a 64-channel tile");
            Assert.That(choices.Where(c => c.Key != "conv1_1").Select(c => c.Value),
                Is.All.EqualTo((Tiled, Tiled, Tiled, Tiled)));
        });
    }

    [Test]
    public void Tf32MovesOnlyTheConvolutionsToTensorCores()
    {
        var choices = Choices(new KernelChoice(H100, tf32: true));
        Assert.Multiple(() =>
        {
            Assert.That(choices["conv1_1"], Is.EqualTo((Tf32, PerElement, Tiled, Tiled)));
            Assert.That(choices.Where(c => c.Key != "conv1_1").Select(c => c.Value),
                Is.All.EqualTo((Tf32, Tf32, Tiled, Tiled)));
        });
    }

    [Test]
    public void AnOpenClGpuRunsWhatACudaGpuRunsWithoutTf32()
    {
        Assert.That(Choices(new KernelChoice(Radeon)), Is.EquivalentTo(Choices(new KernelChoice(H100))));
        Assert.That(Choices(new KernelChoice(SmallGroups)).Values, Is.All.EqualTo((PerElement, PerElement, PerElement,
            PerElement)), "without 256-thread groups a GPU runs one thread per element");
    }

    [Test]
    public void Tf32IsRefusedInOneLineWhereItCannotRun()
    {
        foreach (var description in new[] { V100, ProjectCpu, SmallGroups })
        {
            var error = Assert.Throws<DeviceSelectionException>(() => _ = new KernelChoice(description, tf32: true));
            Assert.That(error!.Message, Does.StartWith("--tf32 needs an NVIDIA GPU of compute capability 8.0")
                .And.Contain(description.Name).And.Not.Contain("\n"));
        }
    }

    [Test]
    public void AnInputGradientWithoutATransposedFormRunsPerElementOnAGpu()
    {
        var strided = new Conv2dShape(64, 32, 32, 64, 3, 3, 1, 2);
        Assert.That(new KernelChoice(H100).ConvInputGradient(strided), Is.EqualTo(PerElement));
        Assert.That(new KernelChoice(H100).ConvForward(strided), Is.EqualTo(Tiled));
    }

    [Test]
    public void ADeviceIsDescribedWithoutAnAccelerator()
    {
        using var context = Devices.CreateContext();
        var device = Devices.Select(context, "cpu");
        var fromDevice = AcceleratorDescription.Of(device);
        using var accelerator = device.CreateAccelerator(context);
        Assert.That(fromDevice, Is.EqualTo(AcceleratorDescription.Of(accelerator)));
        Assert.That(fromDevice.Type, Is.EqualTo(AcceleratorType.CPU));
    }

    /// <summary>
    /// Auto in a launcher is the rule's choice: given a GPU's rule, the project's CPU accelerator is
    /// sent to the tiled kernels, which its 2-thread groups cannot run (so they refuse, launching nothing).
    /// </summary>
    [Test]
    public void AutoInEveryLauncherFollowsTheRule()
    {
        using var own = OwnAccelerator.ProjectCpu();
        using var kernels = new KernelSet(own.Accelerator, new KernelChoice(H100));
        var s = Conv2dShape.Vgg(16, 5, 7, 16);
        var g = GramShape.Of(s.Output);
        using var buffer = own.Accelerator.Allocate1D<float>(4096);
        using var transposed = own.Accelerator.Allocate1D<float>(s.WeightLength);
        ILGPU.ArrayView<float> View(int length) => buffer.View.SubView(0, length);
        var weights = kernels.Conv.Prepare(s, View(s.WeightLength), View(16), _ => transposed.View);
        Assert.Multiple(() =>
        {
            Assert.That(weights.Variants, Is.EqualTo(new ConvVariants(Tiled, Tiled)));
            Assert.That(weights.Transposed.Length, Is.EqualTo(s.WeightLength), "the tiled gradient reads W'");
            Assert.That(() => kernels.Conv.Forward(View(s.Output.Length), default, View(s.Input.Length), weights,
                fuseRelu: true), Throws.TypeOf<NotSupportedException>().With.Message.Contain("tiled convolution"));
            Assert.That(() => kernels.Conv.BackwardInput(View(s.Input.Length), View(s.Output.Length), weights),
                Throws.TypeOf<NotSupportedException>().With.Message.Contain("tiled convolution"));
            Assert.That(() => kernels.Gram.Forward(View(g.GramLength), View(g.FeatureLength), g, 1f),
                Throws.TypeOf<NotSupportedException>().With.Message.Contain("tiled Gram"));
        });
    }
}

/// <summary>Layer names and blocks come from <see cref="VggArchitecture"/> alone.</summary>
public sealed class VggArchitectureTests
{
    [Test]
    public void NamesAndBlocksFollowEachOther()
    {
        var vgg19 = VggArchitecture.Vgg19;
        Assert.Multiple(() =>
        {
            Assert.That(vgg19.ReluName("conv4_2"), Is.EqualTo("relu4_2"));
            Assert.That(vgg19.ConvName("relu4_2"), Is.EqualTo("conv4_2"));
            Assert.That(vgg19.Block("conv3_4"), Is.EqualTo(3));
            Assert.That(vgg19.Block("relu5_1"), Is.EqualTo(5));
            Assert.That(VggArchitecture.PoolName(2), Is.EqualTo("pool2"));
            Assert.That(vgg19.ReluNames, Has.Count.EqualTo(16));
            Assert.That(vgg19.ReluNames[0], Is.EqualTo("relu1_1"));
            Assert.That(vgg19.Deepest(["relu5_1", "relu1_1", "relu4_2"]), Is.EqualTo("relu5_1"));
            Assert.That(vgg19.Deepest(["relu3_4", "relu3_2"]), Is.EqualTo("relu3_4"));
            Assert.That(() => VggArchitecture.Vgg16.Block("conv3_4"),
                Throws.ArgumentException.With.Message.Contain("vgg16 has no layer"));
        });
    }

    [Test]
    public void AnUnknownLayerNameIsOneLineThatListsTheLayers()
    {
        var error = Assert.Throws<IlgpuStyle.Network.StyleSetupException>(
            () => VggArchitecture.Vgg16.CheckReluName("relu3_4", "style"));
        Assert.That(error!.Message,
            Does.StartWith("Unknown style layer 'relu3_4': the layers are relu1_1, relu1_2, relu2_1")
            .And.EndWith("relu5_3.").And.Not.Contain("\n"));
        Assert.DoesNotThrow(() => VggArchitecture.Vgg16.CheckReluName("relu3_3", "style"));
    }
}
