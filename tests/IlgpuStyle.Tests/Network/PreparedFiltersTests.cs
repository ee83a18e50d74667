using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The filters the convolutions read prepared (<see cref="PreparedFilters"/>): made once for every network and scale
/// that reads them, held exactly as the plan counts them, and read as the network would have made them itself.
/// </summary>
public sealed class PreparedFiltersTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    /// <summary>
    /// Two scales of a coarse-to-fine run: the second keeps every filter the first made that it reads (none is made
    /// again), frees the others and makes only its new ones; at each scale the store holds the plan's filters, byte
    /// for byte; and an objective reading the run's filters evaluates to the same bits as one that made its own.
    /// </summary>
    [Test]
    public void EachFilterIsMadeOnceAndReadAsTheNetworkWouldMakeIt()
    {
        var weights = TinyVgg.Create();
        var options = new StyleOptions();
        var style = TinyVgg.Image(30, 26, seed: 61);
        ObjectivePlan PlanAt(int height, int width) =>
            Objectives.Plan(weights, Kernels.Choice, new ChwShape(3, height, width), [style.Shape], options);
        var small = PlanAt(20, 24);
        var large = PlanAt(96, 88);
        Assume.That(small.Filters, Is.Not.Empty, "the rule prepares no filter on this device");
        using var memory = new DeviceMemory(Accelerator);
        var filters = new PreparedFilters(Kernels, weights, memory);

        filters.Hold(small);
        Assert.That(filters.Made, Is.EqualTo(small.Filters.Count));
        Assert.That(filters.Bytes, Is.EqualTo(sizeof(float) * small.Filters.Sum(f => f.Floats)));
        filters.Hold(large);
        int added = large.Filters.Count(f => !small.Filters.Any(s => s.Layer == f.Layer && s.Key == f.Key));
        Assert.That(filters.Made, Is.EqualTo(small.Filters.Count + added), "each made once");
        Assert.That(filters.Bytes, Is.EqualTo(sizeof(float) * large.Filters.Sum(f => f.Floats)));
        Assert.That(memory.CurrentBytes, Is.EqualTo(filters.Bytes), "the stale ones freed");

        var content = TinyVgg.Image(96, 88, seed: 62);
        var x = TinyVgg.Image(96, 88, seed: 63);
        var images = new ObjectiveImages(content, [style]);
        using var shared = StyleObjectives.Create(large, Kernels, weights, images, filters);
        using var own = StyleObjectives.Create(large, Kernels, weights, images);
        Assert.That(shared.Memory.PeakBytes + filters.Bytes, Is.EqualTo(large.Memory!.Total),
            "the plan counts the run's filters in the objective's weights");
        Assert.That(own.Memory.PeakBytes, Is.EqualTo(large.Memory!.Total));
        var (sharedGradient, sharedLosses, _) = DeviceEvaluation.Of(Accelerator, shared, x);
        var (ownGradient, ownLosses, _) = DeviceEvaluation.Of(Accelerator, own, x);
        Assert.That(sharedLosses.Total, Is.EqualTo(ownLosses.Total));
        Assert.That(sharedGradient, Is.EqualTo(ownGradient));
    }

    /// <summary>A plan of other weights, and a network of a plan the filters do not hold, are refused.</summary>
    [Test]
    public void FiltersServeTheirWeightsAndTheirPlanOnly()
    {
        var weights = TinyVgg.Create();
        var other = TinyVgg.Create(seed: 8);
        var style = TinyVgg.Image(30, 26, seed: 61);
        var plan = Objectives.Plan(other, Kernels.Choice, new ChwShape(3, 40, 40), [style.Shape],
            new StyleOptions());
        using var memory = new DeviceMemory(Accelerator);
        var filters = new PreparedFilters(Kernels, weights, memory);
        Assert.That(() => filters.Hold(plan), Throws.ArgumentException.With.Message.Contains("other weights"));
        var mine = Objectives.Plan(weights, Kernels.Choice, new ChwShape(3, 40, 40), [style.Shape],
            new StyleOptions());
        Assume.That(mine.Filters, Is.Not.Empty, "the rule prepares no filter on this device");
        var content = TinyVgg.Image(40, 40, seed: 62);
        Assert.That(() => StyleObjectives.Create(mine, Kernels, weights, new ObjectiveImages(content, [style]),
            filters), Throws.InvalidOperationException.With.Message.Contains("No prepared filter"));
    }

    /// <summary>
    /// A network uploads W only for the layers where a direction reads it (<see cref="Conv2d.ReadsWeight"/>), and its
    /// plan counts exactly that: on the CPU, where every direction reads a filter made once per run, no layer's W
    /// (VGG-19's would be 49 MiB written into fresh memory for each of a scale's two networks); with
    /// <c>--conv-algorithm direct</c>, every layer's.
    /// </summary>
    [Test]
    public void ANetworkHoldsWOnlyWhereADirectionReadsIt()
    {
        var weights = TinyVgg.Create();
        string[] layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];
        var plan = NetworkPlan.Build(weights, 40, 36, Pooling.Max, layers, Kernels.Choice);
        var convs = plan.Layers.Where(l => l.Conv is not null).ToList();
        using var memory = new DeviceMemory(Accelerator);
        var filters = new PreparedFilters(Kernels, weights, memory);
        filters.Hold(plan.Filters());
        long filterBytes = memory.CurrentBytes;
        _ = new VggNetwork(Kernels, memory, weights, plan, filters);
        Assert.That(memory.PeakBytes - filterBytes, Is.EqualTo(plan.DeviceBytes()), "allocated as planned");
        long read = convs.Where(l => Conv2d.ReadsWeight(l.Conv!.Value, l.Kernels))
            .Sum(l => sizeof(float) * l.Conv!.Value.WeightLength);
        Assert.That(plan.WeightBytes(), Is.EqualTo(read + convs.Sum(l => sizeof(float) *
            (l.Conv!.Value.OutChannels + Conv2d.TransposedFloats(l.Conv!.Value, l.Kernels)))));
        if (Kind == DeviceKind.Cpu) Assert.That(read, Is.Zero, "every direction reads its own filter on the CPU");
        var direct = NetworkPlan.Build(weights, 40, 36, Pooling.Max, layers,
            new KernelChoice(Kernels.Choice.Accelerator, algorithm: ConvAlgorithm.Direct));
        Assert.That(direct.Layers.Where(l => l.Conv is not null).Select(l => Conv2d.ReadsWeight(l.Conv!.Value,
            l.Kernels)), Is.All.True, "the direct path reads W itself");
    }

    /// <summary>
    /// The filter transform written straight into a kernel's layout is <see cref="Winograd.TransformFilter"/>'s
    /// double-precision U rounded once, to the bit, in kernel 6's strips (21 rows: a partial strip, padded with
    /// zeros; of 6 and 8 rows, whichever this processor's registers pick, since the transform's lanes run across a
    /// strip's columns) and kernel 5's plain layout, both tiles and both directions.
    /// </summary>
    [Test]
    public unsafe void TheWrittenFilterIsTheDoubleTransformRoundedOnce()
    {
        var s = Conv2dShape.Vgg(5, 1, 1, 21);
        var weight = Array.ConvertAll(TestData.Uniform(new Random(3), s.WeightLength), v => (float)v);
        foreach (var tile in new[] { WinogradTile.F2, WinogradTile.F4 })
        foreach (bool inputGradient in new[] { false, true })
        foreach (int height in new[] { 1, 6, 8 })
        {
            var u = Winograd.TransformFilter(Array.ConvertAll(weight, v => (double)v), s, tile, inputGradient);
            int rows = inputGradient ? s.InChannels : s.OutChannels, columns = inputGradient ? s.OutChannels
                : s.InChannels;
            int strips = (rows + height - 1) / height, points = Winograd.Points(tile);
            var written = new float[points * strips * height * columns];
            Array.Fill(written, float.NaN);
            fixed (float* filter = written)
                Winograd.WriteFilter(filter, weight, s, tile, inputGradient, height, Kernels.Host);
            var expected = new float[written.Length];
            for (int xi = 0; xi < points; xi++)
            for (int row = 0; row < strips * height; row++)
            for (int column = 0; column < columns; column++)
            {
                expected[((xi * strips + row / height) * columns + column) * height + row % height] =
                    row < rows ? (float)u[((long)xi * rows + row) * columns + column] : 0f;
            }
            Assert.That(written, Is.EqualTo(expected), $"{tile}, input gradient {inputGradient}, height {height}");
        }
    }
}
