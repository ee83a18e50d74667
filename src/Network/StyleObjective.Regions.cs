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
/// left out; <see cref="OmittedRegionTerms"/> names them. Its buffers are allocated all the same,
/// so the device memory depends on the shapes alone (<see cref="MemoryEstimate"/>).
/// </remarks>
public sealed partial class StyleObjective
{
    private readonly int _regionCount;
    private readonly List<string> _omittedRegionTerms = [];
    private bool[,]? _styleGuideEmpty; // [region, style layer] the style image's guide is zero there

    /// <summary>The region terms left out because a guide is zero everywhere at that layer, e.g.
    /// <c>region 2 at relu5_1</c>; empty without regions.</summary>
    public IReadOnlyList<string> OmittedRegionTerms => _omittedRegionTerms;

    /// <summary>How <see cref="OmittedRegionTerms"/> names a term (region from 0).</summary>
    private static string RegionTerm(int region, string layer) => $"region {region + 1} at {layer}";

    private static void CheckRegions(StyleRegions? regions, NetworkImage content, IReadOnlyList<NetworkImage> styles,
        StyleOptions options)
    {
        if (regions is null) return;
        if (regions.Count != styles.Count || regions.Styles.Count != styles.Count)
        {
            throw new StyleSetupException($"There are {styles.Count} style images but {regions.Count} regions: " +
                                          "each region is painted in its own style image.");
        }
        if (options.StyleBlendWeights is not null)
            throw new StyleSetupException("Style blend weights mean nothing with regions: each paints its own style.");
        for (int r = 0; r < regions.Count; r++)
        {
            var guide = regions.Content[r];
            if (guide.Height != content.Shape.Height || guide.Width != content.Shape.Width)
            {
                throw new StyleSetupException($"Region {r + 1}'s guide is {guide.Width}x{guide.Height} but the " +
                                              $"content image is {content.Shape.Width}x{content.Shape.Height}.");
            }
            if (regions.Styles[r] is { } style &&
                (style.Height != styles[r].Shape.Height || style.Width != styles[r].Shape.Width))
            {
                throw new StyleSetupException($"Region {r + 1}'s style guide is {style.Width}x{style.Height} but " +
                                              $"its style image is {styles[r].Shape.Width}x{styles[r].Shape.Height}.");
            }
        }
    }

    /// <summary>
    /// <c>A^r_l</c>, the guided Gram of style image r at each style layer, in buffers kept for the
    /// run ([region][layer]); each style image through a temporary network of its own size, freed
    /// after use, as the blended targets are captured.
    /// </summary>
    private List<MemoryBuffer1D<float, Stride1D.Dense>[]> CaptureRegionTargets(KernelSet kernels, VggWeights weights,
        IReadOnlyList<NetworkImage> styles, IReadOnlyList<string> styleLayers, Pooling pooling, StyleRegions regions)
    {
        var targets = Enumerable.Range(0, regions.Count)
            .Select(_ => styleLayers.Select(l => Memory.Floats(GramLength(weights, l))).ToArray()).ToList();
        _styleGuideEmpty = new bool[regions.Count, styleLayers.Count];
        for (int r = 0; r < regions.Count; r++)
        {
            using var scope = Memory.Scope();
            var network = BuildNetwork(kernels, Memory, weights, styles[r].Shape, styleLayers, pooling);
            var input = Memory.Upload(styles[r].Data);
            network.Forward(input.View, new Tape());
            var guides = regions.Styles[r] is { } pixels
                ? RegionGuides.AtLayers(pixels, weights, styleLayers, regions.Mode)
                : null;
            var scratch = guides is null ? null : Memory.Floats(styleLayers.Max(l => network.OutputShape(l).Length));
            for (int i = 0; i < styleLayers.Count; i++)
            {
                var activation = network.Activation(styleLayers[i]);
                var shape = GramShape.Of(activation.Shape);
                if (guides is null)
                {
                    kernels.Gram.Forward(targets[r][i].View, activation.View, shape,
                        StyleLoss.GramScale(activation.Shape));
                    continue;
                }
                var guide = RegionGuides.ToFloat(guides[styleLayers[i]]);
                var deviceGuide = Memory.Upload(guide);
                float scale = RegionGuides.GramScale(shape.Channels, guide);
                _styleGuideEmpty[r, i] = scale == 0;
                var guided = scratch!.View.SubView(0, shape.FeatureLength);
                kernels.Guide.Forward(guided, activation.View, deviceGuide.View, shape, squared: false);
                kernels.Gram.Forward(targets[r][i].View, guided, shape, scale);
            }
            kernels.Accelerator.Synchronize(); // the scope frees the style network's buffers next
        }
        return targets;
    }

    /// <summary>
    /// A guided <see cref="StyleLoss"/> per region and style layer, over one scratch buffer the size of
    /// the largest style activation, each adding into its region's scalar; terms with an empty guide
    /// are built but not attached.
    /// </summary>
    private void AddRegionTaps(KernelSet kernels, VggWeights weights, IReadOnlyList<string> styleLayers,
        IReadOnlyList<float> layerWeights, StyleRegions regions, List<MemoryBuffer1D<float, Stride1D.Dense>[]> targets,
        GradientNormalizer? normalizer)
    {
        var network = _network!;
        var scratch = Memory.Floats(styleLayers.Max(l => network.OutputShape(l).Length)).View;
        for (int r = 0; r < regions.Count; r++)
        {
            var guides = RegionGuides.AtLayers(regions.Content[r], weights, styleLayers, regions.Mode);
            for (int i = 0; i < styleLayers.Count; i++)
            {
                var shape = network.Activation(styleLayers[i]).Shape;
                var guide = RegionGuides.ToFloat(guides[styleLayers[i]]);
                float scale = RegionGuides.GramScale(shape.Channels, guide);
                var tap = new StyleLoss(styleLayers[i], shape, kernels, Memory, targets[r][i].View,
                    _scalars.View.SubView(4 + r, 1), layerWeights[i], normalizer,
                    new StyleGuide(Memory.Upload(guide).View, scale, scratch));
                if (scale == 0 || _styleGuideEmpty![r, i])
                    _omittedRegionTerms.Add(RegionTerm(r, styleLayers[i]));
                else
                    network.AddTap(tap);
            }
        }
    }

    /// <summary>L_s = the sum of the regions' style losses (nothing to do without regions).</summary>
    private void SumRegionLosses()
    {
        var style = _scalars.View.SubView(2, 1);
        for (int r = 0; r < _regionCount; r++)
            _kernels.Vectors.Scalar(style, style, ScalarOp.Add, _scalars.View.SubView(4 + r, 1));
    }
}
