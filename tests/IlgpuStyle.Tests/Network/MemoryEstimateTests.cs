using IlgpuStyle.Network;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The up-front memory estimate (what the console checks before a run) equals the peak the
/// objective really allocates, so "needs about X, --size N fits" is a promise, not a guess.
/// </summary>
public sealed class MemoryEstimateTests(DeviceKind kind) : AcceleratorFixture(kind)
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new StyleOptions(), 1).SetArgDisplayNames("defaults, one style");
        yield return new TestCaseData(new StyleOptions { Pooling = Pooling.Avg, NormalizeGradients = true }, 2)
            .SetArgDisplayNames("avg, normalized, two styles");
        yield return new TestCaseData(new StyleOptions { StyleWeight = 0f }, 1).SetArgDisplayNames("content only");
        var shallow = new StyleOptions { ContentLayers = ["relu1_2"], StyleLayers = ["relu1_1", "relu3_2"] };
        yield return new TestCaseData(shallow, 1)
            .SetArgDisplayNames("shallow layers");
        yield return new TestCaseData(new StyleOptions { ContentWeight = 0f, StyleWeight = 0f }, 1)
            .SetArgDisplayNames("tv only");
    }

    [TestCaseSource(nameof(Cases))]
    public void EstimateEqualsThePeakTheObjectiveAllocates(StyleOptions options, int styleCount)
    {
        var weights = TinyVgg.Create();
        var content = TinyVgg.Image(21, 18, seed: 50);
        var styles = new[] { TinyVgg.Image(26, 20, seed: 51), TinyVgg.Image(16, 30, seed: 52) }
            .Take(styleCount).ToList();
        long estimate = MemoryEstimate.ObjectiveBytes(weights, content.Shape, styles.Select(s => s.Shape).ToList(),
            options, Kernels.Choice);
        using var objective = new StyleObjective(Kernels, weights, content, styles, options);
        Assert.That(estimate, Is.EqualTo(objective.Memory.PeakBytes));
    }
}
