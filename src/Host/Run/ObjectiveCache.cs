using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// A batch's objective, handed from one image to the next: when the next image's plan is the same
/// (<see cref="ObjectivePlan.SameAs"/>: shapes, loss, tiles) and its style images are the same values, the objective
/// takes the new content (<see cref="IStyleObjective.ReplaceContent"/>) and keeps its buffers and style targets,
/// instead of being freed and built again. The result is the same to the bit (TemporalObjectiveTests), so whether an
/// image reused the objective never shows in its output.
/// </summary>
internal sealed class ObjectiveCache : IDisposable
{
    private IStyleObjective? _held;
    private IReadOnlyList<NetworkImage> _styles = [];

    /// <summary>How many images took the objective of the image before.</summary>
    public int Reused { get; private set; }

    /// <summary>
    /// The objective for <paramref name="plan"/> and <paramref name="images"/>: the one held, given the new content,
    /// when it serves; else a new one (the one held freed first, so the two are never allocated together). The
    /// caller owns it until it gives it back with <see cref="Keep"/>.
    /// </summary>
    public IStyleObjective Take(ObjectivePlan plan, KernelSet kernels, VggWeights weights, ObjectiveImages images)
    {
        var held = _held;
        _held = null;
        if (held is not null && images.Regions is null && plan.ContentReplaceable && held.Plan.SameAs(plan)
            && SameStyles(images.Styles))
        {
            try
            {
                if (images.Content is { } content) held.ReplaceContent(content);
            }
            catch
            {
                held.Dispose();
                throw;
            }
            Reused++;
            return held;
        }
        held?.Dispose();
        return StyleObjectives.Create(plan, kernels, weights, images);
    }

    /// <summary>Holds <paramref name="objective"/>, built from <paramref name="styles"/>, for the next image (the
    /// one held before is freed).</summary>
    public void Keep(IStyleObjective objective, IReadOnlyList<NetworkImage> styles)
    {
        if (!ReferenceEquals(_held, objective)) _held?.Dispose();
        _held = objective;
        _styles = styles;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _held?.Dispose();
        _held = null;
    }

    private bool SameStyles(IReadOnlyList<NetworkImage> styles) =>
        styles.Count == _styles.Count && styles.Zip(_styles).All(pair =>
            pair.First.Shape == pair.Second.Shape && pair.First.Data.AsSpan().SequenceEqual(pair.Second.Data));
}
