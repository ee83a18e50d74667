using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// Where an objective is built from its plan: the one place that knows the forms (<see cref="WholeImageObjective"/>,
/// <see cref="TiledObjective"/>, <see cref="LuminanceObjective"/>), so that the plan does not, and a run holds an
/// <see cref="IStyleObjective"/> without asking which form it is.
/// </summary>
public static class StyleObjectives
{
    /// <summary>
    /// Builds the objective <paramref name="plan"/> describes, capturing every target: the whole-image or the
    /// tiled form, and luminance-only the replication around it.
    /// </summary>
    /// <param name="plan">What to compute and allocate.</param>
    /// <param name="kernels">The kernels (their choice should be the one planned with).</param>
    /// <param name="weights">The network's weights, of the planned shapes.</param>
    /// <param name="images">The images at this plan's sizes (luminance-only: grey network inputs).</param>
    /// <param name="filters">A run's prepared filters of <paramref name="weights"/>, holding the plan's
    /// (<see cref="PreparedFilters.Hold(ObjectivePlan)"/>); null: the objective makes its own.</param>
    /// <exception cref="StyleSetupException">Images that do not match the plan, an image too small for the
    /// deepest layer, a tensor past 2^31 elements.</exception>
    public static IStyleObjective Create(ObjectivePlan plan, KernelSet kernels, VggWeights weights,
        ObjectiveImages images, PreparedFilters? filters = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(images);
        if (!plan.Indexable)
        {
            throw new StyleSetupException($"A {plan.Input.Width}x{plan.Input.Height} image makes tensors of more " +
                                          "than 2^31 elements, which the kernels cannot index: evaluate it in tiles.");
        }
        plan.CheckImages(images);
        var memory = new DeviceMemory(kernels.Accelerator);
        try
        {
            StyleObjective rgb = plan.Tiles is null
                ? new WholeImageObjective(kernels, plan, memory, weights, images, filters)
                : new TiledObjective(kernels, plan, memory, weights, images, filters);
            return plan.Loss.Luminance ? new LuminanceObjective(kernels, plan, rgb) : rgb;
        }
        catch
        {
            memory.Dispose(); // every buffer allocated before the failure
            throw;
        }
    }

}
