using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// Regions (Gatys et al. 2017, sec. 4; SPEC.md, "Regions"): region r is painted in style image r.
/// Its targets are the guided Grams of style image r (its style guide, or all of it), its loss a guided
/// <see cref="StyleLoss"/> per style layer adding into its own device scalar, and the style
/// loss the sum of the regions' scalars.
/// </summary>
/// <remarks>
/// A term whose guide is zero everywhere at a layer (in the content or in the style image: an
/// "inside" guide eroded away at a deep layer of a small region) has no Gram to compare and is
/// left out; <see cref="StyleObjective.OmittedRegionTerms"/> names them. Its buffers are allocated all the same,
/// so the device memory depends on the shapes alone (<see cref="ObjectivePlan"/>).
/// </remarks>
internal sealed partial class WholeImageObjective
{
    private bool[,]? _styleGuideEmpty; // [region, style layer] the style image's guide is zero there

    /// <summary>
    /// <c>A^r_l</c>, the guided Gram of style image r at each style layer, in buffers kept for the
    /// run ([region][layer]); each style image through a temporary network of its own size, freed
    /// after use, as the blended targets are captured.
    /// </summary>
    private List<MemoryBuffer1D<float, Stride1D.Dense>[]> CaptureRegionTargets(VggWeights weights,
        IReadOnlyList<NetworkImage> styles, StyleRegions regions)
    {
        var layers = Plan.Loss.Style;
        var names = layers.Select(l => l.Name).ToList();
        var targets = Enumerable.Range(0, regions.Count)
            .Select(_ => layers.Select(l => Memory.Floats(l.GramLength)).ToArray()).ToList();
        _styleGuideEmpty = new bool[regions.Count, layers.Count];
        for (int r = 0; r < regions.Count; r++)
        {
            using var scope = Memory.Scope();
            var network = Network(weights, Plan.StyleNetworks[r]);
            var input = Memory.Upload(styles[r].Data);
            network.Forward(input.View, new Tape());
            var guides = regions.Styles[r] is { } pixels
                ? RegionGuides.AtLayers(pixels, weights, names, regions.Mode)
                : null;
            var scratch = guides is null ? null : Memory.Floats(names.Max(l => network.OutputShape(l).Length));
            for (int i = 0; i < layers.Count; i++)
            {
                var activation = network.Activation(names[i]);
                var shape = GramShape.Of(activation.Shape);
                if (guides is null)
                {
                    Kernels.Gram.Forward(targets[r][i].View, activation.View, shape,
                        StyleLoss.GramScale(activation.Shape));
                    continue;
                }
                var guide = RegionGuides.ToFloat(guides[names[i]]);
                var deviceGuide = Memory.Upload(guide);
                float scale = RegionGuides.GramScale(shape.Channels, guide);
                _styleGuideEmpty[r, i] = scale == 0;
                var guided = scratch!.View.SubView(0, shape.FeatureLength);
                Kernels.Guide.Forward(guided, activation.View, deviceGuide.View, shape, squared: false);
                Kernels.Gram.Forward(targets[r][i].View, guided, shape, scale);
            }
            Kernels.Accelerator.Synchronize(); // the scope frees the style network's buffers next
        }
        return targets;
    }

    /// <summary>
    /// A guided <see cref="StyleLoss"/> per region and style layer, over one scratch buffer the size of
    /// the largest style activation, each adding into its region's scalar; terms with an empty guide
    /// are built but not attached.
    /// </summary>
    private void AddRegionTaps(VggWeights weights, StyleRegions regions,
        List<MemoryBuffer1D<float, Stride1D.Dense>[]> targets, GradientNormalizer? normalizer)
    {
        var network = _network!;
        var layers = Plan.Loss.Style;
        var names = layers.Select(l => l.Name).ToList();
        var scratch = Memory.Floats(names.Max(l => network.OutputShape(l).Length)).View;
        for (int r = 0; r < regions.Count; r++)
        {
            var guides = RegionGuides.AtLayers(regions.Content[r], weights, names, regions.Mode);
            for (int i = 0; i < layers.Count; i++)
            {
                var shape = network.Activation(names[i]).Shape;
                var guide = RegionGuides.ToFloat(guides[names[i]]);
                float scale = RegionGuides.GramScale(shape.Channels, guide);
                var tap = new StyleLoss(names[i], shape, Kernels, Memory, targets[r][i].View, StyleScalar(r),
                    layers[i].Weight, normalizer, new StyleGuide(Memory.Upload(guide).View, scale, scratch));
                if (scale == 0 || _styleGuideEmpty![r, i]) Omit(r, names[i]);
                else network.AddTap(tap);
            }
        }
    }
}
