using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Tests.Support;

/// <summary>Objectives as a run makes them: the loss planned once, the plan for the images' shapes, then the
/// objective built from it.</summary>
internal static class Objectives
{
    /// <summary>The plan of <paramref name="options"/> for a content image of shape <paramref name="content"/> and
    /// style images of shapes <paramref name="styles"/>.</summary>
    public static ObjectivePlan Plan(VggWeights weights, KernelChoice kernels, ChwShape content,
        IReadOnlyList<ChwShape> styles, StyleOptions options, int? tileCore = null, RegionLayout? regions = null,
        ObjectiveKind kind = ObjectiveKind.Content, bool luminance = false) =>
        ObjectivePlan.Build(LossPlan.Build(weights, options, styles.Count, kind, regions, luminance), weights,
            kernels, content, styles, tileCore);

    /// <summary>The objective of <paramref name="options"/> for these images (luminance-only: grey network
    /// inputs), planned and built.</summary>
    public static IStyleObjective Create(KernelSet kernels, VggWeights weights, NetworkImage content,
        IReadOnlyList<NetworkImage> styles, StyleOptions options, int? tileCore = null, StyleRegions? regions = null,
        bool luminance = false) =>
        StyleObjectives.Create(Plan(weights, kernels.Choice, content.Shape, styles.Select(s => s.Shape).ToList(),
            options, tileCore, regions?.Layout, luminance: luminance), kernels, weights,
            new ObjectiveImages(content, styles, regions));
}
